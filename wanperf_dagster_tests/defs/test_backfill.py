"""The nightly backfill through Dagster's own machinery, not a mock: the sensor daemon evaluates
the `kpi_backfills` automation sensor (user code) across its 00:20 tick, the backfill it emits
runs through the backfill daemon's iteration, and every partition ends materialized, in a
handful of runs."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.dagster, pytest.mark.storage, pytest.mark.integration]

SCRIPT = Path(__file__).parent / "scripts" / "run_backfill.py"


@pytest.mark.parametrize("patches", ["none", "backfill_check"])
def test_chunked_backfill_materializes_every_partition(redis_url, redis_client, tmp_path, patches):
    """On Dagster's own daemon and with the partitions checked by dimension (`backfill_check`)."""
    sites, chunk = 12, 5
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MIST_")},
        "WANPERF_DAGSTER_PATCHES": patches,
        "WANPERF_REDIS_URL": redis_url,
        "WANPERF_SIM_SITES": str(sites),
        "WANPERF_SIM_SEED": "5",
        "WANPERF_BACKFILL_CHUNK": str(chunk),
        "WANPERF_START_DATE": "2025-11-01",
        "WANPERF_DATA_DIR": str(tmp_path),
        "DAGSTER_HOME": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "24"], capture_output=True, text=True, env=env, timeout=900
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, out.stderr[-3000:]
    report = json.loads(lines[-1][len("REPORT ") :])
    # nothing before the tick; after it, one backfill of yesterday: every site, and the day rollups
    assert report["backfills_before_tick"] == 0 and report["backfills_after_tick"] == 1
    requested = report["requested"]
    assert len(requested["circuit_kpis"]) == sites
    assert {k.split("|")[0] for k in requested["site_snapshots"]} == {"2025-11-26"}
    for rollup in ("region_kpis", "org_kpis", "top_offenders", "congestion_trends"):
        assert requested[rollup] == ["2025-11-26"], rollup
    assert not {"weekly_circuit_kpis", "monthly_circuit_kpis", "mist_sites"} & set(requested)
    assert report["status"] == "COMPLETED_SUCCESS", report
    assert report["materialized"]["site_snapshots"] == sites
    assert report["materialized"]["circuit_kpis"] == sites
    assert report["materialized"]["circuit_kpis_hourly"] == sites
    assert report["materialized"]["org_kpis"] == report["materialized"]["region_kpis"] == 1
    assert report["materialized"]["congestion_trends"] == 1
    chunk_runs = [r for r in report["runs"] if "circuit_kpis" in r["assets"]]
    # one day x 12 sites in chunks of 5: three runs, each holding the snapshot and KPI steps
    assert len(chunk_runs) == math.ceil(sites / chunk)
    assert all("site_snapshots" in r["assets"] for r in chunk_runs)
    assert all(r["status"] == "SUCCESS" for r in report["runs"])
    assert len(report["runs"]) < sites  # never one run per site
