"""Crashes at random points, compared with the simulator's ground truth: `wanperf sweep` processes
killed with SIGKILL and resumed, the embedded Valkey killed with SIGKILL under a running sweep and
restarted, two sweeps racing. Nothing acknowledged is lost, nothing is stored twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import requests

from wanperf_dagster.mist import MistClient, SweepConfig, SweepLockedError, run_sweep
from wanperf_dagster.simulator import MistSimulator, SimulatorConfig, SimulatorServer
from wanperf_dagster.store import EmbeddedRedis, connect, keys, sessions, sites_by_age
from wanperf_dagster.store import samples as sample_store

from .conftest import SCALE

pytestmark = [pytest.mark.integration, pytest.mark.storage]

TOKEN = "tok-kills-Secret"
NOW = 1_764_115_200 + 5 * 3600 + 42  # 2025-11-26 05:00:42 UTC
PROJECT = Path(__file__).resolve().parents[2]


def _stored_in_slot(client: redis.Redis, org_id: str, slot: int) -> tuple[int, int]:
    """(samples stored for the slot, distinct circuits among them) over every known site."""
    sites = [s for s, _ in sites_by_age(client, org_id)]
    day = sample_store.day_of(slot)
    frame = sample_store.read_site_days(client, [(day, s) for s in sites])
    if frame.empty:
        return 0, 0
    epoch = frame["ts"].astype("datetime64[s, UTC]").astype("int64")
    mine = frame[(epoch // 3600 * 3600) == slot // 3600 * 3600]
    return len(mine), mine["circuit_id"].nunique()


@pytest.fixture
def sim_process():
    """The simulator in its own process, its clock fixed, pages slowed so a sweep can be killed
    mid-way."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wanperf_dagster.simulator",
            "--sites",
            "120",
            "--seed",
            "3",
            "--token",
            TOKEN,
            "--admin",
            "--now",
            str(NOW),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    base = proc.stdout.readline().strip().split("=", 1)[1]
    org = proc.stdout.readline().strip().split("=", 1)[1]
    auth = {"Authorization": f"Token {TOKEN}"}
    requests.get(f"{base}/admin/faults?slow_rate=1&slow_seconds=0.03", headers=auth, timeout=5)
    wan = requests.get(f"{base}/admin/org", headers=auth, timeout=5).json()["wan_ports_served"]
    yield base, org, wan
    proc.kill()
    proc.wait()


def test_sigkilled_sweeps_resume_without_losing_or_duplicating(
    sim_process, redis_url, redis_client, figures
):
    base, org, wan = sim_process
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "WANPERF_"))},
        "MIST_API_TOKEN": TOKEN,
        "MIST_HOST": base,
        "MIST_ORG_ID": org,
        "WANPERF_REDIS_URL": redis_url,
        "WANPERF_POLL_INTERVAL": "3600",  # one slot for the whole test, whatever the wall clock
    }
    cmd = [sys.executable, "-m", "wanperf_dagster.cli", "sweep", "--page-limit", "20"]
    rng = random.Random(7)
    kills = 3 * SCALE
    killed, completed, last_page = 0, 0, 0

    def check_complete() -> tuple[int, int]:
        session = sessions.recent(redis_client, org, 1)[0]
        assert session.status == "finished"
        stored, distinct = _stored_in_slot(redis_client, org, session.slot)
        assert distinct == wan and stored == wan  # none lost, none twice
        return stored, distinct

    while killed < kills:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
        wanted = last_page + rng.randint(1, 3)  # page numbers count on across resumes
        for line in proc.stdout:
            if line.strip().startswith("page"):
                last_page = int(line.split()[1].rstrip(":"))
                if last_page >= wanted:
                    time.sleep(rng.random() * 0.05)  # anywhere inside the next page
                    os.kill(proc.pid, signal.SIGKILL)
                    killed += 1
                    break
        if proc.wait() == 0:  # the sweep finished before its kill: its slot must be whole
            check_complete()
            completed += 1
            last_page = 0
            redis_client.flushdb()  # the next sweep fills a slot again from nothing
        # a dead process's lock would expire within 120 s: expire it now
        redis_client.delete(*redis_client.keys("*sweep:*:lock") or ["none"])
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    stored, distinct = check_complete()
    assert sessions.recent(redis_client, org, 1)[0].resumed >= 1  # it continued a killed one
    figures.update(
        kills=killed,
        sweeps_completed=completed + 1,
        wan_circuits=wan,
        lost=wan - distinct,
        duplicated=stored - distinct,
    )


@pytest.fixture
def own_valkey(tmp_path):
    server = EmbeddedRedis(tmp_path / "valkey").ensure_running()
    yield server
    server.stop()


@pytest.fixture
def sim():
    simulator = MistSimulator(SimulatorConfig(sites=80, seed=6, now=NOW, tokens=(TOKEN,)))
    with SimulatorServer(simulator) as server:
        simulator.url = server.url
        yield simulator


def test_valkey_killed_under_a_sweep_loses_no_acknowledged_write(own_valkey, sim, figures):
    """SIGKILL of the server at random points while pages are saved; restarted from its
    append-only file; every page the sweep saw acknowledged is still there, and the resumed
    sweep completes the slot."""
    rng = random.Random(11)
    acknowledged: set[str] = set()
    kills = 0
    sim.faults.update(slow_rate=1.0, slow_seconds=0.02)
    config = SweepConfig(page_limit=15, lock_ttl_seconds=30)
    for _ in range(3 * SCALE):
        client = connect(own_valkey.url, retries=1, socket_timeout=2)
        killer = threading.Timer(rng.uniform(0.05, 0.4), os.kill, (own_valkey.pid, signal.SIGKILL))
        killer.start()
        try:
            run_sweep(
                MistClient([TOKEN], sim.url, sim.org.id, clock=sim.clock.now),
                client,
                config,
                on_page=lambda e, c=client: acknowledged.update(_circuits_in_slot(c, sim)),
            )
        except redis.RedisError:
            kills += 1
        killer.join()
        own_valkey.ensure_running()  # restarted from the append-only file
        client = connect(own_valkey.url)
        client.delete(*client.keys("*sweep:*:lock") or ["none"])
        present = _circuits_in_slot(client, sim)
        assert acknowledged <= present, sorted(acknowledged - present)[:5]
    client = connect(own_valkey.url)
    run_sweep(MistClient([TOKEN], sim.url, sim.org.id, clock=sim.clock.now), client, config)
    wan = len(sim.served_ports(sim.org.wan_port_indices()))
    assert len(_circuits_in_slot(client, sim)) == wan
    figures.update(valkey_kills=kills, acknowledged=len(acknowledged), lost=0, wan_circuits=wan)


def _circuits_in_slot(client: redis.Redis, sim) -> set[str]:
    day = sample_store.day_of(sim.clock.now())
    frame = sample_store.read_site_days(client, [(day, s.id) for s in sim.org.sites])
    return set(frame["circuit_id"])


def test_two_sweeps_racing_store_one_complete_slot(sim, redis_client, figures):
    sim.faults.update(slow_rate=1.0, slow_seconds=0.05)
    outcomes: list[str] = []

    def sweep():
        try:
            run_sweep(
                MistClient([TOKEN], sim.url, sim.org.id, clock=sim.clock.now),
                redis_client,
                SweepConfig(page_limit=25),
            )
            outcomes.append("finished")
        except SweepLockedError:
            outcomes.append("locked out")

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["finished", "locked out"]
    wan = int(sim.org.arrays["is_wan"].sum())
    circuits = _circuits_in_slot(redis_client, sim)
    assert len(circuits) == wan
    figures.update(sweeps=2, finished=1, locked_out=1, wan_circuits=wan, stored=len(circuits))


def test_a_dead_sweeps_lock_holds_the_next_back_at_most_its_lifetime_across_a_restart(
    own_valkey, sim, figures
):
    """A sweep SIGKILLed mid-way, then Valkey SIGKILLed and restarted from its append-only file
    (the dead sweep's lock restored with it): the next sweep starts within the lock's lifetime
    (5 s here, 30 by default: it was 120, and the sweep late by two minutes), and it resumes."""
    sim.faults.update(slow_rate=1.0, slow_seconds=0.3)
    script = (
        "from wanperf_dagster.mist import MistClient, SweepConfig, run_sweep\n"
        "from wanperf_dagster.store import connect\n"
        f"client = MistClient([{TOKEN!r}], {sim.url!r}, {sim.org.id!r}, clock=lambda: {NOW!r})\n"
        f"run_sweep(client, connect({own_valkey.url!r}), SweepConfig(page_limit=15,"
        " lock_ttl_seconds=5))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT)
    client = connect(own_valkey.url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            cur = sessions.current(client, sim.org.id)
            if cur is not None and cur.pages >= 2:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(1.1)  # the server's append-only file takes the last second's writes
    os.kill(own_valkey.pid, signal.SIGKILL)
    own_valkey.ensure_running()
    restarted = time.monotonic()
    client = connect(own_valkey.url)
    assert client.exists(keys.sweep_lock(sim.org.id))  # the dead sweep's lock came back with it
    sim.faults.update(slow_rate=0.0)
    refused = 0
    while True:
        try:
            session = run_sweep(
                MistClient([TOKEN], sim.url, sim.org.id, clock=sim.clock.now),
                client,
                SweepConfig(page_limit=15, lock_ttl_seconds=5),
            )
            break
        except SweepLockedError:
            refused += 1
            assert time.monotonic() - restarted < 5 + 2, "the dead sweep's lock outlived its life"
            time.sleep(0.25)
    waited = time.monotonic() - restarted
    assert session.resumed == 1 and session.status == "finished"
    figures.update(lock_ttl_s=5, waited_after_restart_s=round(waited, 1), refused=refused)
