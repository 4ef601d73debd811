"""The insight feeds' storage: idempotent fields, batched reads equal to one-by-one reads,
unreadable values counted, coverage windows merged."""

import pandas as pd
import pytest

from wanperf_dagster.store import insights as feed_store
from wanperf_dagster.store import keys

pytestmark = pytest.mark.storage

DAY0 = 1_764_115_200
DAY = "2025-11-26"


def _event(site: str, k: int) -> dict:
    return {
        "ts": DAY0 + 100 * k + 0.25,
        "site_id": site,
        "circuit_id": f"m{site}:ge-0/0/0",
        "mac": f"m{site}",
        "port_id": "ge-0/0/0",
        "event": "down" if k % 2 == 0 else "up",
        "type": "GW_PORT_DOWN" if k % 2 == 0 else "GW_PORT_UP",
        "text": "",
    }


def test_batched_reads_equal_one_by_one_reads_and_count_bad_values(redis_client):
    sites = [f"s{i:03d}" for i in range(2 * feed_store.READ_BATCH + 7)]  # three batches
    pipe = redis_client.pipeline(transaction=False)
    for i, site in enumerate(sites):
        rows = [_event(site, k) for k in range(i % 4 + 1)]
        assert feed_store.queue_rows(pipe, "events", rows + rows[:1], None) == len(rows) + 1
    pipe.execute()
    # a repeated event is one field; two unreadable values in two different batches
    redis_client.hset(keys.raw_feed("events", DAY, sites[3]), "x", b"{not json")
    redis_client.hset(keys.raw_feed("events", DAY, sites[-1]), "y", b"[1, 2]")
    together = feed_store.read_site_days(redis_client, "events", [(DAY, s) for s in sites])
    assert together.attrs["invalid_values"] == 2
    assert len(together) == sum(i % 4 + 1 for i in range(len(sites)))
    one_by_one = pd.concat(
        [feed_store.read_site_days(redis_client, "events", [(DAY, s)]) for s in sites],
        ignore_index=True,
    )
    order = ["ts", "site_id", "circuit_id"]
    pd.testing.assert_frame_equal(
        together.sort_values(order).reset_index(drop=True),
        one_by_one.sort_values(order).reset_index(drop=True),
    )
    assert str(together["ts"].dtype) == "datetime64[ns, UTC]"
    empty = feed_store.read_site_days(redis_client, "events", [(DAY, "nowhere")])
    assert empty.empty and list(empty.columns) == feed_store.EVENT_COLUMNS


def test_coverage_windows_merge_where_they_touch(redis_client):
    pipe = redis_client.pipeline(transaction=False)
    for s, e in ((100, 200), (200, 300), (250, 260), (400, 500)):
        feed_store.queue_coverage(pipe, "org-1", s, e)
    pipe.execute()
    assert feed_store.event_coverage(redis_client, "org-1", 0, 1000) == [(100, 300), (400, 500)]
    assert feed_store.event_coverage(redis_client, "org-1", 301, 399) == []
    assert feed_store.event_coverage(redis_client, "org-1", 450, 460) == [(400, 500)]
