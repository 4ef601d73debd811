"""Stopping the processes a test started, whatever the machine's load."""

from __future__ import annotations

import signal
import subprocess


def keep_sigterm_a_stop() -> None:
    """Dagster maps SIGTERM to whatever SIGINT's handler is each time it captures interrupts
    (`dagster._utils.interrupts`, in every in-process run) and leaves it so. A shell that starts
    the tests in the background (`make test &`, a CI runner) starts them with SIGINT ignored: SIGTERM
    then ended up ignored in the test process and in every process it started afterwards, and a
    simulator outlived `terminate()`. With Python's own SIGINT handler, SIGTERM stays a stop."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`: a test's teardown ends the
    process without failing the test on how long a loaded machine takes to reap it (two CI runs
    at once here saw a simulator outlive SIGTERM: `keep_sigterm_a_stop`)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
