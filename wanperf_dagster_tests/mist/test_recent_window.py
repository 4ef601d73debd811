"""The sweep's recent window (`store.samples.queue_recent`): each page's samples also kept for
three hours per slot, so the alert evaluation reads the org's last two hours in a few values.
Over HTTP against the simulator and a real Redis: what it reads equals what the site-days hold,
a page written twice (a resumed sweep) counts once, and without the window the read falls back
to the site-days."""

import pandas as pd
import pytest

from wanperf_dagster.mist import SweepConfig, refresh_stale_sites, run_sweep
from wanperf_dagster.storage import AssetStore
from wanperf_dagster.store import keys
from wanperf_dagster.store import samples as sample_store

from .conftest import NOW, make_client

pytestmark = [pytest.mark.integration, pytest.mark.storage]

INTERVAL = 600


def _sweeps(sim, redis_client, slots: int) -> int:
    client = make_client(sim)
    start = int(NOW) // INTERVAL * INTERVAL
    for k in range(slots):
        sim.clock.set(start + k * INTERVAL + 30)
        run_sweep(client, redis_client, SweepConfig(page_limit=50))
    return start + (slots - 1) * INTERVAL + 30


def _site_days(storage, sites, since, now):
    days = sorted({sample_store.day_of(since), sample_store.day_of(now)})
    return storage.read_samples([(d, s) for d in days for s in sites], since=since)


def test_the_window_holds_what_the_site_days_hold(sim, redis_client):
    now = _sweeps(sim, redis_client, 4)
    storage = AssetStore(redis_client)
    sites = [s.id for s in sim.org.sites][:25]  # a part of the org: only its sites
    since = now - 2 * INTERVAL - 30
    recent = sample_store.read_recent(redis_client, sim.org.id, since, now, INTERVAL, sites)
    expected = _site_days(storage, sites, since, now)
    assert recent is not None and len(recent) == len(expected) > 0
    assert set(recent["site_id"]) == set(sites) & set(expected["site_id"])
    pd.testing.assert_frame_equal(
        recent.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )
    assert list(recent.dtypes.astype(str)) == list(expected.dtypes.astype(str))
    # what the evaluation calls: the same
    via_api = storage.read_recent_samples(sim.org.id, sites, since, now, INTERVAL)
    pd.testing.assert_frame_equal(via_api, recent)


def test_a_page_written_again_counts_once_and_no_window_falls_back(sim, redis_client):
    now = _sweeps(sim, redis_client, 2)
    sites = [s.id for s in sim.org.sites]
    since = now - INTERVAL - 30
    before = sample_store.read_recent(redis_client, sim.org.id, since, now, INTERVAL, sites)
    # the last slot swept again, as a resumed sweep would: the same pages rewritten
    slot = now // INTERVAL * INTERVAL
    pages = redis_client.hlen(keys.recent_samples(sim.org.id, slot))
    again = run_sweep(make_client(sim), redis_client, SweepConfig(page_limit=50))
    assert again.pages == pages > 1  # it did sweep again, page for page
    after = sample_store.read_recent(redis_client, sim.org.id, since, now, INTERVAL, sites)
    assert len(after) == len(before) and not after.duplicated(["circuit_id", "ts"]).any()
    # the window starts after `since` (or is gone): None, and the API reads the site-days
    redis_client.set(keys.recent_since(sim.org.id), now)
    assert sample_store.read_recent(redis_client, sim.org.id, since, now, INTERVAL, sites) is None
    storage = AssetStore(redis_client)
    fallback = storage.read_recent_samples(sim.org.id, sites, since, now, INTERVAL)
    pd.testing.assert_frame_equal(fallback, _site_days(storage, sites, since, now))


def test_a_page_with_a_value_that_will_not_type_is_kept_as_the_site_days_keep_it(redis_client):
    """The fast path types a page straight in Arrow; a value that will not take its type goes
    through the site-days' typing (missing there, and counted), never failing the sweep's write."""
    from wanperf_dagster.contract import RAW_FIELDS
    from wanperf_dagster.mist.records import Sample

    slot = 1_764_115_200
    good = [float(slot + 17), "5c5b35000001", "ge-0/0/0", True, 100, 10, 5, 1, 2, 3, 4, 0, 0]
    good += [1.0, 20.0, 0.0, 1_700_000_000.0]
    bad = list(good)
    bad[1], bad[RAW_FIELDS.index("rx_bytes")] = "5c5b35000002", "not a number"
    pipe = redis_client.pipeline(transaction=False)
    sample_store.queue_samples(pipe, slot, [Sample("s1", "5c5b35000001:ge-0/0/0", good)], 3600)
    sample_store.queue_recent(
        pipe,
        "org-x",
        slot,
        "sweep",
        1,
        [Sample("s1", "5c5b35000001:ge-0/0/0", good), Sample("s1", "x:ge-0/0/0", bad)],
    )
    pipe.execute()
    got = sample_store.read_recent(redis_client, "org-x", slot, slot, INTERVAL, ["s1"])
    assert got["circuit_id"].tolist() == ["5c5b35000001:ge-0/0/0", "5c5b35000002:ge-0/0/0"]
    assert got["rx_bytes"].isna().tolist() == [False, True]
    assert got.loc[0, "rx_bytes"] == 1 and got.loc[1, "tx_bytes"] == 2


def test_a_stale_site_refresh_in_the_same_slot_sits_beside_the_sweep(sim, redis_client):
    """The refresh's pages are its own session's: they never replace the sweep's page 1."""
    now = _sweeps(sim, redis_client, 1)
    sites = [s.id for s in sim.org.sites]
    before = sample_store.read_recent(redis_client, sim.org.id, now - 30, now, INTERVAL, sites)
    sim.clock.set(now + 240)  # four minutes on, in the same slot
    done = refresh_stale_sites(
        make_client(sim), redis_client, older_than_seconds=-1, max_sites=5
    ).sites
    assert len(done) == 5
    after = sample_store.read_recent(redis_client, sim.org.id, now - 30, now, INTERVAL, sites)
    assert len(after) == len(before) > 0  # the refreshed sites' samples: the same slot's
    assert set(after["circuit_id"]) == set(before["circuit_id"])
    # one sample a circuit in the slot, the refresh's where it refreshed: as the site-days say
    expected = _site_days(AssetStore(redis_client), sites, now - 30, now + 240)
    pd.testing.assert_frame_equal(after, expected, check_dtype=False)
    assert (after["ts"] > pd.Timestamp(now + 200, unit="s", tz="UTC")).sum() > 0
    fields = redis_client.hkeys(keys.recent_samples(sim.org.id, now // INTERVAL * INTERVAL))
    assert {f.split(b"|")[0] for f in fields} >= {f"refresh-{s}".encode() for s in done}
