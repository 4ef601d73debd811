"""The Dagster UI in a real browser (headless Debian Chromium driven by Playwright): the asset
graph shows every asset, a partitioned asset shows its day x site partitions, and launching a
materialization from the UI succeeds. Screenshots are kept in test-artifacts/."""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.storage, pytest.mark.dagster]

CHROMIUM = os.environ.get("WANPERF_CHROMIUM", "/usr/bin/chromium")
PROJECT = Path(__file__).resolve().parents[2]
LOCATION = "wanperf_dagster.definitions"
ARTIFACTS = PROJECT / "test-artifacts"
ASSETS = [
    "mist_sites",
    "raw_port_stats",
    "wan_status_now",
    "site_snapshots",
    "circuit_kpis",
    "circuit_kpis_hourly",
    "region_kpis",
    "org_kpis",
    "top_offenders",
    "weekly_circuit_kpis",
    "monthly_circuit_kpis",
    "congestion_trends",
    "raw_wan_insights",
    "port_events",
    "site_sle",
    "site_sle_hourly",
    "vpn_path_kpis",
    "site_wan_health",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=20) as resp:
        return json.loads(resp.read())


def _mist_sites_runs(port: int) -> list[str]:
    body = _graphql(
        port,
        "{ runsOrError(filter: {}) { ... on Runs { results { status assetSelection { path } } } } }",
    )
    return [
        r["status"]
        for r in body["data"]["runsOrError"]["results"]
        if any(a["path"] == ["mist_sites"] for a in (r["assetSelection"] or []))
    ]


@pytest.fixture(scope="module")
def dagster_ui(redis_url, tmp_path_factory):
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(
            f"browser test skipped: no Chromium at {CHROMIUM} (install Debian's chromium; .ci/run does)"
        )
    pytest.importorskip(
        "playwright.sync_api", reason="browser test skipped: playwright not installed"
    )
    home = tmp_path_factory.mktemp("dagster-home")
    # the session's server starts empty: what an earlier test left (a replay's mark included)
    # would change what the seed replays
    from wanperf_dagster.store import connect

    connect(redis_url).flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIST_")}
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "WANPERF_DATA_DIR": str(home),
            "WANPERF_REDIS_URL": redis_url,
            "WANPERF_SIM_SITES": "8",
            "WANPERF_START_DATE": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 2 * 86400)),
        }
    )
    shutil.copyfile(PROJECT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    seed = subprocess.run(
        [sys.executable, "-m", "wanperf_dagster.cli", "seed", "--days", "0.05"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=PROJECT,
    )
    assert seed.returncode == 0, seed.stderr[-2000:]
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-w",
            str(PROJECT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                body = _graphql(port, "{ assetNodes { assetKey { path } } }")
                if len(body.get("data", {}).get("assetNodes") or []) >= len(ASSETS):
                    break
            except Exception:
                pass
            time.sleep(1)
        else:
            pytest.fail("dagster dev did not come up within 180 s")
        yield port
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


@pytest.fixture(scope="module")
def page(dagster_ui):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        pg = browser.new_page(viewport={"width": 1600, "height": 1000})
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def _dismiss_popups(page) -> None:
    with contextlib.suppress(Exception):
        page.get_by_role("button", name="Skip").click(timeout=3000)  # the community sign-up modal


def test_asset_graph_shows_every_asset(page, dagster_ui):
    page.goto(f"http://127.0.0.1:{dagster_ui}/asset-groups")
    page.get_by_text("ingest", exact=True).first.wait_for()
    _dismiss_popups(page)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "asset-groups.png"))
    seen = ""
    # a tall window: the graph draws only the nodes in view, and the kpis group has 8 assets
    page.set_viewport_size({"width": 2000, "height": 2600})
    for group in ("ingest", "status", "kpis", "rollups"):  # each group's graph, unfolded
        page.goto(f"http://127.0.0.1:{dagster_ui}/locations/{LOCATION}/asset-groups/{group}")
        page.locator("text=Latest event").first.wait_for()
        page.wait_for_timeout(1500)
        seen += page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / f"asset-graph-{group}.png"))
    page.set_viewport_size({"width": 1600, "height": 1000})
    missing = [a for a in ASSETS if a not in seen]
    assert not missing, f"not in the asset graph: {missing}"


def test_partitioned_asset_shows_day_by_site_partitions(page, dagster_ui):
    page.goto(f"http://127.0.0.1:{dagster_ui}/assets/circuit_kpis?view=partitions")
    _dismiss_popups(page)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    page.get_by_text(today).first.wait_for()
    page.wait_for_timeout(2000)
    page.screenshot(path=str(ARTIFACTS / "circuit-kpis-partitions.png"))
    assert page.get_by_placeholder("Filter by day").is_visible()  # both dimensions, side by side
    assert page.get_by_placeholder("Filter by site").is_visible()
    text = page.inner_text("body")
    sites = _site_partitions(dagster_ui)
    assert len(sites) == 8
    assert f"{3 * len(sites)} Partitions" in text  # 3 days (start .. today) x 8 sites
    # the seeded site-days: today's, and yesterday's too when the seed reached back past midnight
    materialized = _graphql(
        dagster_ui,
        '{ assetNodeOrError(assetKey: {path: ["circuit_kpis"]}) '
        "{ ... on AssetNode { partitionStats { numMaterialized } } } }",
    )["data"]["assetNodeOrError"]["partitionStats"]["numMaterialized"]
    assert materialized in (len(sites), 2 * len(sites))
    assert f"Materialized ({materialized})" in text
    page.goto(f"http://127.0.0.1:{dagster_ui}/assets/org_kpis")
    page.wait_for_timeout(3000)
    page.screenshot(path=str(ARTIFACTS / "org-kpis.png"))


def _site_partitions(port: int) -> list[str]:
    body = _graphql(
        port,
        '{ partitionSetsOrError: assetNodeOrError(assetKey: {path: ["circuit_kpis"]}) '
        "{ ... on AssetNode { partitionKeysByDimension { name partitionKeys } } } }",
    )
    dims = body["data"]["partitionSetsOrError"]["partitionKeysByDimension"]
    return next(d["partitionKeys"] for d in dims if d["name"] == "site")


def test_materialize_from_the_ui(page, dagster_ui):
    before = len(_mist_sites_runs(dagster_ui))
    page.goto(f"http://127.0.0.1:{dagster_ui}/assets/mist_sites")
    button = page.locator("button:has-text('Materialize')").first
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (button.is_visible() and button.is_enabled()):
        page.wait_for_timeout(500)
    _dismiss_popups(page)
    page.screenshot(path=str(ARTIFACTS / "mist-sites.png"))
    button.click(timeout=15_000)
    deadline = time.monotonic() + 120
    statuses = []
    while time.monotonic() < deadline:
        statuses = _mist_sites_runs(dagster_ui)
        if len(statuses) > before and statuses[0] in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    page.screenshot(path=str(ARTIFACTS / "materialize.png"))
    assert len(statuses) > before, "no run was launched"
    assert statuses[0] == "SUCCESS", statuses


def _materialized(port: int, asset: str) -> int:
    query = (
        '{ assetNodeOrError(assetKey: {path: ["ASSET"]}) '
        "{ ... on AssetNode { partitionStats { numMaterialized } } } }"
    )
    body = _graphql(port, query.replace("ASSET", asset))
    return body["data"]["assetNodeOrError"]["partitionStats"]["numMaterialized"]


def test_a_site_is_found_by_name_in_the_partition_picker(page, dagster_ui):
    sites = _site_partitions(dagster_ui)
    name = sites[3].rsplit("_", 1)[0]  # the key is <name>_<site id>
    other = sites[0].rsplit("_", 1)[0]
    page.goto(f"http://127.0.0.1:{dagster_ui}/assets/circuit_kpis?view=partitions")
    _dismiss_popups(page)
    picker = page.get_by_placeholder("Filter by site")
    picker.wait_for()
    picker.fill(name)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "site-picker.png"))
    text = page.inner_text("body")
    assert name in text and other not in text


@pytest.fixture(scope="module")
def fullest_day(dagster_ui, redis_url) -> str:
    """The seeded day with the most samples. The seed's 72 minutes end now, so shortly after
    midnight UTC today holds a slot or none and the day's figures are rightly empty: the pages
    that show a day's figures are read on the day that has them, at any hour."""
    from wanperf_dagster.storage import AssetStore, site_day_key
    from wanperf_dagster.store import connect

    store = AssetStore(connect(redis_url))
    sites = _site_partitions(dagster_ui)
    samples = {}
    for back in (0, 1):
        day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - back * 86400))
        keys = [site_day_key(day, s) for s in sites]
        rows = store.load("circuit_kpis", keys, allow_missing=True).to_pandas()
        samples[day] = int(rows["samples"].sum()) if len(rows) else 0
    day = max(samples, key=samples.get)
    assert samples[day] > 0, f"the seed left no samples: {samples}"
    return day


def test_a_site_day_shows_that_sites_own_figures(page, dagster_ui, redis_url, fullest_day):
    from wanperf_dagster.storage import AssetStore, site_day_key
    from wanperf_dagster.store import connect

    site = _site_partitions(dagster_ui)[2]
    key = site_day_key(fullest_day, site)
    rows = AssetStore(connect(redis_url)).load("circuit_kpis", [key]).to_pandas()
    page.goto(f"http://127.0.0.1:{dagster_ui}/assets/circuit_kpis?view=partitions&partition={key}")
    page.get_by_text("worst_circuit").first.wait_for()
    page.wait_for_timeout(1500)
    _dismiss_popups(page)
    page.screenshot(path=str(ARTIFACTS / "site-day.png"))

    def value(key: str) -> str:
        cell = page.locator("td", has_text=re.compile(f"^{key}$")).first
        return cell.locator("xpath=following-sibling::td[1]").inner_text().strip()

    assert value("site") == site.rsplit("_", 1)[0] == str(rows["site_name"].iloc[0])
    assert int(value("circuits")) == len(rows)  # this site's circuits, not the chunk's
    assert float(value("down_minutes")) == round(rows["down_seconds"].sum() / 60, 1)


def test_the_worst_circuits_are_a_table_with_site_names(page, dagster_ui, fullest_day):
    page.goto(
        f"http://127.0.0.1:{dagster_ui}/assets/top_offenders?view=partitions"
        f"&partition={fullest_day}"
    )
    _dismiss_popups(page)
    page.get_by_text("worst_by_util_p95_pct").first.wait_for()
    row = page.locator("tr", has_text="worst_by_util_p95_pct").first
    row.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "top-offenders.png"))
    text = row.inner_text()
    assert "site_name" in text and "region" in text
    names = {k.rsplit("_", 1)[0] for k in _site_partitions(dagster_ui)}
    assert any(name in text for name in names)


def test_weeks_and_months_are_filled_by_the_seed(dagster_ui):
    assert _materialized(dagster_ui, "weekly_circuit_kpis") >= 1
    assert _materialized(dagster_ui, "monthly_circuit_kpis") >= 1


def test_the_seed_fills_the_insight_assets(dagster_ui):
    """The replay ingests the WAN insight feeds with its sweeps: their site-days and the site-day
    view are materialized like the KPIs."""
    sites = len(_site_partitions(dagster_ui))
    for asset in ("port_events", "site_sle", "vpn_path_kpis"):
        assert _materialized(dagster_ui, asset) == _materialized(dagster_ui, "circuit_kpis"), asset
        assert _materialized(dagster_ui, asset) >= sites, asset
    assert _materialized(dagster_ui, "site_wan_health") >= 1
