"""samples_frame builds number columns through Arrow when every value already is a number of
its type: the frame and its count of bad values are those of pandas' own conversion for any
mix of values (pure code: no Redis)."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wanperf_dagster.contract import FLOAT_FIELDS, INT_FIELDS, RAW_FIELDS
from wanperf_dagster.store import samples as sample_store

GOOD_INT = st.integers(min_value=0, max_value=2**63 - 1)
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["5", "1.5", "x", ""]),
    st.just([1]),
    st.just({}),
)


def _row(draw, column_values) -> list:
    row = []
    for field in RAW_FIELDS:
        if field == "ts":
            row.append(draw(st.integers(min_value=1_700_000_000, max_value=1_800_000_000)))
        elif field in ("mac", "port_id"):
            row.append(draw(st.sampled_from(["aa", "bb", "ge-0/0/0"])))
        elif field == "up":
            row.append(draw(st.sampled_from([True, False, None])))
        else:
            row.append(draw(column_values[field]))
    return row


@st.composite
def rows(draw):
    """Per column either only well-typed numbers (the usual case: the fast path) or any mix."""
    column_values = {}
    for field in (*INT_FIELDS, *FLOAT_FIELDS):
        clean = draw(st.booleans())
        if field in INT_FIELDS:
            column_values[field] = st.one_of(st.none(), GOOD_INT) if clean else ANY_VALUE
        else:
            numbers = st.one_of(st.none(), GOOD_INT, st.floats(allow_nan=False))
            column_values[field] = numbers if clean else ANY_VALUE
    return [_row(draw, column_values) for _ in range(draw(st.integers(0, 6)))]


def _pandas_only(site_ids, values, monkeypatch) -> pd.DataFrame:
    with monkeypatch.context() as patched:
        patched.setattr(sample_store, "_typed_columns", lambda columns, n: {})
        return sample_store.samples_frame(site_ids, values)


@settings(max_examples=300, deadline=None)
@given(values=rows())
def test_the_arrow_columns_equal_pandas_own_for_any_values(values):
    mp = pytest.MonkeyPatch()
    site_ids = [f"site-{k % 2}" for k in range(len(values))]
    expected = _pandas_only(site_ids, values, mp)
    got = sample_store.samples_frame(site_ids, values)
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs[sample_store.INVALID_VALUES] == expected.attrs[sample_store.INVALID_VALUES]


def test_clean_columns_take_the_arrow_path_and_bad_ones_do_not():
    good = [[1_764_000_000, "aa", "ge-0/0/0", True] + [None] * (len(RAW_FIELDS) - 4)]
    columns = dict(zip(RAW_FIELDS, zip(*good, strict=True), strict=True))
    columns["speed_mbps"], columns["rx_bps"] = (100,), (1.5,)  # 1.5 would truncate to 1
    columns["jitter_ms"], columns["loss_pct"] = (2,), ("0.1",)
    typed = sample_store._typed_columns(columns, 1)
    assert "speed_mbps" in typed and "jitter_ms" in typed
    assert "rx_bps" not in typed and "loss_pct" not in typed
    row = [1_764_000_000, "aa", "ge-0/0/0", True, 100, 1.5] + [None] * (len(RAW_FIELDS) - 6)
    frame = sample_store.samples_frame(["s"], [row])
    assert pd.isna(frame["rx_bps"].iloc[0])  # 1.5 is not a rate: dropped and counted, not 1
    assert frame.attrs[sample_store.INVALID_VALUES] >= 1


FIELDS = st.one_of(
    st.builds(
        lambda slot, circuit: f"{slot}|{circuit}".encode(),
        st.integers(min_value=0, max_value=2**70),
        st.sampled_from(["aa:ge-0/0/0", "", "x|y"]),
    ),
    st.binary(max_size=12),
    st.sampled_from([b"|", b"12|", b"-5|a", b" 7|a", b"\xd9\xa3|a", b"nobar"]),
)


@settings(max_examples=300, deadline=None)
@given(fields=st.lists(FIELDS, max_size=8), since=st.integers(0, 2**63 - 1))
def test_a_compacted_days_slots_are_picked_out_as_one_by_one(fields, since):
    """`unpack(blob, since)` picks the fields out in Arrow: the same as `_slot_of` field by
    field, a field past int64 or without a number before its bar included."""
    import pyarrow as pa

    picked = sample_store._from_slot(pa.array(fields, pa.binary()), since).to_pylist()
    assert picked == [(sample_store._slot_of(f) or 0) >= since for f in fields]
