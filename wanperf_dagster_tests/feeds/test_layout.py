"""A feed is a folder and its registry lines: every feed the registry names has its folder (fetch,
assets), is in the code location, is ingested by default and has its place in the raw store, so
a new feed that misses one of them fails here rather than silently never running."""

from pathlib import Path

import wanperf_dagster.feeds as feeds_package
from wanperf_dagster.feeds.definitions import FEED_ASSETS
from wanperf_dagster.settings import INSIGHT_FEEDS
from wanperf_dagster.storage.datasets import FEEDS, raw_feed_of
from wanperf_dagster.store import insights as feed_store

FOLDER = Path(feeds_package.__file__).parent


def test_every_feed_of_the_registry_is_a_folder_with_its_assets():
    folders = {p.name for p in FOLDER.iterdir() if (p / "__init__.py").exists()}
    assert folders == set(FEEDS)
    assert {m.__name__.split(".")[-2] for m in FEED_ASSETS} == set(FEEDS)
    for feed in FEEDS:
        assert (FOLDER / feed / "assets.py").exists(), feed
        assert raw_feed_of(feed).kind == "feed", feed


def test_every_insight_feed_is_fetched_ingested_and_stored():
    insight_feeds = set(FEEDS) - {"ports"}  # the ports are the sweep's (mist/sweep.py)
    assert set(INSIGHT_FEEDS) == insight_feeds == set(feed_store.FEEDS)
    for feed in insight_feeds:
        fetch = (FOLDER / feed / "fetch.py").read_text()
        assert "\ndef ingest(" in fetch, feed
        assert f"import fetch as {feed}" in (FOLDER / "ingest.py").read_text(), feed
        assert feed in feed_store.TIME_COLUMN, feed
