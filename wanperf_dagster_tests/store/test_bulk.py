import pyarrow as pa
import pytest

from wanperf_dagster import store
from wanperf_dagster.store import keys

pytestmark = pytest.mark.storage


def test_put_and_get_blobs_roundtrip_with_ttl(redis_client):
    blobs = {f"wanperf:test:{i}": bytes([i % 256]) * (i + 1) for i in range(2500)}
    written = store.put_blobs(redis_client, blobs, ttl_seconds=3600)
    assert written == sum(len(b) for b in blobs.values())
    got = store.get_blobs(redis_client, list(blobs) + ["wanperf:test:missing"])
    assert got[:-1] == list(blobs.values())
    assert got[-1] is None
    assert 3590 <= redis_client.ttl("wanperf:test:7") <= 3600


def test_put_blobs_without_ttl_persists(redis_client):
    store.put_blobs(redis_client, {"wanperf:test:p": b"x"}, ttl_seconds=None)
    assert redis_client.ttl("wanperf:test:p") == -1


def test_pipelines_use_few_round_trips(redis_client, monkeypatch):
    calls = []
    real = type(redis_client.pipeline()).execute

    def counting(self, *a, **kw):
        calls.append(len(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(type(redis_client.pipeline()), "execute", counting)
    blobs = {f"wanperf:test:{i}": b"v" for i in range(2000)}
    store.put_blobs(redis_client, blobs, 60)
    store.get_blobs(redis_client, list(blobs))
    assert calls == [1000, 1000, 1000, 1000]


def test_cache_age_index(redis_client):
    pipe = redis_client.pipeline(transaction=False)
    store.touch_sites(pipe, "org1", {"s1": 1000.0, "s2": 2000.0, "s3": 3000.0})
    pipe.execute()
    # an older sample replayed later must not make a site look fresher or staler
    pipe = redis_client.pipeline(transaction=False)
    store.touch_sites(pipe, "org1", {"s3": 500.0, "s4": 2500.0})
    pipe.execute()
    assert store.sites_by_age(redis_client, "org1") == [
        ("s1", 1000.0),
        ("s2", 2000.0),
        ("s4", 2500.0),
        ("s3", 3000.0),
    ]
    assert store.stale_sites(redis_client, "org1", older_than_seconds=1000, now=3200) == [
        "s1",
        "s2",
    ]
    assert store.stale_sites(redis_client, "org1", older_than_seconds=10_000, now=3200) == []


def test_codec_roundtrip_is_compressed():
    table = pa.table({"site_id": ["abc"] * 5000, "v": list(range(5000))})
    blob = store.encode_table(table)
    assert store.decode_table(blob).equals(table)
    assert len(blob) < len(store.encode_table(table, compression=None)) / 3


def test_keys_share_hash_tag_per_site_day():
    assert keys.asset_value(["circuit_kpis"], "2026-11-26|s1").endswith("{2026-11-26|s1}")
    assert keys.raw_samples("2026-11-26", "s1").endswith("{2026-11-26|s1}")
    assert keys.asset_value(["org_kpis"]).startswith("wanperf:v1:")


def test_a_value_written_by_the_per_buffer_codec_is_still_read():
    """Values stored before the whole-stream codec (a plain IPC stream, buffers compressed one
    by one) stay readable."""
    import pyarrow.ipc as ipc

    table = pa.table({"a": [1, 2, None], "b": ["x", "y", "z"]})
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema, options=ipc.IpcWriteOptions(compression="zstd")) as w:
        w.write_table(table)
    assert store.decode_table(sink.getvalue().to_pybytes()).equals(table)
    assert store.encode_table(table)[:4] == b"WPZ1"
