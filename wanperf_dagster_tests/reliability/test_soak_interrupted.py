"""A soak stopped with SIGTERM (`kill`, a CI's timeout) stops what it started: its daemon, run
workers, code servers, embedded Valkey and webhook receiver. Before, SIGTERM ended the driver
alone and left them running, and busy, behind it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bench.backfill import _descendants

from .soak_run import PROJECT

pytestmark = [pytest.mark.dagster, pytest.mark.integration]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _started_by(soak: int, home: str) -> list[int]:
    """The soak's descendants, and its Valkey: that one detaches, but runs in the soak's data
    directory (under `home`)."""
    detached = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd").startswith(home):
                    detached.append(int(entry))
            except OSError:
                continue
    return sorted(set(_descendants([soak])[1:]) | set(detached))


def test_sigterm_stops_everything_the_soak_started(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANPERF_TEST_")}
    env["TMPDIR"] = str(tmp_path)  # the soak's directory, and so its Valkey's, under tmp_path
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "soak", "--days", "2", "--sites", "4"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started: list[int] = []
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            started = _started_by(proc.pid, str(tmp_path))
            # `dagster-daemon run`, or `wanperf daemon` with the backfill wake patched in
            if any("daemon" in _cmdline(p) for p in started):
                break
            time.sleep(1)
        assert proc.poll() is None, "the soak ended before its daemon started"
        assert any("valkey" in _cmdline(p) for p in started), [_cmdline(p) for p in started]
        time.sleep(5)  # the daemon's own processes (its code server) under way too
        started = _started_by(proc.pid, str(tmp_path))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) != 0
        deadline = time.time() + 30
        while time.time() < deadline and any(_alive(p) for p in started):
            time.sleep(0.5)
        left = {p: _cmdline(p)[:120] for p in started if _alive(p)}
        assert left == {}, left
    finally:
        for pid in [proc.pid, *started]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
