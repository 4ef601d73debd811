"""The NOC dashboard in a real browser (headless Debian Chromium, Playwright), served by
`wanperf dashboard` over a store holding a simulated org's day: open the overview, search a site
by name, open a circuit, change the range and see the series redraw; the figures in the page
equal the stored KPIs. Screenshots go to test-artifacts/ (the README's come from there)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.storage]

CHROMIUM = os.environ.get("WANPERF_CHROMIUM", "/usr/bin/chromium")
PROJECT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT / "test-artifacts"
DAY = "2025-11-26"


def launch(playwright):
    """Debian's Chromium, headless, as the CI machine runs it."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
        args=["--no-sandbox"],
    )


@pytest.fixture
def dashboard(dashboard_server):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"browser test skipped: no Chromium at {CHROMIUM} (.ci/run installs it)")
    pytest.importorskip("playwright.sync_api", reason="browser test skipped: no playwright")
    return dashboard_server


def test_search_open_a_circuit_change_the_range(dashboard, org_day):
    from playwright.sync_api import sync_playwright

    _, sites, daily, _ = org_day
    site = sites.iloc[4]
    rows = daily[daily["site_id"].astype(str) == site["site_id"]].sort_values("circuit_id")
    circuit = str(rows["circuit_id"].iloc[0])
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{dashboard}/?from={DAY}&to={DAY}")
        page.wait_for_selector("#regions-fig svg")
        assert page.locator("text=WAN overview").count() == 1
        page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

        # search by name (lower case, a part of it): one match goes straight to the site
        page.fill("#search input[name=q]", site["name"].lower()[2:])
        page.click("#search button")
        page.wait_for_url(f"**/site/{site['site_id']}**")
        assert page.locator("h1").inner_text().startswith(site["name"])
        page.wait_for_selector(".js-plotly-plot .main-svg")

        # the circuit's row links to its figure; its numbers are the stored KPIs
        page.click(f"a[href='#c-{''.join(c if c.isalnum() else '-' for c in circuit)}']")
        table = page.locator("table").first
        stored = rows.iloc[0]
        cells = table.locator("tr").nth(1).locator("td").all_inner_texts()
        assert cells[0] == circuit
        assert float(cells[3]) == round(float(stored["availability_pct"]), 2)
        assert float(cells[4]) == round(stored["down_seconds"] / 60, 2)
        assert int(float(cells[5])) == int(stored["flaps"])
        assert float(cells[6]) == round(float(stored["util_p95_pct"]), 2)
        figures = page.locator(".js-plotly-plot").count()
        assert figures == len(rows)
        points_day = page.evaluate(
            "() => document.querySelector('.js-plotly-plot').data[0].x.length"
        )
        page.screenshot(path=str(ARTIFACTS / "dashboard-site.png"), full_page=True)

        # a month: the page redraws from the hourly KPIs
        page.fill("#range input[name=from]", "2025-11-01")
        page.click("#range button")
        page.wait_for_url("**from=2025-11-01**")
        page.wait_for_selector(".js-plotly-plot .main-svg")
        assert page.locator("text=hourly KPIs").count() == 1
        points_month = page.evaluate(
            "() => document.querySelector('.js-plotly-plot').data[0].x.length"
        )
        assert points_day == 144 and points_month == 24  # a day's samples, then its hours
        browser.close()


def test_the_overview_before_the_first_sweep_and_after(dashboard, org_day, redis_client):
    """Before any sweep the cards say they do not know (grey dashes, no green zero) and when
    they will; after one, figures with the time they are as of. The page is usable at once:
    it loads no plotting library."""
    import time

    import pandas as pd
    import pyarrow as pa
    from playwright.sync_api import sync_playwright

    from wanperf_dagster.store import keys

    assets = org_day[0]
    status = assets.latest("wan_status_now").to_pandas()
    for asset in ("wan_status_now", "wan_alerts"):
        redis_client.delete(keys.asset_value([asset], None))
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 900})

        def card(name: str) -> tuple[str, str]:
            b = page.locator(f"#card-{name} b")
            return b.inner_text(), b.evaluate("e => getComputedStyle(e).color")

        green = "rgb(30, 132, 73)"
        page.goto(f"{dashboard}/?from={DAY}&to={DAY}")
        for name in ("down", "congested", "not-reporting", "alerts"):
            text, colour = card(name)
            assert text == "—" and colour != green, name
        assert "No sweep has reported yet" in page.locator("#as-of").inner_text()
        page.screenshot(path=str(ARTIFACTS / "dashboard-before-first-sweep.png"), full_page=True)

        # a sweep reported a minute ago
        just_now = pd.Timestamp(time.time() - 60, unit="s", tz="UTC")
        status = status.assign(last_seen=just_now)
        assets.save(
            "wan_status_now", {None: pa.Table.from_pandas(status, preserve_index=False)}, 3600
        )
        page.goto(f"{dashboard}/?from={DAY}&to={DAY}")
        down, colour = card("down")
        assert down == str(int(status[status["window_hours"] == 3]["up_now"].eq(False).sum()))
        assert colour in (green, "rgb(192, 57, 43)")
        assert "(1 min ago)" in page.locator("#as-of").inner_text()
        assert card("alerts")[0] == "—"  # the alerts are not evaluated yet: said so
        assert page.evaluate("() => typeof Plotly") == "undefined"
        browser.close()
