"""`make run` from a fresh clone: a clone of this repository's HEAD in a temporary directory, no
`.venv`, pip's cache off, then `make run`, timed from the start to

- the Dagster UI answering (`/server_info`), and the NOC dashboard (`/healthz` on 8050),
- today's `org_kpis` materialized (GraphQL, as the UI reads it),
- the replay's last day materialized ("history loaded" on stdout),
- and the `kpi_backfills` automation sensor and the sweep schedule running in the daemon.

`python -m bench make_run` (not part of the default set: it installs everything from the package
index, several minutes). Needs ports 3000 and 8050 free. WANPERF_BENCH_MAKE_RUN_KEEP_CACHE=1 keeps pip's
cache (measures a re-clone rather than a fresh machine).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from ._common import row

PROJECT = Path(__file__).resolve().parent.parent
PORT = 3000
DASHBOARD_PORT = 8050
TIMEOUT_S = 1200


def _get(path: str, data: bytes | None = None) -> dict | None:
    req = urllib.request.Request(
        f"http://127.0.0.1:{PORT}{path}",
        data=data,
        headers={"Content-Type": "application/json"} if data else {},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read() or b"{}")
    except (OSError, ValueError):
        return None


def _dashboard_answers() -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{DASHBOARD_PORT}/healthz", timeout=5):
            return True
    except OSError:
        return False


def _graphql(query: str) -> dict:
    return _get("/graphql", json.dumps({"query": query}).encode()) or {}


def _materialized(asset: str, partition: str) -> bool:
    query = (
        '{ assetNodeOrError(assetKey: {path: ["ASSET"]}) { ... on AssetNode {'
        ' assetMaterializations(partitions: ["PARTITION"]) { partition } } } }'
    )
    body = _graphql(query.replace("ASSET", asset).replace("PARTITION", partition))
    node = (body.get("data") or {}).get("assetNodeOrError") or {}
    return bool(node.get("assetMaterializations"))


def _running_instigators() -> set[str]:
    body = _graphql(
        "{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError {"
        " ... on RepositoryLocation { repositories { sensors { name sensorState { status } }"
        " schedules { name scheduleState { status } } } } } } } } }"
    )
    names = set()
    for entry in ((body.get("data") or {}).get("workspaceOrError") or {}).get(
        "locationEntries", []
    ):
        for repo in (entry.get("locationOrLoadError") or {}).get("repositories", []):
            for s in repo.get("sensors", []):
                if s["sensorState"]["status"] == "RUNNING":
                    names.add(s["name"])
            for s in repo.get("schedules", []):
                if s["scheduleState"]["status"] == "RUNNING":
                    names.add(s["name"])
    return names


def main() -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    with tempfile.TemporaryDirectory(prefix="wanperf-make-run-") as tmp:
        clone = Path(tmp) / "wanperf_dagster"
        subprocess.run(["git", "clone", "-q", str(PROJECT), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "WANPERF_"))}
        env.pop("DAGSTER_HOME", None)
        env.pop("VIRTUAL_ENV", None)
        if not os.environ.get("WANPERF_BENCH_MAKE_RUN_KEEP_CACHE"):
            env["PIP_NO_CACHE_DIR"] = "1"
        log = open(Path(tmp) / "make-run.log", "w+")  # noqa: SIM115 - read while make runs
        t0 = time.monotonic()
        proc = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        marks: dict[str, float] = {}
        try:
            while time.monotonic() - t0 < TIMEOUT_S and len(marks) < 5:
                time.sleep(1)
                if proc.poll() is not None:
                    break
                now = time.monotonic() - t0
                if "ui" not in marks and _get("/server_info") is not None:
                    marks["ui"] = now
                if "dashboard" not in marks and _dashboard_answers():
                    marks["dashboard"] = now
                if "ui" in marks and "today" not in marks and _materialized("org_kpis", today):
                    marks["today"] = now
                log.seek(0)
                if "history" not in marks and "history loaded in" in log.read():
                    marks["history"] = now
                if "ui" in marks and "automation" not in marks:
                    running = _running_instigators()
                    if {"kpi_backfills", "sweep_every_poll_interval"} <= running:
                        marks["automation"] = now
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            log.seek(0)
            output = log.read()
        if len(marks) < 5:
            print(output[-4000:])
            raise SystemExit(f"make run did not get there within {TIMEOUT_S} s: {marks}")
    print("\n== make run from a fresh clone (no .venv, pip cache off) ==")
    row("", "seconds")
    row("the Dagster UI answers", f"{marks['ui']:.0f}")
    row("the NOC dashboard answers", f"{marks['dashboard']:.0f}")
    row("kpi_backfills and the sweep schedule are running", f"{marks['automation']:.0f}")
    row("today's org_kpis materialized", f"{marks['today']:.0f}")
    row("every day the replay touched materialized", f"{marks['history']:.0f}")


if __name__ == "__main__":
    main()
