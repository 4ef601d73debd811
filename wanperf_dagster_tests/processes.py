"""Stopping the processes a test started, whatever the machine's load."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`: a test's teardown ends the
    process without failing the test on how long a loaded machine takes to reap it (two CI runs
    at once here saw a simulator outlive SIGTERM by 10 s)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
