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
