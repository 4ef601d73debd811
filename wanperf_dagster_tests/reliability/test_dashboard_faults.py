"""The dashboard under load and faults, served by uvicorn over real HTTP: a page whose store is
slow does not hold `/healthz` or the other pages; a range to the year 9999 is cut and said so,
and answers at once; a store that fails gives a page that says what failed, never a traceback."""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import uvicorn

from harness.receivers import free_port
from wanperf_dagster.dashboard import build_app
from wanperf_dagster.settings import Settings
from wanperf_dagster.storage import AssetStore
from wanperf_dagster_tests.dashboard.conftest import org_day  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.storage, pytest.mark.integration]

TODAY = dt.date(2025, 11, 26)


class SlowStore(AssetStore):
    """The org's store behind a history tier that takes `pause` seconds a read of many site-days
    (a far S3 bucket), or fails outright."""

    def __init__(self, inner: AssetStore, pause: float = 0.0, fail: bool = False):
        super().__init__(inner.client, inner.compression, inner.history)
        self.pause, self.fail = pause, fail

    def load_site_days(self, asset, days, site_ids):
        if self.fail:
            raise OSError("history tier: s3://bucket/prefix/circuit_kpis/day=2025-11-26 unreadable")
        time.sleep(self.pause)
        return super().load_site_days(asset, days, site_ids)


def _serve(store: AssetStore):
    port = free_port()
    app = build_app(Settings.from_env({}), store, today=lambda: TODAY)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def test_a_slow_page_holds_neither_healthz_nor_the_other_pages(org_day, figures):  # noqa: F811
    server, thread, base = _serve(SlowStore(org_day[0], pause=3.0))
    try:
        with ThreadPoolExecutor(4) as pool:
            slow = [pool.submit(requests.get, f"{base}/", timeout=30) for _ in range(2)]
            time.sleep(0.3)  # the slow pages are being built
            health = []
            for _ in range(5):
                t0 = time.perf_counter()
                assert requests.get(f"{base}/healthz", timeout=5).text == "ok"
                health.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            search = requests.get(f"{base}/search", params={"q": "zz"}, timeout=5)
            other_page = time.perf_counter() - t0
            assert all(f.result().ok for f in slow)
        assert max(health) < 1.0 and search.ok and other_page < 1.0
        figures.update(healthz_worst_s=round(max(health), 3), other_page_s=round(other_page, 3))
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_range_to_the_year_9999_is_cut_and_answers_at_once(org_day, figures):  # noqa: F811
    server, thread, base = _serve(org_day[0])
    try:
        t0 = time.perf_counter()
        page = requests.get(
            f"{base}/", params={"from": "0001-01-01", "to": "9999-12-31"}, timeout=30
        )
        took = time.perf_counter() - t0
        assert page.ok and took < 5.0
        assert "the range ends today (2025-11-26)" in page.text
        assert "the range is cut to the 400 days up to 2025-11-26" in page.text
        site = org_day[1].iloc[0]["site_id"]
        far = requests.get(
            f"{base}/site/{site}", params={"from": "0001-01-01", "to": "9999-12-31"}, timeout=30
        )
        assert far.ok and "daily KPIs" in far.text
        figures.update(far_range_overview_s=round(took, 3))
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_store_that_fails_gives_a_page_that_says_what_failed(org_day):  # noqa: F811
    server, thread, base = _serve(SlowStore(org_day[0], fail=True))
    try:
        site = org_day[1].iloc[0]["site_id"]
        page = requests.get(f"{base}/site/{site}", timeout=30)
        assert page.status_code == 500
        assert "This page could not be built" in page.text and "OSError" in page.text
        assert "unreadable" in page.text and "Traceback" not in page.text
        assert requests.get(f"{base}/healthz", timeout=5).text == "ok"  # the rest goes on
    finally:
        server.should_exit = True
        thread.join(10)
