"""CI's compatibility passes (another server: Redis 7, a cluster) run the storage tests that reach
that server and the Dagster tests; a storage test that never asks for the server would only
repeat what `make test` ran, and is left out of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
COMPAT = "(storage or dagster) and not browser and not groundtruth"
ON_ITS_SERVER = "wanperf_dagster_tests/store/test_bulk.py::test_pipelines_use_few_round_trips"
NO_SERVER = "wanperf_dagster_tests/store/test_bulk.py::test_codec_roundtrip_is_compressed"
DAGSTER = "wanperf_dagster_tests/defs/test_backfill.py::test_chunked_backfill_materializes_every_partition[none]"


def collected(**env: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:xdist", "-m", COMPAT],
        cwd=PROJECT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("WANPERF_TEST_REDIS")},
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return {line.strip() for line in out.stdout.splitlines() if "::" in line}


def test_a_compatibility_pass_leaves_out_what_does_not_reach_its_server():
    default = collected()
    assert {ON_ITS_SERVER, NO_SERVER, DAGSTER} <= default
    for env in (
        {"WANPERF_TEST_REDIS_URL": "redis://127.0.0.1:6379/15"},
        {"WANPERF_TEST_REDIS_CLUSTER": "1"},
    ):
        compat = collected(**env)
        assert {ON_ITS_SERVER, DAGSTER} <= compat, env
        assert NO_SERVER not in compat, env
        assert 0 < len(default - compat) < len(default) // 4
