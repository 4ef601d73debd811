"""Property-based fuzzing of the record normaliser against the official schema: whatever a page
holds, every record is either a sample that the schema allows and the store reads back exactly,
or quarantined with a reason (or a LAN port); nothing crashes and nothing breaks the reader."""

from __future__ import annotations

import math
import uuid

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wanperf_dagster.contract import COUNTERS, RATES, RAW_FIELDS
from wanperf_dagster.mist.records import INT64_MAX, MAC_RE, PORT_RE, UUID_RE, normalise_page
from wanperf_dagster.store import samples as sample_store
from wanperf_dagster_tests.mist_schema import validate

from .conftest import SCALE
from .hostile import port_record

pytestmark = [pytest.mark.storage]

SEARCH_PATH = "/api/v1/orgs/{org_id}/stats/ports/search"
TS = 1_764_115_200.0 + 605

WHOLE = ["speed", *RATES, *COUNTERS]
REAL = ["jitter", "latency", "loss", "last_flapped"]

hostile_numbers = st.one_of(
    st.integers(min_value=-(2**65), max_value=2**65),
    st.sampled_from([0, 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1.0, 1.5, 1e300, -0.0, 100.0, 100.0001]),
)
hostile_values = st.one_of(
    hostile_numbers,
    st.none(),
    st.booleans(),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
macs = st.one_of(
    st.sampled_from(
        [
            "5c5b35000001",
            "5C:5B:35:00:00:01",
            "5c-5b-35-00-00-01",
            "5c5b35000001\n",
            "5c5b3500000",
            "zz5b35000001",
            "",
        ]
    ),
    st.text(max_size=20),
)
site_ids = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.sampled_from(["site-1", "}{", "", str(uuid.UUID(int=1)) + "\n"]),
    st.text(max_size=40),
)
port_ids = st.one_of(
    st.sampled_from(["ge-0/0/0", "xe-0/0/1", "lte0", "ge-0/0/0.0", "", "ge 0", "a|b", "x" * 80]),
    st.text(max_size=20),
)
usages = st.one_of(st.sampled_from(["wan", "lan", "WAN", "", None, False, 1]), st.text(max_size=5))


@st.composite
def records(draw):
    rec = port_record(draw(st.integers(min_value=0, max_value=2**20)))
    for name in draw(st.sets(st.sampled_from(WHOLE + REAL + ["up"]), max_size=4)):
        if draw(st.booleans()):
            rec.pop(name)
        else:
            rec[name] = draw(hostile_values)
    if draw(st.integers(0, 3)) == 0:
        rec["mac"] = draw(macs)
    if draw(st.integers(0, 3)) == 0:
        rec["site_id"] = draw(site_ids)
    if draw(st.integers(0, 3)) == 0:
        rec["port_id"] = draw(port_ids)
    if draw(st.integers(0, 3)) == 0:
        rec["port_usage"] = draw(usages)
    return rec


def _schema_valid(rec: dict) -> bool:
    """Valid against the official schema, a null read as an absent value (the spec marks the
    counters `nullable`, an OpenAPI 3.0 keyword JSON Schema ignores; a sample takes a null as
    "not reported")."""
    present = {k: v for k, v in rec.items() if v is not None}
    try:
        validate({"results": [present], "start": 0, "end": 0, "limit": 1, "total": 1}, SEARCH_PATH)
    except Exception:
        return False
    return True


def _sound(sample) -> None:
    """What the contract promises about an accepted sample's values."""
    v = dict(zip(RAW_FIELDS, sample.values, strict=True))
    assert MAC_RE.fullmatch(v["mac"]) and PORT_RE.fullmatch(v["port_id"])
    assert UUID_RE.fullmatch(sample.site_id)
    assert isinstance(v["up"], bool)
    for name in ("speed_mbps", *RATES, *COUNTERS):
        x = v[name]
        assert x is None or (type(x) is int and 0 <= x <= INT64_MAX), (name, x)
    for name in ("jitter_ms", "latency_ms", "loss_pct", "last_flapped"):
        x = v[name]
        assert x is None or (type(x) is float and math.isfinite(x) and x >= 0), (name, x)
    assert v["loss_pct"] is None or v["loss_pct"] <= 100


accepted_total = {"records": 0, "samples": 0, "quarantined": 0, "lan": 0}


@settings(
    max_examples=300 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(page=st.lists(records(), min_size=1, max_size=12))
def test_every_fuzzed_record_is_a_sound_sample_or_quarantined_with_a_reason(page):
    result = normalise_page(page, TS)
    assert result.records == len(page)
    accepted_total["records"] += len(page)
    accepted_total["samples"] += len(result.samples)
    accepted_total["quarantined"] += len(result.quarantined)
    accepted_total["lan"] += result.lan_skipped
    for q in result.quarantined:
        assert isinstance(q["reason"], str) and q["reason"]
    for sample in result.samples:
        _sound(sample)
    # a record the schema rejects (in the fields a sample is made of) is never a sample
    for rec in page:
        if normalise_page([rec], TS).samples:
            assert _schema_valid(rec), rec
    # and whatever is accepted builds the snapshot frame the KPIs read
    frame = sample_store.samples_frame(
        [s.site_id for s in result.samples], [s.values for s in result.samples]
    )
    assert len(frame) == len(result.samples)
    assert frame.attrs[sample_store.INVALID_VALUES] == 0


def test_fuzzed_figures(figures):
    """The totals the property saw (run first when this test runs alone), for the figures."""
    if not accepted_total["records"]:
        test_every_fuzzed_record_is_a_sound_sample_or_quarantined_with_a_reason()
    assert accepted_total["records"] >= 300
    assert accepted_total["samples"] > 0 and accepted_total["quarantined"] > 0
    figures.update(**accepted_total)


def test_schema_invalid_values_are_quarantined_one_by_one():
    """The issue's cases, each a record the old normaliser accepted with a wrong value or a value
    that broke the reader."""
    cases = {
        "uint64 glitch": {"rx_bytes": 2**64 - 1},
        "loss above 100 %": {"loss": 150.0},
        "mac with a trailing newline": {"mac": "5c5b35000001\n"},
        "float counter": {"tx_pkts": 12.7},
        "usage WAN": {"port_usage": "WAN"},
        "usage false": {"port_usage": False},
        "site id not a uuid": {"site_id": "site-1}"},
    }
    page = [port_record(k, **change) for k, change in enumerate(cases.values())]
    result = normalise_page(page, TS)
    assert result.samples == [] and result.lan_skipped == 0
    assert len(result.quarantined) == len(cases)
    reasons = [q["reason"] for q in result.quarantined]
    assert "out of range" in reasons[0] and "out of range" in reasons[1]
    assert "mac" in reasons[2] and "whole number" in reasons[3]
    assert "unknown port_usage" in reasons[4] and "unknown port_usage" in reasons[5]
    assert "site_id" in reasons[6]
    # a whole float is a whole number, not truncated: accepted as that int
    ok = normalise_page([port_record(9, rx_bytes=1e3)], TS)
    assert ok.samples[0].values[RAW_FIELDS.index("rx_bytes")] == 1000


def test_a_bad_stored_value_never_fails_the_read_of_the_others(redis_client):
    """Samples stored before the normaliser checked (or corrupted): the row with a value beyond
    int64 loses that value, counted; a row that is not a sample is skipped, counted; the rest is
    read whole."""
    from wanperf_dagster.store import keys

    good = normalise_page([port_record(k) for k in range(3)], TS).samples
    pipe = redis_client.pipeline()
    sample_store.queue_samples(pipe, int(TS // 600 * 600), good, None)
    pipe.execute()
    day = sample_store.day_of(TS)
    key = keys.raw_samples(day, good[0].site_id)
    bad = list(good[0].values)
    bad[RAW_FIELDS.index("rx_bytes")] = 2**64 - 1
    redis_client.hset(key, mapping={"1|bad": __import__("json").dumps(bad), "2|junk": "{not json"})
    frame = sample_store.read_site_days(redis_client, [(day, good[0].site_id)])
    assert len(frame) == 4 and frame["rx_bytes"].isna().sum() == 1
    assert frame.attrs[sample_store.INVALID_VALUES] == 2


def test_counters_beyond_2_53_survive_a_null_beside_them(redis_client):
    """A counter column with one null used to go through float64 when read back: every value
    above 2**53 (9 PB, a 10 Gbit/s port's counter after ~3 months) came back rounded."""
    big = 2**53 + 1
    page = [port_record(1, rx_bytes=big), port_record(2, rx_bytes=None)]
    result = normalise_page(page, TS)
    pipe = redis_client.pipeline()
    sample_store.queue_samples(pipe, int(TS // 600 * 600), result.samples, None)
    pipe.execute()
    frame = sample_store.read_site_days(
        redis_client, [(sample_store.day_of(TS), result.samples[0].site_id)]
    )
    assert frame["rx_bytes"].tolist()[0] == big and frame["rx_bytes"].isna().sum() == 1


def test_a_chunk_read_in_batches_equals_its_site_days_read_one_by_one(redis_client):
    """`read_site_days` parses a few site-days at a time (memory); across batches the rows are
    the same, in (ts, circuit_id) order, and bad values in different batches all counted."""
    from wanperf_dagster.store import keys

    n_sites = sample_store.READ_BATCH * 2 + 7
    sites = [str(uuid.UUID(int=i + 1)) for i in range(n_sites)]
    pipe = redis_client.pipeline()
    for slot in (int(TS // 600 * 600), int(TS // 600 * 600) + 600):
        records = [
            port_record(i % 5, site_id=site, mac=f"aa{i:010x}") for i, site in enumerate(sites)
        ]
        sample_store.queue_samples(pipe, slot, normalise_page(records, slot + 5).samples, None)
    pipe.execute()
    day = sample_store.day_of(TS)
    for site in (sites[3], sites[-2]):  # one bad value in the first batch, one in the last
        redis_client.hset(keys.raw_samples(day, site), mapping={"9|junk": "[1,2"})
    pairs = [(day, s) for s in sites]
    whole = sample_store.read_site_days(redis_client, pairs)
    one_by_one = [sample_store.read_site_days(redis_client, [p]) for p in pairs]
    assert len(whole) == 2 * n_sites
    assert whole.attrs[sample_store.INVALID_VALUES] == 2
    assert sum(f.attrs[sample_store.INVALID_VALUES] for f in one_by_one) == 2
    expected = (
        pd.concat(one_by_one, ignore_index=True)
        .sort_values(["ts", "circuit_id"], kind="stable")
        .reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(whole, expected)
    assert whole[["ts", "circuit_id"]].apply(tuple, axis=1).is_monotonic_increasing
