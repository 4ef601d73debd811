"""One API budget for every process: the ledger in Redis reserves atomically and gives back
what a request did not use; three processes sweeping and refreshing against the simulator (its
own process, over HTTP) never make it refuse a call, and report the work they left undone."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from wanperf_dagster.mist import MistBudgetExhausted, MistClient, SweepConfig, run_sweep
from wanperf_dagster.mist.client import LocalCallLedger, token_fingerprint
from wanperf_dagster.store import RedisCallLedger, bulk, connect, keys
from wanperf_dagster_tests.mist.conftest import TOKEN
from wanperf_dagster_tests.processes import stop

pytestmark = [pytest.mark.storage]

NOW = 1_764_115_200 + 9 * 3600 + 3 * 60  # 2025-11-26 09:03 UTC, well inside its hour
WINDOW = int(NOW // 3600)
SEED_TOKEN = "seed-Token-77aa"
SHARED_TOKEN = "shared-Token-Secret-5e5e"
LIMIT = 150
SCRIPT = Path(__file__).parent / "scripts" / "budget_worker.py"
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["local", "redis"])
def ledger(request):
    if request.param == "local":
        return LocalCallLedger()
    return RedisCallLedger(request.getfixturevalue("redis_client"))


def test_a_ledger_reserves_within_the_limit_and_gives_back(ledger):
    assert ledger.reserve("t", WINDOW, 100, 150)
    assert not ledger.reserve("t", WINDOW, 51, 150)  # refused whole, nothing taken
    assert ledger.used("t", WINDOW) == 100
    assert ledger.reserve("t", WINDOW, 50, 150) and ledger.used("t", WINDOW) == 150
    ledger.release("t", WINDOW, 30)
    assert ledger.used("t", WINDOW) == 120
    ledger.release("t", WINDOW, 1000)  # never below zero
    assert ledger.used("t", WINDOW) == 0
    ledger.at_least("t", WINDOW, 70)  # the server counted more: raised
    ledger.at_least("t", WINDOW, 10)  # never lowered
    assert ledger.used("t", WINDOW) == 70
    # another token, another hour: counted apart
    assert ledger.used("u", WINDOW) == 0 and ledger.used("t", WINDOW + 1) == 0


def test_redis_ledger_names_no_token_and_expires(redis_client):
    ledger = RedisCallLedger(redis_client)
    fingerprint = token_fingerprint(SHARED_TOKEN)
    assert ledger.reserve(fingerprint, WINDOW, 5, LIMIT)
    (key,) = list(redis_client.scan_iter(f"{keys.NAMESPACE}:budget:*"))
    assert SHARED_TOKEN.encode() not in key and b"Secret" not in key
    assert 0 < redis_client.ttl(key) <= 2 * 3600


def test_racing_reservations_never_pass_the_limit(redis_client, redis_url):
    """Eight threads, each with its own client, reserve 3 calls at a time until refused."""
    taken = []

    def worker():
        ledger = RedisCallLedger(connect(redis_url))
        n = 0
        while ledger.reserve("race", WINDOW, 3, 1000):
            n += 3
        taken.append(n)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(taken) == 999 == RedisCallLedger(redis_client).used("race", WINDOW)


def test_a_client_charges_what_it_made_and_refuses_past_the_budget(redis_client, sim):
    """Two clients (two processes' worth) on one token share one count: each request reserves
    its retries, the unused part comes back, and the second client is refused once the first
    spent the hour."""
    first, second = (
        MistClient(
            [TOKEN],
            sim.url,
            clock=sim.clock.now,
            rate_limit=20,
            ledger=RedisCallLedger(redis_client),
            retries=4,
        )
        for _ in range(2)
    )
    ledger = RedisCallLedger(redis_client)
    fingerprint = token_fingerprint(TOKEN)
    first.get("/api/v1/self")
    assert ledger.used(fingerprint, WINDOW) == 1  # 5 reserved, 4 given back
    for _ in range(14):
        second.get("/api/v1/self")
    assert first.budget_left() == second.budget_left() == 5
    first.get("/api/v1/self")  # 15 + 5 reserved = 20: still allowed
    with pytest.raises(MistBudgetExhausted, match="token"):
        second.get("/api/v1/self")  # 16 + 5 > 20
    assert sim.calls == 16 and sim.over_budget == 0


@pytest.fixture
def simulator_process():
    """The simulator in its own process: a seed token and the shared token, LIMIT calls an hour
    each, its clock fixed at NOW."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wanperf_dagster.simulator",
            "--sites",
            "60",
            "--seed",
            "5",
            "--rate-limit",
            str(LIMIT),
            "--now",
            str(NOW),
            "--admin",
            "--token",
            SEED_TOKEN,
            "--token",
            SHARED_TOKEN,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT,
    )
    base_url = proc.stdout.readline().strip().removeprefix("base_url=")
    org_id = proc.stdout.readline().strip().removeprefix("org_id=")
    yield base_url, org_id
    stop(proc)


def test_three_processes_stay_within_one_budget(redis_client, redis_url, simulator_process):
    base_url, org_id = simulator_process
    # the cache knows every site (a sweep with the other token), so every process has 60 sites
    # to refresh on top of its sweep: far more work than LIMIT calls
    seed = MistClient([SEED_TOKEN], base_url, clock=lambda: NOW)
    run_sweep(seed, redis_client, SweepConfig(page_limit=100))
    sites = len(bulk.stale_sites(redis_client, org_id, 0, now=NOW + 1))
    assert sites == 60

    workers = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), redis_url, base_url, SHARED_TOKEN, str(NOW), str(LIMIT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=PROJECT,
        )
        for _ in range(3)
    ]
    reports = []
    for w in workers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err[-3000:]
        assert SHARED_TOKEN not in out + err
        reports.append(json.loads(out.strip().splitlines()[-1]))

    usage = requests.get(
        f"{base_url}/admin/usage", headers={"Authorization": f"Token {SEED_TOKEN}"}, timeout=10
    ).json()
    assert usage["over_budget"] == 0  # not one 429 for the budget
    assert usage["most_by_one_token_this_hour"] <= LIMIT
    shared_calls = sum(r["calls"] for r in reports)
    assert (
        shared_calls
        == usage["most_by_one_token_this_hour"]
        == RedisCallLedger(redis_client).used(token_fingerprint(SHARED_TOKEN), WINDOW)
    )  # every reservation settled
    # the budget ran out: (almost) all of it used, and what was not done is reported, not lost
    assert shared_calls > LIMIT - 5
    assert sum(r["refresh"].get("skipped_for_budget", 0) for r in reports) > 0
    for r in reports:
        if "refreshed" in r["refresh"]:
            done = r["refresh"]["refreshed"] + r["refresh"]["skipped_for_budget"]
            assert done + r["refresh"]["gone"] == r["stale_before_refresh"] == sites
    statuses = sorted(r["sweep"]["status"] for r in reports)
    assert "finished" in statuses or "budget" in statuses, statuses
