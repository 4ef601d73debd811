"""`python -m bench soak` in a process of its own, as `make soak` runs it; its JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def run_soak(out_dir: Path, days: int, sites: int, *options: str) -> dict:
    out = out_dir / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANPERF_TEST_")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "soak", "--days", str(days), "--sites", str(sites)]
        + [*options, "--report", str(out)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(out.read_text())


def assert_every_circuit_day_equals_the_truth(truth: dict, days: int, sites: int) -> None:
    """Every site-day stored, no circuit missing or made up, each measure within the outage
    test's tolerance and never 30 min off; an off circuit-day listed, with what explains it,
    exactly when there is one."""
    assert truth["site_days_missing"] == 0
    assert truth["circuits_missing"] == 0 and truth["circuits_made_up"] == 0
    assert truth["circuits_listed_after_the_end"] == 0  # nothing on another clock wrote
    assert truth["circuit_days"] >= days * sites
    for measure in truth["measures"]:
        assert measure["within_tolerance_pct"] >= 99.0, truth["measures"]
        assert measure["largest_error"] <= 30 * 60, truth["measures"]
    all_within = all(m["within_tolerance_pct"] == 100.0 for m in truth["measures"])
    assert (truth["beyond_tolerance"] == []) == all_within, truth["beyond_tolerance"]
    for row in truth["beyond_tolerance"]:
        assert {"day", "circuit_id", "unknown_seconds", "state_source"} <= set(row)
