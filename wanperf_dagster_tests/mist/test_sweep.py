"""The sweep against the simulator over HTTP and a real Redis."""

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from wanperf_dagster.mist import (
    MistAuthError,
    MistBudgetExhausted,
    MistPermissionError,
    MistRequestError,
    SweepConfig,
    SweepLockedError,
    fetch_inventory,
    refresh_stale_sites,
    run_sweep,
)
from wanperf_dagster.store import keys, sessions, sites_by_age
from wanperf_dagster.store.samples import day_of as sample_day

from .conftest import NOW, TOKEN, make_client, stored

pytestmark = [pytest.mark.integration, pytest.mark.storage]


def wan_truth(sim):
    org = sim.org
    wan = org.wan_port_indices()
    state = sim.world.state(wan, int(sim.clock.now()))
    return (
        pd.DataFrame(
            {
                "circuit_id": [org.circuit_id(i) for i in wan],
                "site_id": [org.sites[org.arrays["site"][i]].id for i in wan],
                "up": state["up"],
                "rx_bps": state["rx_bps"],
            }
        )
        .sort_values("circuit_id")
        .reset_index(drop=True)
    )


def test_full_sweep_stores_exactly_the_wan_ports(sim, redis_client):
    client = make_client(sim)
    pages = []
    session = run_sweep(client, redis_client, SweepConfig(page_limit=50), on_page=pages.append)
    assert session.status == "finished" and session.pages == len(pages) > 2
    got = stored(redis_client, sim)
    truth = wan_truth(sim)
    mine = got.sort_values("circuit_id").reset_index(drop=True)
    assert list(mine["circuit_id"]) == list(
        truth["circuit_id"]
    )  # LAN ports excluded, no duplicates
    assert list(mine["site_id"]) == list(truth["site_id"])
    assert (mine["up"].to_numpy(dtype=bool) == truth["up"].to_numpy()).all()
    assert (mine["rx_bps"].to_numpy(dtype=np.int64) == truth["rx_bps"].to_numpy()).all()
    assert session.samples == len(truth) and session.lan_skipped == sim.org.n_ports - len(truth)
    assert session.records == sim.org.n_ports and session.calls == session.pages
    # every swept site is in the cache-age index
    assert {s for s, _ in sites_by_age(redis_client, sim.org.id)} == set(truth["site_id"])
    assert pages[-1].budget_left == 5000 - client.calls  # the sweep plus one /self to find the org


def test_repeated_sweep_overwrites_instead_of_duplicating(sim, redis_client):
    run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=100))
    first = stored(redis_client, sim)
    run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=33))  # other page boundaries
    pd.testing.assert_frame_equal(stored(redis_client, sim), first)


def test_the_first_sweep_of_a_day_compacts_the_day_before(sim, redis_client):
    """Two sweeps of 23:50, then one of 00:10: yesterday's samples become one value per
    site-day, read back exactly; today's stay hashes; the sweeps of the day compact no more."""
    day0 = NOW // 86400 * 86400
    client = make_client(sim)
    for t in (day0 + 86400 - 600 + 30, day0 + 86400 - 1200 + 30):
        sim.clock.set(t)
        run_sweep(client, redis_client, SweepConfig(page_limit=100))
    yesterday = stored(redis_client, sim)
    sites = sorted(set(yesterday["site_id"]))
    assert redis_client.exists(*[keys.raw_samples(sample_day(day0), s) for s in sites])
    sim.clock.set(day0 + 86400 + 600 + 30)
    run_sweep(client, redis_client, SweepConfig(page_limit=100))
    assert not redis_client.exists(*[keys.raw_samples(sample_day(day0), s) for s in sites])
    assert redis_client.exists(*[keys.raw_packed(sample_day(day0), s) for s in sites]) == len(sites)
    sim.clock.set(day0 + 86400 - 1)  # read yesterday as the KPIs will
    pd.testing.assert_frame_equal(stored(redis_client, sim), yesterday)
    sim.clock.set(day0 + 86400 + 1200 + 30)
    run_sweep(client, redis_client, SweepConfig(page_limit=100))
    today = sample_day(day0 + 86400)
    assert redis_client.exists(*[keys.raw_samples(today, s) for s in sites]) == len(sites)


def test_exception_in_on_page_then_resume_stores_the_same(sim, redis_client):
    run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=40))
    expected = stored(redis_client, sim)
    redis_client.flushdb()

    def boom(event):
        if event.session.pages == 3:
            raise RuntimeError("consumer failed")

    with pytest.raises(RuntimeError, match="consumer failed"):
        run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=40), on_page=boom)
    interrupted = sessions.current(redis_client, sim.org.id)
    assert interrupted.status == "interrupted" and interrupted.pages == 3 and interrupted.cursor
    assert "consumer failed" in interrupted.error
    resumed = run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=40))
    assert resumed.id == interrupted.id and resumed.resumed == 1 and resumed.status == "finished"
    pd.testing.assert_frame_equal(stored(redis_client, sim), expected)
    assert sessions.current(redis_client, sim.org.id) is None


def test_sigkilled_sweep_resumes_to_the_same_samples(sim, redis_client, redis_url):
    run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=40))
    expected = stored(redis_client, sim)
    redis_client.flushdb()
    sim.faults.update(slow_rate=1.0, slow_seconds=0.25)
    script = textwrap.dedent(f"""
        from wanperf_dagster.mist import MistClient, SweepConfig, run_sweep
        from wanperf_dagster.store import connect
        clock = lambda: {sim.clock.now()!r}
        client = MistClient([{TOKEN!r}], {sim.url!r}, clock=clock)
        run_sweep(client, connect({redis_url!r}), SweepConfig(page_limit=40, lock_ttl_seconds=1))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            cur = sessions.current(redis_client, sim.org.id)
            if cur is not None and cur.pages >= 2:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    sim.faults.update(slow_rate=0.0)
    killed = sessions.current(redis_client, sim.org.id)
    assert killed.status == "running" and killed.pages >= 2  # died without saying so
    assert len(stored(redis_client, sim)) < len(expected)
    time.sleep(1.1)  # the dead process's lock expires
    resumed = run_sweep(
        make_client(sim), redis_client, SweepConfig(page_limit=40, lock_ttl_seconds=1)
    )
    assert resumed.id == killed.id and resumed.resumed == 1
    pd.testing.assert_frame_equal(stored(redis_client, sim), expected)


def test_one_sweep_at_a_time(sim, redis_client):
    lock = redis_client.lock(keys.sweep_lock(sim.org.id), timeout=5)
    assert lock.acquire(blocking=False)
    with pytest.raises(SweepLockedError, match="another sweep"):
        run_sweep(make_client(sim), redis_client)
    lock.release()


def test_cursor_too_old_starts_again(sim, redis_client):
    def boom(event):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=100), on_page=boom)
    old = sessions.current(redis_client, sim.org.id)
    sim.clock.advance(3600)
    fresh = run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=100))
    assert fresh.id != old.id and fresh.resumed == 0 and fresh.samples == len(wan_truth(sim))
    assert sessions.load(redis_client, sim.org.id, old.id).status == "abandoned"


def test_rate_limit_storm_waits_and_completes(sim, redis_client):
    sim.faults.update(throttle_next=4, retry_after=2)
    slept = []
    client = make_client(sim, sleep=slept.append)
    session = run_sweep(client, redis_client, SweepConfig(page_limit=200))
    # at least what Retry-After asks, and an exponential back-off (1, 2, 4, 8 s, +0-25 % jitter)
    assert session.status == "finished" and len(slept) == 4
    assert all(s >= 2.0 for s in slept) and 8.0 <= slept[3] <= 10.0
    assert session.samples == len(wan_truth(sim))


def test_tokens_rotate_and_the_budget_is_never_exceeded(sim, redis_client):
    sim.config.rate_limit = 10
    tokens = (TOKEN, "tok-two-1a2b")
    client = make_client(sim, tokens=tokens, retries=1, rate_limit=10)
    # 40 sites at 25 records a page need more calls than one token's budget allows
    session = run_sweep(client, redis_client, SweepConfig(page_limit=25))
    used = [sim.usage(t)["requests"] for t in tokens]
    assert (
        session.status == "finished"
        and all(0 < u <= 10 for u in used)
        and sum(used) == client.calls
    )
    redis_client.flushdb()
    sim.clock.advance(3600)
    lone = make_client(sim, tokens=(TOKEN,), retries=1, rate_limit=10)
    with pytest.raises(MistBudgetExhausted, match=r"returns at \d\d:\d\d UTC"):
        run_sweep(lone, redis_client, SweepConfig(page_limit=25))
    assert sim.usage(TOKEN)["requests"] <= 10  # never sent a call past the budget
    assert sessions.current(redis_client, sim.org.id).status == "interrupted"


def test_5xx_bursts_are_retried_then_fail_clearly(sim, redis_client):
    client = make_client(sim)
    client.resolve_org_id()
    sim.faults.update(error_next=2)
    session = run_sweep(client, redis_client, SweepConfig(page_limit=500))
    assert (
        session.status == "finished" and session.calls == session.pages + 2
    )  # retries are charged
    sim.faults.update(error_rate=1.0)
    failing = make_client(sim, retries=2)
    failing.org_id = sim.org.id
    with pytest.raises(MistRequestError) as err:
        run_sweep(failing, redis_client, SweepConfig(page_limit=500))
    assert err.value.attempts == 3
    assert "GET /api/v1/orgs/" in str(err.value) and "/stats/ports/search" in str(err.value)
    assert "3 attempts" in str(err.value) and "503" in str(err.value)


def test_held_connections_time_out_and_are_retried(sim, redis_client):
    sim.faults.update(hold_next=1, hold_seconds=1.0)
    session = run_sweep(
        make_client(sim, read_timeout=0.3), redis_client, SweepConfig(page_limit=500)
    )
    assert session.status == "finished"
    sim.faults.update(hold_rate=1.0, hold_seconds=0.6)
    with pytest.raises(MistRequestError, match="timed out"):
        run_sweep(make_client(sim, read_timeout=0.2, retries=1), redis_client)


def test_malformed_records_are_quarantined_with_exact_counts(sim, redis_client):
    sim.faults.update(bad_record_every=7)
    session = run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=100))
    n = sim.org.n_ports
    bad = n // 7
    # the simulator cycles six kinds of bad record; speed 0 is valid (kept, counted apart), and
    # a bad record on a LAN port is still a LAN port
    quarantine = [
        __import__("json").loads(x)
        for x in redis_client.lrange(keys.quarantine(sim.org.id, session.id), 0, -1)
    ]
    assert session.quarantined == len(quarantine) > 0
    assert session.samples + session.quarantined + session.lan_skipped == n
    reasons = {q["reason"].split(" ")[0] for q in quarantine}
    assert {"missing", "up", "negative", "rx_bps"} <= reasons | {r.split("=")[0] for r in reasons}
    assert session.zero_speed > 0
    assert bad >= session.quarantined
    # good records of the same pages were kept
    assert len(stored(redis_client, sim)) == session.samples


def test_truncated_body_is_retried_and_persistent_garbage_interrupts(sim, redis_client):
    sim.faults.update(truncate_next=1)
    assert (
        run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=100)).status == "finished"
    )
    sim.faults.update(malformed_json_rate=1.0)
    with pytest.raises(MistRequestError, match="malformed JSON"):
        run_sweep(make_client(sim, retries=1), redis_client)
    sim.faults.update(malformed_json_rate=0.0)
    assert run_sweep(make_client(sim), redis_client).status == "finished"


def test_duplicated_records_across_pages_are_not_double_counted(sim, redis_client):
    sim.faults.update(duplicate_records=5)
    session = run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=50))
    assert session.duplicates > 0
    got = stored(redis_client, sim)
    assert not got.duplicated(["ts", "circuit_id"]).any() and len(got) == len(wan_truth(sim))


def test_auth_and_org_errors_say_what_to_do(sim, redis_client):
    with pytest.raises(MistAuthError, match="MIST_API_TOKEN"):
        run_sweep(make_client(sim, tokens=("wrong",)), redis_client)
    client = make_client(sim)
    client.org_id = "11111111-2222-4333-8444-555555555555"
    with pytest.raises(MistPermissionError, match="MIST_ORG_ID"):
        run_sweep(client, redis_client)
    assert make_client(sim).resolve_org_id() == sim.org.id  # found through /api/v1/self


def test_no_secret_in_logs_errors_or_redis(sim, redis_client, caplog):
    caplog.set_level(logging.DEBUG)
    errors = []
    sim.faults.update(error_next=1, throttle_next=1, retry_after=0, bad_record_every=11)
    client = make_client(sim)
    run_sweep(client, redis_client, SweepConfig(page_limit=100))
    for bad in (("wrong-token-zzz",), (TOKEN,)):
        try:
            c = make_client(sim, tokens=bad)
            if bad == (TOKEN,):
                sim.faults.update(error_rate=1.0)
            run_sweep(c, redis_client)
        except Exception as exc:
            errors.append(f"{exc!r} {exc}")
    sim.faults.update(error_rate=0.0)
    text = caplog.text + " ".join(errors) + repr(client)
    values = []
    for key in redis_client.scan_iter("*"):
        kind = redis_client.type(key)
        if kind == b"hash":
            values += list(redis_client.hgetall(key).values())
        elif kind == b"list":
            values += redis_client.lrange(key, 0, -1)
        elif kind == b"string":
            values.append(redis_client.get(key))
    blob = b" ".join(v if isinstance(v, bytes) else str(v).encode() for v in values)
    for secret in (TOKEN, "wrong-token-zzz"):
        assert secret not in text and secret.encode() not in blob
    assert "Token " not in text


def test_stale_site_refresh_oldest_first_within_budget(sim, redis_client):
    run_sweep(make_client(sim), redis_client)
    before = dict(sites_by_age(redis_client, sim.org.id))
    sim.clock.advance(1800)
    client = make_client(sim)
    result = refresh_stale_sites(client, redis_client, older_than_seconds=900, max_sites=3)
    assert len(result.sites) == 3 and result.samples > 0
    after = dict(sites_by_age(redis_client, sim.org.id))
    assert all(after[s] > before[s] for s in result.sites)
    assert sum(after[s] > before[s] for s in after) == 3
    # within the budget: with no room left, nothing is fetched
    starved = make_client(sim, rate_limit=10, retries=0)
    assert refresh_stale_sites(starved, redis_client, 900, budget_reserve=10).skipped_for_budget > 0


def test_inventory_sites_regions_gateways(sim):
    inv = fetch_inventory(make_client(sim, rate_limit=5000), page_limit=7)
    assert len(inv.sites) == len(sim.org.sites)
    assert set(inv.sites["region"]) <= {"AMER", "LATAM", "EMEA", "APAC"}
    assert (
        dict(zip(inv.sites["site_id"], inv.sites["region"], strict=True))[sim.org.sites[0].id]
        == sim.org.sites[0].region
    )
    assert len(inv.gateways) == len(sim.org.gateways)
    assert inv.gateways["wan_ports"].sum() == int(sim.org.arrays["is_wan"].sum())


def test_a_resumed_sweep_never_writes_into_a_slot_that_has_passed(sim, redis_client):
    """Killed in slot S and resumed in S+1: S keeps the pages saved before the crash, nothing is
    written into S afterwards, and S+1 is swept whole (one crash costs at most one interval)."""
    interval = 600

    def boom(event):
        if event.session.pages == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=40), on_page=boom)
    old = sessions.current(redis_client, sim.org.id)
    in_old_slot = len(stored(redis_client, sim))
    sim.clock.advance(interval)
    fresh = run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=40))
    assert fresh.id != old.id and fresh.slot == old.slot + interval and fresh.resumed == 0
    assert sessions.load(redis_client, sim.org.id, old.id).status == "abandoned"
    frame = stored(redis_client, sim)
    epoch = pd.Timestamp(0, tz="UTC")
    slots = (frame["ts"] - epoch).dt.total_seconds().astype("int64") // interval * interval
    assert int((slots == old.slot).sum()) == in_old_slot  # nothing more written into S
    assert int((slots == fresh.slot).sum()) == len(wan_truth(sim))  # S+1 complete


def test_a_sweep_that_loses_its_lock_stops_without_writing_more(sim, redis_client):
    from wanperf_dagster.mist import SweepLockLostError

    def steal(event):
        if event.session.pages == 2:  # the lock expires and another sweep takes it
            redis_client.set(keys.sweep_lock(sim.org.id), "another-sweep")

    with pytest.raises(SweepLockLostError, match="lost its lock"):
        run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=40), on_page=steal)
    assert sessions.current(redis_client, sim.org.id).pages == 2  # nothing after the loss
    assert redis_client.get(keys.sweep_lock(sim.org.id)) == b"another-sweep"  # left to its owner


def test_the_refresh_skips_a_site_that_is_gone_and_forgets_it(sim, redis_client):
    run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=200))
    gone = "0badc0de-0000-4000-8000-000000000000"
    redis_client.zadd(keys.cache_age(sim.org.id), {gone: sim.clock.now() - 7200})
    live = sites_by_age(redis_client, sim.org.id)[1][0]
    redis_client.zadd(keys.cache_age(sim.org.id), {live: sim.clock.now() - 7000}, xx=True)
    result = refresh_stale_sites(make_client(sim), redis_client, 3600)
    assert result.not_found == [gone] and result.sites == [live]
    assert gone not in dict(sites_by_age(redis_client, sim.org.id))


def test_a_sweep_whose_pages_outlast_its_lock_keeps_it(sim, redis_client):
    """Pages of 0.8 s against a lock of 0.6 s: renewed by a heartbeat while the sweep works (it
    was renewed only between pages, and the sweep stopped as if another had taken it)."""
    sim.faults.update(slow_rate=1.0, slow_seconds=0.8)
    try:
        session = run_sweep(
            make_client(sim), redis_client, SweepConfig(page_limit=80, lock_ttl_seconds=0.6)
        )
    finally:
        sim.faults.update(slow_rate=0.0)
    assert session.status == "finished" and session.pages >= 3
