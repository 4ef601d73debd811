"""Steps on Celery workers, as a real deployment runs them: the nightly backfill of one day on the
Postgres instance, its steps sent through RabbitMQ to two `wanperf worker` processes sharing the
IO manager's Redis, and one worker SIGKILLed while it holds a step. Each worker runs in a network
namespace of its own where the machine allows it (`netns.py`): it reaches Postgres, the broker and
Redis only over a network address, as on another machine. Needs the machine's Postgres and
RabbitMQ; says so plainly when either does not answer."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.instance_config import make_postgres_database
from wanperf_dagster.storage import AssetStore

from .netns import Machine, separate_machine

pytestmark = [pytest.mark.dagster, pytest.mark.storage, pytest.mark.integration]

PROJECT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT / "wanperf_dagster_tests" / "defs" / "scripts" / "run_backfill.py"
BROKER = os.environ.get("WANPERF_TEST_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES = os.environ.get("WANPERF_TEST_DAGSTER_PG_URL", "postgresql://postgres@127.0.0.1:5432")
DAY = "2025-11-26"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _require_services() -> None:
    if not _answers("127.0.0.1", 5672):
        pytest.skip("no RabbitMQ on 127.0.0.1:5672: the Celery test needs a broker")
    if not _answers("127.0.0.1", 5432):
        pytest.skip("no Postgres on 127.0.0.1:5432: the Celery test runs on the Postgres instance")


def _start_worker(name: str, env: dict, log: Path, machine: Machine | str) -> subprocess.Popen:
    argv = [str(Path(sys.executable).parent / "wanperf"), "worker", "--name", name]
    if isinstance(machine, Machine):
        argv = machine.command(argv)
        # the services, at the addresses that machine knows them by
        env = {
            **env,
            **{
                var: machine.url(env[var])
                for var in ("WANPERF_REDIS_URL", "WANPERF_CELERY_BROKER", "WANPERF_DAGSTER_PG_URL")
            },
        }
    return subprocess.Popen(
        argv,
        env=env,
        cwd=PROJECT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the kill takes the pool child too
    )


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _held_task(log: str) -> str:
    """The id of the task a worker received and has not finished (from its log)."""
    received = re.findall(r"Task execute_plan\[([0-9a-f-]+)\] received", log)
    done = set(re.findall(r"Task execute_plan\[([0-9a-f-]+)\] (?:succeeded|failed)", log))
    held = [task for task in received if task not in done]
    assert held, "the worker holds no task"
    return held[-1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_backfill_runs_on_two_celery_workers_and_survives_one_killed(
    redis_url, redis_client, tmp_path
):
    _require_services()
    sites, chunk = 8, 4
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "WANPERF_"))},
        "WANPERF_REDIS_URL": redis_url,
        "WANPERF_SIM_SITES": str(sites),
        "WANPERF_SIM_SEED": "5",
        "WANPERF_BACKFILL_CHUNK": str(chunk),
        "WANPERF_START_DATE": "2025-11-01",
        "WANPERF_DATA_DIR": str(tmp_path),
        "WANPERF_EXECUTOR": "celery",
        "WANPERF_CELERY_BROKER": BROKER,
        # a queue of this test's own: another run on the same broker never takes its steps
        "WANPERF_CELERY_QUEUE": f"wanperf-test-{uuid.uuid4().hex[:10]}",
        # a database of this test's own, named by the URL each process reads (as deployed)
        "WANPERF_DAGSTER_PG_URL": make_postgres_database(POSTGRES),
        "DAGSTER_HOME": str(tmp_path),
        "PYTHONPATH": str(PROJECT),
    }
    logs = {name: tmp_path / f"{name}.log" for name in ("worker-a", "worker-b")}
    ports = [urlsplit(env[v]).port for v in ("WANPERF_REDIS_URL", "WANPERF_DAGSTER_PG_URL")]
    ports.append(urlsplit(BROKER).port)
    with contextlib.ExitStack() as machines:
        # each worker on a "machine" of its own, where the machine allows network namespaces
        hosts = {name: machines.enter_context(separate_machine(ports)) for name in logs}
        for host in hosts.values():
            if isinstance(host, Machine):
                _assert_isolated(host, ports)
            else:
                print(f"celery workers share this machine's network: {host}")
        _run_and_kill(env, logs, hosts, sites, chunk, redis_client)


def _assert_isolated(machine: Machine, ports: list) -> None:
    """Inside the namespace the services answer at the veth address only, not on 127.0.0.1."""
    probe = (
        "import socket, sys\n"
        "def ok(h, p):\n"
        "    try:\n"
        "        socket.create_connection((h, p), timeout=2).close(); return True\n"
        "    except OSError:\n"
        "        return False\n"
        f"print([ok(h, p) for h in ('127.0.0.1', {machine.host_ip!r}) for p in {ports!r}])"
    )
    out = subprocess.run(
        machine.command([sys.executable, "-c", probe]), capture_output=True, text=True, timeout=30
    )
    assert out.stdout.strip() == str([False] * len(ports) + [True] * len(ports)), out


def _run_and_kill(env, logs, hosts, sites, chunk, redis_client) -> None:
    workers = {
        name: _start_worker(f"{name}@wanperf-test", env, log, hosts[name])
        for name, log in logs.items()
    }
    try:
        for name, log in logs.items():
            _wait_for(lambda log=log: "ready." in log.read_text(), 90, f"{name} to be ready")
        driver = subprocess.Popen(
            [sys.executable, str(SCRIPT), "24"],
            env=env,
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

        # worker-a finishes a step, takes another, and dies holding it: no goodbye to the broker
        def holding_a_second_step() -> bool:
            text = logs["worker-a"].read_text()
            done = len(re.findall(r"Task execute_plan\[[0-9a-f-]+\] succeeded", text))
            received = len(re.findall(r"Task execute_plan\[[0-9a-f-]+\] received", text))
            return (done >= 1 and received > done) or driver.poll() is not None

        _wait_for(holding_a_second_step, 400, "worker-a to hold its second step")
        assert driver.poll() is None, driver.communicate()[1][-3000:]
        held = _held_task(logs["worker-a"].read_text())
        os.killpg(workers["worker-a"].pid, signal.SIGKILL)
        workers["worker-a"].wait(timeout=10)
        out, err = driver.communicate(timeout=600)
    finally:
        for proc in workers.values():
            _stop(proc)
    lines = [line for line in out.splitlines() if line.startswith("REPORT ")]
    assert lines, err[-4000:]
    report = json.loads(lines[-1][len("REPORT ") :])
    print("celery:", json.dumps({k: report[k] for k in ("failed_runs", "reexecuted")}))

    # the steps went to both workers (the engine events the workers wrote say which)
    used = {worker for _, _, worker in report["step_workers"]}
    assert {"worker-a@wanperf-test", "worker-b@wanperf-test"} <= used, report["step_workers"]
    # the step lost with its worker is either handed to the other worker by the broker (late
    # acks: worker-b's log shows the same task) or fails its run with a clear error, and the
    # re-execution completes
    handed_over = f"Task execute_plan[{held}] succeeded" in logs["worker-b"].read_text()
    assert handed_over or report["failed_runs"], (held, report["step_workers"])
    for message in report["failure_messages"]:
        assert message.strip(), report
    assert all(r["success"] for r in report["reexecuted"]), report
    assert len(report["reexecuted"]) == report["failed_runs"]
    # every partition is materialized and whole: each site-day's KPIs cover its snapshot's circuits
    assert report["materialized"]["site_snapshots"] == sites
    assert report["materialized"]["circuit_kpis"] == sites
    assert report["materialized"]["circuit_kpis_hourly"] == sites
    assets = AssetStore(redis_client)
    site_keys = assets.site_keys(assets.site_ids())
    for site in site_keys:
        snapshot = assets.load_site_days("site_snapshots", [DAY], [site])
        kpis = assets.load_site_days("circuit_kpis", [DAY], [site])
        hourly = assets.load_site_days("circuit_kpis_hourly", [DAY], [site])
        assert snapshot.found == kpis.found == hourly.found == 1, site
        circuits = set(kpis.table.column("circuit_id").to_pylist())
        assert len(circuits) == kpis.table.num_rows > 0, site
        assert set(hourly.table.column("circuit_id").to_pylist()) == circuits, site
