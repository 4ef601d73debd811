"""The NOC dashboard over a real store: a simulated org's day saved through the storage API (as
the assets save it), pages fetched from the app. Names not ids, search by name or id, a site page
with every circuit's series and the 70/80/90 % bands, links to the Dagster partitions, the
resolution following the range, a day read back from the history tier once Redis let it go, and
`wanperf dashboard` answering over real HTTP."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import requests
from starlette.testclient import TestClient

from wanperf_dagster import kpi
from wanperf_dagster.dagster_io.storage import site_day_key
from wanperf_dagster.dashboard import build_app
from wanperf_dagster.settings import Settings
from wanperf_dagster.store import keys

pytestmark = [pytest.mark.storage]

DAY0 = 1_764_115_200  # 2025-11-26
DAY = "2025-11-26"
TODAY = dt.date(2025, 11, 26)
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(org_day):
    settings = Settings.from_env({"WANPERF_DAGSTER_URL": "http://dagster.example:3000"})
    return TestClient(build_app(settings, org_day[0], today=lambda: TODAY))


def test_the_overview_names_sites_and_regions(client, org_day):
    daily = org_day[2]
    page = client.get("/").text
    assert "WAN overview · 2025-11-26" in page
    assert "R0" in page and "R1" in page  # the regions, with their availability
    worst, _ = kpi.offender_rows(daily, ["availability_pct", "util_p95_pct"], 5)
    assert len(worst)
    for name in worst["site_name"].astype(str):
        assert name in page
    for site_id in worst["site_id"].astype(str):
        assert f'href="/site/{site_id}?from=2025-11-26' in page  # linked, shown by name
        assert f">{site_id}<" not in page
    assert (
        "http://dagster.example:3000/assets/top_offenders?view=partitions&amp;partition=2025-11-26"
        in page
    )
    circuits = daily["circuit_id"].nunique()
    assert re.search(rf"circuits<b>{circuits}</b>", page)
    # the worst sites: lowest availability first, by name, with their figures
    per_site = kpi.site_daily_kpis(daily).sort_values(
        ["availability_pct", "down_seconds"], ascending=[True, False]
    )
    section = page.split("Worst sites", 1)[1].split("Worst circuits", 1)[0]
    first = per_site.iloc[0]
    assert section.index(str(first["site_name"])) < section.index(
        str(per_site.iloc[1]["site_name"])
    )
    assert f">{round(float(first['availability_pct']), 2)}<" in section
    # exact from the port events: down time to the second, shown in minutes
    assert (daily["state_source"] == "events").all() and (daily["down_seconds"] % 60 != 0).any()
    assert f">{round(first['down_seconds'] / 60, 2)}<" in section


def test_search_by_name_or_id(client, org_day):
    _, sites, _, _ = org_day
    one = sites.iloc[3]
    # a unique name goes straight to the site's page (any case), an id too
    for query in (one["name"].lower(), one["site_id"][:13]):
        response = client.get("/search", params={"q": query}, follow_redirects=False)
        assert response.status_code == 303, query
        assert response.headers["location"].startswith(f"/site/{one['site_id']}")
    # a common prefix lists every match by name
    prefix = str(one["name"])[:2]
    page = client.get("/search", params={"q": prefix}).text
    assert all(name in page for name in sites["name"] if name.lower().startswith(prefix.lower()))
    assert "No site's name or id contains" in client.get("/search", params={"q": "zzz-none"}).text
    listed = client.get("/search", params={"region": "R1"}).text
    assert all(
        (name in listed) == (region == "R1")
        for name, region in zip(sites["name"], sites["region"], strict=True)
    )


def test_a_site_page_draws_every_circuit_with_the_bands(client, org_day):
    _, sites, daily, keys_of = org_day
    site = sites.iloc[0]
    page = client.get(f"/site/{site['site_id']}").text
    circuits = sorted(
        daily[daily["site_id"].astype(str) == site["site_id"]]["circuit_id"].astype(str)
    )
    assert circuits
    for circuit in circuits:
        escaped = circuit.replace("/", "\\u002f")  # as Plotly writes it into the page
        assert f'"text":"{escaped}"' in page  # the figure's title
    # the bands at 70, 80 and 90 % on every circuit's utilisation plot
    for band in (70, 80, 90):
        assert page.count(f'"y0":{band},"y1":{band}') == len(circuits)
    assert "every sample" in page
    partition = f"2025-11-26|{keys_of[site['site_id']]}".replace("|", "%7C")
    link = f"/assets/site_snapshots?view=partitions&amp;partition={partition}"
    assert page.count(link) == 1 + len(circuits)  # the page's and each figure's
    assert site["name"] in page and site["region"] in page
    assert client.get("/site/no-such-site").status_code == 404


def test_a_site_page_shows_its_wan_sle_and_vpn_paths(client, org_day):
    assets, sites, _, keys_of = org_day
    site = sites.iloc[1]  # not the hub: it has paths
    page = client.get(f"/site/{site['site_id']}").text
    key = f"2025-11-26|{keys_of[site['site_id']]}"
    sle = assets.load("site_sle", [key]).to_pandas().iloc[0]
    assert "WAN SLE" in page and str(sle["wan_link_health_band"]) in page
    assert f">{round(float(sle['wan_link_health']), 3)}<" in page
    paths = assets.load("vpn_path_kpis", [key]).to_pandas()
    assert len(paths) and all(p.replace(">", "&gt;") in page for p in paths["path_id"])
    assert "/assets/vpn_path_kpis?view=partitions" in page
    hub = sites.iloc[0]  # the hub has no path of its own: no paths table
    assert "VPN paths" not in client.get(f"/site/{hub['site_id']}").text


def test_the_resolution_follows_the_range(client, org_day):
    _, sites, _, _ = org_day
    site = sites.iloc[1]["site_id"]
    week = client.get(f"/site/{site}", params={"from": "2025-11-20", "to": "2025-11-26"}).text
    month = client.get(f"/site/{site}", params={"from": "2025-11-01", "to": "2025-11-26"}).text
    year = client.get(f"/site/{site}", params={"from": "2025-01-01", "to": "2025-11-26"}).text
    assert "every sample" in week
    assert "hourly KPIs" in month and "util_p95_pct" not in month.split("<script")[0]
    assert "daily KPIs" in year
    for page in (week, month, year):
        assert "No stored data" not in page  # the day is in each range


def test_a_day_redis_let_go_is_read_from_the_history(client, org_day, redis_client):
    _, sites, _, keys_of = org_day
    site = sites.iloc[2]["site_id"]
    before = client.get(f"/site/{site}").text
    for asset in ("site_snapshots", "circuit_kpis", "circuit_kpis_hourly"):
        redis_client.delete(keys.asset_value([asset], site_day_key(DAY, keys_of[site])))
    after = client.get(f"/site/{site}").text
    strip = re.compile(r"Page built in \d+ ms|id=\"[^\"]*\"|\"uid\":\"[^\"]*\"")
    assert "No stored data" not in after
    assert strip.sub("", before) == strip.sub("", after)


def test_wanperf_dashboard_answers_over_http(dashboard_server, org_day):
    _, sites, _, _ = org_day
    site = sites.iloc[0]
    page = requests.get(
        f"{dashboard_server}/site/{site['site_id']}", params={"from": DAY, "to": DAY}, timeout=30
    )
    assert page.ok and site["name"] in page.text
    js = requests.get(f"{dashboard_server}/static/plotly.min.js", timeout=30)
    assert js.ok and len(js.content) > 1_000_000  # served locally, no CDN
