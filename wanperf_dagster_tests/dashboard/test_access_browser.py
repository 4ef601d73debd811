"""An org viewer in a real browser (headless Chromium) against `wanperf dashboard` with a users
file, over two orgs' day: signs in, searches, opens site pages, follows their links, downloads the
SLA CSV, and never sees a site, circuit, alert or figure of the other org, even by typing its
site's address (403). A wrong password keeps them out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import DAY, MSP_PASSWORD, serve_dashboard
from .test_dashboard_browser import ARTIFACTS, CHROMIUM, launch

pytestmark = [pytest.mark.browser, pytest.mark.storage]


def test_an_org_viewer_never_sees_another_org(msp_day, users_file, redis_url):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"browser test skipped: no Chromium at {CHROMIUM} (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    sites = msp_day.sites
    a, b = (msp_day.worlds[n].org.id for n in "AB")
    mine, theirs = sites[sites["org_id"] == a], sites[sites["org_id"] == b]
    b_ids = set(theirs["site_id"])
    b_circuits = set(
        msp_day.daily[msp_day.daily["site_id"].astype(str).isin(b_ids)]["circuit_id"].astype(str)
    )
    forbidden = [*theirs["name"], *b_circuits, b, "Org B", msp_day.incidents["B"].detail]
    a_circuits = msp_day.daily[msp_day.daily["site_id"].astype(str).isin(set(mine["site_id"]))]
    ARTIFACTS.mkdir(exist_ok=True)
    seen: list[str] = []

    def look(page) -> str:
        text = page.content()
        seen.append(text)
        for other in forbidden:
            assert other not in text, (page.url, other)
        return text

    with (
        sync_playwright() as p,
        serve_dashboard(redis_url, WANPERF_DASHBOARD_USERS=str(users_file)) as base,
    ):
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.goto(f"{base}/?from={DAY}&to={DAY}")
        page.wait_for_selector("#login")  # sent to sign in first
        page.fill("input[name=user]", "anna")
        page.fill("input[name=password]", "not her password")
        page.click("#login button")
        assert "Wrong user name or password" in page.inner_text("#message")
        page.fill("input[name=user]", "anna")
        page.fill("input[name=password]", MSP_PASSWORD)
        page.click("#login button")
        page.wait_for_selector("#card-circuits")
        assert page.url.endswith(f"/?from={DAY}&to={DAY}")  # where they were going, kept
        text = look(page)
        region_circuits = page.eval_on_selector_all(
            "h2:has-text('By region') + table tr td:nth-child(2)",
            "els => els.map(e => +e.innerText)",
        )
        assert sum(region_circuits) == a_circuits["circuit_id"].nunique()  # A's, not the MSP's
        assert "anna · viewer · Org A" in page.inner_text("#who")
        assert page.inner_text("#card-circuits b") == str(a_circuits["circuit_id"].nunique())
        assert "B down 10 min" not in text and "A down 10 min" in text
        page.screenshot(path=str(ARTIFACTS / "dashboard-viewer-overview.png"), full_page=True)
        # search: every one of A's sites, none of B's (all names carry an org's letter)
        page.fill("#search input[name=q]", "-")
        page.click("#search button")
        page.wait_for_url("**/search**")
        look(page)
        assert page.locator("table a").count() == len(mine)
        # a site page, then every link on it that stays on the dashboard
        page.click(f"text={mine['name'].iloc[0]}")
        page.wait_for_url(f"**/site/{mine['site_id'].iloc[0]}**")
        look(page)
        links = {
            h
            for h in page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
            if h and h.startswith("/") and not h.startswith("//")
        }
        assert links
        for href in sorted(links):
            page.goto(base + href)
            look(page)
        # the alerts page and the SLA month, and its CSV download
        page.goto(f"{base}/alerts")
        look(page)
        assert page.locator("#read-only").count() == 1
        page.goto(f"{base}/sla?month=2025-11")
        look(page)
        with page.expect_download() as download:
            page.click("#csv")
        csv = Path(download.value.path()).read_text()
        for other in b_circuits:
            assert other not in csv
        assert str(a_circuits["circuit_id"].iloc[0]) in csv
        # B's site by its address: refused, with nothing of it on the page
        for site in theirs["site_id"]:
            answer = page.goto(f"{base}/site/{site}")
            assert answer.status == 403
            look(page)
        browser.close()
    assert len(seen) >= 8
