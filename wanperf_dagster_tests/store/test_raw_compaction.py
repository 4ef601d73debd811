"""A closed day's raw samples compacted into one value per site-day: read back exactly as the
hash gave them (so a site-day recomputed weeks later is the same), kept as long, a fraction of
the memory, with nothing lost to a sample that lands during or after the compaction."""

import json

import pandas as pd
import pytest

from wanperf_dagster import kpi
from wanperf_dagster.contract import RAW_FIELDS
from wanperf_dagster.mist.records import Sample
from wanperf_dagster.simulator import World, build_org
from wanperf_dagster.simulator.samples import world_samples
from wanperf_dagster.store import keys
from wanperf_dagster.store import samples as sample_store

pytestmark = pytest.mark.storage

DAY0 = 1_764_115_200  # 2025-11-26
DAY1, DAY2 = "2025-11-26", "2025-11-27"
TTL = 31 * 86400


def _sweep_days(client, days: int, sites: int = 6) -> list[str]:
    """`days` days of 10-minute sweeps of a simulated org's first sites, as the sweep writes."""
    world = World(build_org(seed=7, n_sites=40))
    ports = [i for i in world.org.wan_port_indices() if world.org.arrays["site"][i] < sites]
    frame = world_samples(world, DAY0, 144 * days, ports=ports)
    fields = [c for c in frame.columns if c not in ("site_id", "circuit_id")]
    epoch = (frame["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    frame = frame.assign(ts=epoch)
    pipe = client.pipeline(transaction=False)
    for slot, rows in frame.groupby("ts"):
        batch = [
            Sample(site, circuit, [v.item() if hasattr(v, "item") else v for v in values])
            for site, circuit, *values in rows[["site_id", "circuit_id", *fields]].itertuples(
                index=False
            )
        ]
        sample_store.queue_samples(pipe, int(slot) // 600 * 600, batch, TTL)
    pipe.execute()
    return sorted(frame["site_id"].unique())


def _read(client, day, sites):
    return sample_store.read_site_days(client, [(day, s) for s in sites])


def test_a_compacted_day_reads_exactly_as_its_hashes_did(redis_client):
    sites = _sweep_days(redis_client, 2)
    before = _read(redis_client, DAY1, sites)
    kpis_before = kpi.circuit_kpis(before, 10, days=[DAY1])[1]
    hash_bytes = sum(redis_client.memory_usage(keys.raw_samples(DAY1, s)) for s in sites)
    ttl = redis_client.pttl(keys.raw_samples(DAY1, sites[0]))

    done = sample_store.compact_closed_days(redis_client, "org-1", sites, today=DAY2)
    assert done.site_days == len(sites) and done.samples == len(before)
    after = _read(redis_client, DAY1, sites)
    pd.testing.assert_frame_equal(after, before)
    # the KPIs of a site-day recomputed from it are the same, to the last column
    pd.testing.assert_frame_equal(kpi.circuit_kpis(after, 10, days=[DAY1])[1], kpis_before)
    for s in sites:  # a value instead of the hash, as long-lived as the hash was
        assert not redis_client.exists(keys.raw_samples(DAY1, s))
        assert abs(redis_client.pttl(keys.raw_packed(DAY1, s)) - ttl) < 60_000
    packed_bytes = sum(redis_client.memory_usage(keys.raw_packed(DAY1, s)) for s in sites)
    print(
        f"raw samples of {len(sites)} site-days: hashes {hash_bytes:,} B, compacted {packed_bytes:,} B"
    )
    assert packed_bytes < hash_bytes / 4, (packed_bytes, hash_bytes)
    # today stays a hash: the sweep's writes to it stay idempotent field by field
    assert all(redis_client.exists(keys.raw_samples(DAY2, s)) for s in sites)
    assert not redis_client.exists(keys.raw_packed(DAY2, sites[0]))


def test_once_a_day_and_a_late_sample_is_read_and_compacted_next_time(redis_client):
    sites = _sweep_days(redis_client, 2, sites=2)
    sample_store.compact_closed_days(redis_client, "org-1", sites, today=DAY2)
    before = _read(redis_client, DAY1, sites)
    # a late sample: a new slot of a circuit, and one slot swept again with other counters
    first = before.iloc[0]
    site, circuit = first["site_id"], first["circuit_id"]
    again_ts = int(first["ts"].timestamp())
    again_slot = again_ts // 600 * 600
    stored = sample_store.unpack(redis_client.get(keys.raw_packed(DAY1, site)))
    values = json.loads(stored[f"{again_slot}|{circuit}".encode()])
    pipe = redis_client.pipeline(transaction=False)
    new_port = "ge-9/9/9"  # a circuit first seen late in the day
    new_circuit = f"{values[RAW_FIELDS.index('mac')]}:{new_port}"
    for slot, ts, cid in (
        (DAY0 + 86400 - 600, DAY0 + 86400 - 590, new_circuit),
        (again_slot, again_ts, circuit),
    ):
        row = list(values)
        row[0], row[RAW_FIELDS.index("rx_bytes")] = ts, 123_456_789
        if cid == new_circuit:
            row[RAW_FIELDS.index("port_id")] = new_port
        sample_store.queue_samples(pipe, slot, [Sample(site, cid, row)], TTL)
    pipe.execute()

    merged = _read(redis_client, DAY1, sites)
    assert len(merged) == len(before) + 1
    mine = merged[merged["circuit_id"] == circuit].set_index("ts")["rx_bytes"]
    assert mine.loc[pd.Timestamp(again_ts, unit="s", tz="UTC")] == 123_456_789  # the hash wins
    # the same day again does nothing; the next day compacts the late hash into the value
    assert sample_store.compact_closed_days(redis_client, "org-1", sites, today=DAY2).site_days == 0
    assert sample_store.compact_closed_days(
        redis_client, "org-1", sites, today="2025-11-28"
    ).site_days
    pd.testing.assert_frame_equal(_read(redis_client, DAY1, sites), merged)
    assert not redis_client.exists(keys.raw_samples(DAY1, site))


def test_a_sample_that_lands_during_the_compaction_is_never_lost(redis_client, monkeypatch):
    sites = _sweep_days(redis_client, 1, sites=1)
    before = _read(redis_client, DAY1, sites)
    first = before.iloc[0]
    real_pack = sample_store.pack
    writes = []

    def pack_while_a_sweep_writes(fields):
        """Between the read and the swap, the sweep writes one more sample of the day."""
        slot = DAY0 + 86400 - 60 * (len(writes) + 1)
        redis_client.hset(
            keys.raw_samples(DAY1, first["site_id"]),
            f"{slot}|{first['circuit_id']}",
            redis_client.hvals(keys.raw_samples(DAY1, first["site_id"]))[0],
        )
        writes.append(slot)
        return real_pack(fields)

    monkeypatch.setattr(sample_store, "pack", pack_while_a_sweep_writes)
    done = sample_store.compact_site_days(redis_client, [(DAY1, sites[0])], attempts=3)
    # every attempt saw a new sample land: the swap refused each time, the hash is untouched
    assert done.site_days == 0 and done.retried == 2 and len(writes) == 3
    assert redis_client.hlen(keys.raw_samples(DAY1, sites[0])) == len(before) + 3
    assert not redis_client.exists(keys.raw_packed(DAY1, sites[0]))
    monkeypatch.setattr(sample_store, "pack", real_pack)
    # and once the writes stop, it compacts with every one of them
    assert (
        sample_store.compact_site_days(redis_client, [(DAY1, sites[0])]).samples == len(before) + 3
    )
    assert len(_read(redis_client, DAY1, sites)) == len(before) + 3


def test_the_recent_slots_alone_as_the_alert_rules_read_them(redis_client):
    """`since`: exactly the samples of the slots from then on, picked out by Redis from the
    day's hash, and from a compacted day with a late hash's samples over it."""
    sites = _sweep_days(redis_client, 2, sites=3)
    since = DAY0 + 86400 + 22 * 3600  # the second day's last two hours
    whole = _read(redis_client, DAY2, sites)
    recent = sample_store.read_site_days(redis_client, [(DAY2, s) for s in sites], since)
    want = whole[whole["ts"] >= pd.Timestamp(since, unit="s", tz="UTC")].reset_index(drop=True)
    assert len(want) > 0 and len(recent) < len(whole) / 6
    pd.testing.assert_frame_equal(recent.reset_index(drop=True), want)
    # a closed, compacted day: the same from its value; a late sample's hash field wins
    sample_store.compact_closed_days(redis_client, "org-1", sites, today=DAY2)
    since1 = DAY0 + 23 * 3600
    first = _read(redis_client, DAY1, sites)
    row = first[first["ts"] >= pd.Timestamp(since1, unit="s", tz="UTC")].iloc[0]
    slot = int(row["ts"].timestamp()) // 600 * 600
    field = f"{slot}|{row['circuit_id']}"
    value = json.loads(
        sample_store.unpack(redis_client.get(keys.raw_packed(DAY1, row["site_id"])))[field.encode()]
    )
    value[RAW_FIELDS.index("rx_bps")] = 123_456
    redis_client.hset(keys.raw_samples(DAY1, row["site_id"]), field, json.dumps(value))
    old = sample_store.read_site_days(redis_client, [(DAY1, s) for s in sites], since1)
    whole1 = _read(redis_client, DAY1, sites)
    want1 = whole1[whole1["ts"] >= pd.Timestamp(since1, unit="s", tz="UTC")]
    pd.testing.assert_frame_equal(old.reset_index(drop=True), want1.reset_index(drop=True))
    assert (old["rx_bps"] == 123_456).sum() == 1


def test_the_cycle_collector_is_paused_while_values_are_parsed_and_restored(
    redis_client, monkeypatch
):
    """Parsed rows hold no cycles; with the collector on, its full collections rescanning a
    batch of them made a day's read 1.3x slower (`bench storage`)."""
    import gc

    sites = _sweep_days(redis_client, 1)
    states = []
    parse = sample_store.decode_json_values

    def recording(values, accept):
        states.append(gc.isenabled())
        return parse(values, accept)

    monkeypatch.setattr(sample_store, "decode_json_values", recording)
    assert gc.isenabled()
    assert len(_read(redis_client, DAY1, sites)) > 0
    assert states and not any(states)  # paused for every site-day's parse
    assert gc.isenabled()  # and on again
    gc.disable()
    try:
        with sample_store.no_cycle_collection():
            pass
        assert not gc.isenabled()  # off before: left off
    finally:
        gc.enable()
