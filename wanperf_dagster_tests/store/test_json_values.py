"""decode_json_values: one parse for whole values, and the same rows and counts as a parse per
value whenever some value is not whole (pure code: no Redis)."""

import json

import pytest

from wanperf_dagster.store.codec import decode_each_json_value, decode_json_values


def _one_by_one(values, accept):
    """The reference: json.loads of each value on its own."""
    return decode_each_json_value(values, accept)


def is_dict(row):
    return isinstance(row, dict)


def pair(row):
    return isinstance(row, list) and len(row) == 2


GOOD = [json.dumps({"ts": i, "v": [i, None, "x,y]"]}).encode() for i in range(5)]


@pytest.mark.parametrize(
    "bad, accept",
    [
        (b"{not json", is_dict),
        (b'{"a": 1', is_dict),  # truncated
        (b'{"a":1},{"b":2}', is_dict),  # two rows in one value: one value, unreadable
        (b"[1, 2]", is_dict),  # JSON, but not a row
        (b"", is_dict),
        (b"[1,2", pair),  # truncated list
        (b"[1,2,3]", pair),  # the wrong width
        (b"1,2", pair),
    ],
)
def test_a_bad_value_drops_only_itself(bad, accept):
    values = GOOD[:2] + [bad] + GOOD[2:]
    if accept is pair:
        values = [b"[1,2]", b"[3,4]", bad, b'["a","b"]']
    assert decode_json_values(values, accept) == _one_by_one(values, accept)
    rows, unreadable = decode_json_values(values, accept)
    assert unreadable == 1 and len(rows) == len(values) - 1


def test_whole_values_parse_in_order_as_bytes_or_text():
    rows, bad = decode_json_values(GOOD, is_dict)
    assert bad == 0 and rows == [json.loads(v) for v in GOOD]
    text = [v.decode() for v in GOOD]
    assert decode_json_values(text, is_dict) == (rows, 0)
    assert decode_json_values([], is_dict) == ([], 0)
