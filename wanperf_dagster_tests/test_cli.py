"""The `wanperf` command end to end (subprocesses, the built-in simulator, a real Redis)."""

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.storage]


def run(args, redis_url, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("MIST_")}
    full = {**base, "WANPERF_REDIS_URL": redis_url, "WANPERF_SIM_SITES": "12", **env}
    return subprocess.run(
        [sys.executable, "-m", "wanperf_dagster.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def test_sweep_then_status(redis_url, redis_client):
    out = run(["sweep", "--page-limit", "20"], redis_url)
    assert out.returncode == 0, out.stderr
    assert "from the built-in simulator" in out.stdout
    assert "page    1:" in out.stdout and "budget left" in out.stdout
    assert out.stdout.strip().splitlines()[-1].startswith("done: sweep ")
    status = run(["status"], redis_url)
    assert status.returncode == 0, status.stderr
    assert "finished" in status.stdout and "cache: 12 sites" in status.stdout
    assert "calls left this hour" in status.stdout


def test_errors_are_one_clear_line(redis_url):
    out = run(
        ["sweep"],
        redis_url,
        MIST_API_TOKEN="tok-very-secret",
        MIST_HOST="http://127.0.0.1:9",
        MIST_ORG_ID="o1",
    )
    assert out.returncode == 2
    assert out.stderr.startswith("wanperf: GET /api/v1/orgs/o1/stats/ports/search failed")
    assert "Traceback" not in out.stderr and "tok-very-secret" not in out.stderr + out.stdout


def test_help_has_examples():
    out = subprocess.run(
        [sys.executable, "-m", "wanperf_dagster.cli", "sweep", "--help"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "examples:" in out.stdout
