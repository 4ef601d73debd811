"""Acknowledge, silence and end a silence from the alerts page in a real browser (headless
Chromium) against `wanperf dashboard`; what was done survives a restart of the dashboard (it is
in the alert state in Redis, which the evaluations follow)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from wanperf_dagster import alerts
from wanperf_dagster.defs.status.assets import incidents_frame
from wanperf_dagster.storage import AssetStore

from .conftest import serve_dashboard
from .test_dashboard_browser import ARTIFACTS, CHROMIUM, launch

pytestmark = [pytest.mark.browser, pytest.mark.storage]

ORG = "5f1b2c3d-0000-4000-8000-00000000a1e7"
T0 = 1_764_115_200


def test_acknowledge_silence_unsilence_from_the_page_and_it_survives_a_restart(
    redis_client, redis_url
):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"browser test skipped: no Chromium at {CHROMIUM} (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    storage = AssetStore(redis_client)
    down = alerts.Incident("down", "s1", "PARIS-1", "aa:ge-0/0/0", T0, 10.0, "down for 10 min")
    hot = alerts.Incident("congested", "s2", "LYON-2", "bb:ge-0/0/1", T0, 45.0, "hot 45 min")
    hook = alerts.destinations(("http://receiver.invalid/hook",), ())
    alerts.dispatch(storage, ORG, [down, hot], hook, T0, sender=lambda *a, **k: None)
    frame = incidents_frame([down, hot], [], [], acks={})
    storage.save("wan_alerts", {None: pa.Table.from_pandas(frame, preserve_index=False)}, 3600)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        with serve_dashboard(redis_url, MIST_ORG_ID=ORG) as base:
            page.goto(f"{base}/alerts")
            row = page.locator("#open tr", has_text="aa:ge-0/0/0")
            row.locator("input[name=by]").fill("alice")
            row.locator("input[name=note]").fill("carrier ticket 9")
            row.locator("button", has_text="Acknowledge").click()
            page.wait_for_selector("#done")
            assert "acknowledged: down@aa:ge-0/0/0 by alice" in page.inner_text("#done")
            taken = page.locator("#open tr", has_text="aa:ge-0/0/0").inner_text()
            assert "by alice" in taken and "carrier ticket 9" in taken
            # the other incident is still not taken: its form is still there
            assert page.locator("#open tr", has_text="bb:ge-0/0/1").locator("form").count() == 1
            page.fill("#silence input[name=site_id]", "s2")
            page.select_option("#silence select[name=kind]", "congested")
            page.fill("#silence input[name=hours]", "3")
            page.fill("#silence input[name=reason]", "LYON-2 ISP maintenance")
            page.fill("#silence input[name=by]", "bob")
            page.click("#silence button")
            page.wait_for_selector("#silences")
            assert "site s2, kind congested" in page.inner_text("#silences")
            page.screenshot(path=str(ARTIFACTS / "dashboard-alerts-actions.png"), full_page=True)
            port = int(base.rsplit(":", 1)[1])
        # a restart: what was done is in Redis, not in the dashboard's memory
        with serve_dashboard(redis_url, port=port, MIST_ORG_ID=ORG) as base:
            page.goto(f"{base}/alerts")
            assert "by alice" in page.locator("#open tr", has_text="aa:ge-0/0/0").inner_text()
            assert "LYON-2 ISP maintenance" in page.inner_text("#silences")
            page.locator("#silences button", has_text="End now").click()
            page.wait_for_selector("#no-silences")
            assert "silence ended" in page.inner_text("#done")
        browser.close()
    assert alerts.acknowledgements(storage, ORG)[down.key]["note"] == "carrier ticket 9"
    assert alerts.silences(storage, ORG) == []
    # the evaluation follows both: the acknowledged incident is not repeated
    told = []
    alerts.dispatch(
        storage,
        ORG,
        [down, hot],
        hook,
        T0 + 7200,
        sender=lambda d, e, i, *a, **k: told.append((e, i.key)),
        repeat_every=3600,
    )
    assert told == [("repeat-2", hot.key)]
