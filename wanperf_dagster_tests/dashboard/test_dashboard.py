"""The NOC dashboard over a real store: a simulated org's day saved through the storage API (as
the assets save it), pages fetched from the app. Names not ids, search by name or id, a site page
with every circuit's series and the 70/80/90 % bands, links to the Dagster partitions, the
resolution following the range, a day read back from the history tier once Redis let it go, and
`wanperf dashboard` answering over real HTTP."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import requests
from starlette.testclient import TestClient

from wanperf_dagster import kpi
from wanperf_dagster.dashboard import build_app
from wanperf_dagster.settings import Settings
from wanperf_dagster.storage import site_day_key
from wanperf_dagster.store import keys

pytestmark = [pytest.mark.storage]

DAY0 = 1_764_115_200  # 2025-11-26
DAY = "2025-11-26"
TODAY = dt.date(2025, 11, 26)
PROJECT = Path(__file__).resolve().parents[2]


SETTINGS = Settings.from_env({"WANPERF_DAGSTER_URL": "http://dagster.example:3000"})
AFTER_LAST_SWEEP = DAY0 + 86400 - 300  # the day's last sample was at 23:50:17


def _client(assets, now=AFTER_LAST_SWEEP) -> TestClient:
    return TestClient(build_app(SETTINGS, assets, today=lambda: TODAY, clock=lambda: now))


@pytest.fixture
def client(org_day):
    return _client(org_day[0])


def _card(page: str, card: str) -> tuple[str, str]:
    """(its class, its figure) of an overview card."""
    found = re.search(rf'id="card-{card}">[^<]*<b class="([^"]*)">([^<]*)</b>', page)
    assert found, card
    return found.group(1), found.group(2)


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
    assert _card(page, "circuits")[1] == str(circuits)
    # the worst sites by time down: most down seconds first, by name, with their figures
    per_site = kpi.site_daily_kpis(daily).sort_values(
        ["down_seconds", "availability_pct"], ascending=[False, True]
    )
    section = page.split("Worst sites by time down", 1)[1].split("Worst circuits", 1)[0]
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
    script = re.search(r'<script src="(/static/plotly-[^"]+\.min\.js)"', page.text).group(1)
    js = requests.get(f"{dashboard_server}{script}", timeout=30)
    assert js.ok and len(js.content) > 1_000_000  # served locally, no CDN
    # compressed on the wire, and cached for good (its address carries the version)
    assert js.headers["Content-Encoding"] == "gzip"
    assert int(js.headers["Content-Length"]) < len(js.content) / 2
    assert "immutable" in js.headers["Cache-Control"]
    # the overview needs none of it
    overview = requests.get(
        f"{dashboard_server}/", params={"from": DAY, "to": DAY}, timeout=30
    ).text
    assert "plotly" not in overview and 'id="regions-fig"' in overview


def test_before_the_first_sweep_nothing_reads_fine(org_day, redis_client):
    """No `wan_status_now`, no `wan_alerts` yet: the cards say they do not know (grey dashes,
    never green zeros), and the page says when the figures will come."""
    assets = org_day[0]
    for asset in ("wan_status_now", "wan_alerts"):
        redis_client.delete(keys.asset_value([asset], None))
    page = _client(assets).get("/").text
    for card in ("down", "congested", "not-reporting", "alerts"):
        assert _card(page, card) == ("unknown", "—"), card
    assert "No sweep has reported yet" in page and 'class="ok"' not in page


def test_the_now_says_as_of_when_and_goes_grey_when_stale(org_day):
    assets = org_day[0]
    page = _client(assets).get("/").text
    assert "as of the latest sweep: 2025-11-26 23:50 UTC (4 min ago)" in page
    assert _card(page, "down")[0] in ("ok", "bad")
    stale = _client(assets, now=AFTER_LAST_SWEEP + 3600).get("/").text
    assert "Stale: the sweep runs every 10 minutes" in stale
    assert _card(stale, "down")[0] == "unknown" and 'class="ok"' not in stale


def test_a_circuit_the_latest_sweep_did_not_see_is_not_reporting_not_up(org_day):
    assets = org_day[0]
    status = assets.latest("wan_status_now").to_pandas()
    dark = status["circuit_id"].astype(str).unique()[:3]
    hours_ago = pd.Timestamp(DAY0 + 86400 - 4 * 3600, unit="s", tz="UTC")
    status.loc[status["circuit_id"].astype(str).isin(dark), "last_seen"] = hours_ago
    assets.save("wan_status_now", {None: pa.Table.from_pandas(status, preserve_index=False)}, 3600)
    page = _client(assets).get("/").text
    assert _card(page, "not-reporting") == ("warn", "3")


def test_open_alerts_say_how_long_now(org_day):
    assets, sites, _, _ = org_day
    since = pd.Timestamp(DAY0 + 86400 - 5 * 3600, unit="s", tz="UTC")
    frame = pd.DataFrame(
        {
            "status": ["open"],
            "kind": ["down"],
            "site_id": [sites.iloc[2]["site_id"]],
            "site_name": [sites.iloc[2]["name"]],
            "circuit_id": ["aa:ge-0/0/0"],
            "since": [since],
            "cleared_at": [pd.NaT],
            "value": [300.0],
            "detail": ["down for 4 h 50 min"],
        }
    )
    assets.save("wan_alerts", {None: pa.Table.from_pandas(frame, preserve_index=False)}, 3600)
    page = _client(assets).get("/").text
    assert "<td>4 h 55 min</td>" in page  # at the page's own time, not the evaluation's
    assert _card(page, "alerts") == ("bad", "1")


def test_vpn_paths_worst_first(client, org_day):
    assets, sites, _, keys_of = org_day
    site = sites.iloc[1]
    key = f"2025-11-26|{keys_of[site['site_id']]}"
    paths = assets.load("vpn_path_kpis", [key]).to_pandas()
    worse = paths.iloc[:1].assign(path_id="zz:worst>hub", up_minutes=677, down_minutes=763)
    worse = worse.assign(mos_min=4.4)  # a fine MOS while up does not hide 53 % down
    better = paths.iloc[:1].assign(path_id="aa:full>hub", up_minutes=1440, down_minutes=0)
    better = better.assign(mos_min=1.5)
    both = pd.concat([better, worse], ignore_index=True)
    assets.save("vpn_path_kpis", {key: pa.Table.from_pandas(both, preserve_index=False)}, 3600)
    page = client.get(f"/site/{site['site_id']}").text
    assert page.index("zz:worst") < page.index("aa:full")


def test_the_sla_page_lists_providers_circuits_and_their_evidence(org_day, sla_month):
    assets, _, _, _ = org_day
    report, worst = sla_month
    client = _client(assets)

    page = client.get("/sla?month=2025-11").text
    assert "Carrier SLA · 2025-11" in page and "&lt;b&gt;Lumen&lt;/b&gt;" in page  # escaped
    providers = page.split('id="providers"')[1].split("</table>")[0]
    assert "(no contract)" in providers and "Verizon" in providers
    circuits = page.split('id="circuits"')[1].split("</table>")[0]
    first = circuits.split("<tr>")[2]  # worst first: the one that missed
    assert worst["circuit_id"] in first and ">missed<" in first
    assert f'href="/site/{worst["site_id"]}?' in first
    assert ">no data<" in circuits and ">no contract<" in circuits
    assert "still down at the end" in page.split('id="outages"')[1]
    # one provider's page, and the CSV a spreadsheet opens
    verizon = client.get("/sla", params={"month": "2025-11", "provider": "Verizon"}).text
    assert worst["circuit_id"] not in verizon.split('id="circuits"')[1]
    csv = client.get("/sla.csv", params={"month": "2025-11"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert 'filename="sla-2025-11.csv"' in csv.headers["content-disposition"]
    lines = csv.text.strip().splitlines()
    assert (
        lines[0].startswith("circuit_id,site_id,site_name,provider")
        and len(lines) == len(report) + 1
    )
    # a month never reported says so, and reads nothing into it
    empty = client.get("/sla?month=2025-10").text
    assert 'id="no-report"' in empty and 'id="providers"' not in empty
    assert client.get("/sla.csv?month=2025-10").status_code == 404
    assert client.get("/sla?month=garbage").status_code == 200  # this month instead


def test_each_circuit_has_its_month_with_a_timeline_and_the_days_evidence(org_day, sla_month):
    assets, _, daily, _ = org_day
    _, worst = sla_month
    client = _client(assets)
    cid = worst["circuit_id"]

    page = client.get("/sla?month=2025-11").text
    link = f'href="/sla/circuit?month=2025-11&amp;circuit={quote(cid, safe="")}"'
    assert link in page.split('id="circuits"')[1] and link in page.split('id="outages"')[1]
    # the month's timeline: one bar, from 03:00 on the 26th to the report's end
    timeline = page.split('class="timeline"')[1].split("</svg>")[0]
    assert timeline.count('class="outage"') == 1 and "2025-11-26 03:00:00" in timeline

    one = client.get("/sla/circuit", params={"month": "2025-11", "circuit": cid})
    assert one.status_code == 200
    text = one.text
    assert f"Carrier SLA · 2025-11 · {cid}" in text and ">missed<" in text.split('id="result"')[1]
    assert text.split('class="timeline"')[1].count('class="outage"') == 1
    outages = text.split('id="outages"')[1].split("</table>")[0]
    assert "2025-11-26 03:00:00" in outages and "still down at the end" in outages
    # the day's KPIs beside the events' down time cut at midnight: 21 hours from 03:00
    days = text.split('id="days"')[1].split("</table>")[0]
    row = daily.set_index("circuit_id").loc[cid]
    assert ">2025-11-26<" in days and f">{int(row['down_seconds'])}<" in days
    assert ">75600<" in days  # the events' outage, 03:00 to midnight
    assert f'href="/site/{worst["site_id"]}?from=2025-11-26&amp;to=2025-11-26"' in days
    # a circuit not in the report, a month not reported: 404, saying which
    gone = client.get("/sla/circuit", params={"month": "2025-11", "circuit": "zz:nothing"})
    assert gone.status_code == 404 and "zz:nothing" in gone.text
    assert (
        client.get("/sla/circuit", params={"month": "2025-10", "circuit": cid}).status_code == 404
    )


def test_the_alerts_page_lists_open_inhibited_and_cleared_alerts(org_day):
    assets, sites, _, _ = org_day
    client = _client(assets)
    never = client.get("/alerts")
    assert never.status_code == 200 and 'id="never"' in never.text  # not evaluated: says so
    at = lambda hours: pd.Timestamp(DAY0 + 86400 - hours * 3600, unit="s", tz="UTC")  # noqa: E731
    site, other = sites.iloc[2], sites.iloc[3]
    frame = pd.DataFrame(
        {
            "status": ["open", "inhibited", "open", "cleared"],
            "kind": ["site_down", "down", "region_down", "congested"],
            "site_id": [site["site_id"], site["site_id"], "region:EMEA", other["site_id"]],
            "site_name": [site["name"], site["name"], "EMEA", other["name"]],
            "circuit_id": [None, "aa:ge-0/0/0", None, "bb:ge-0/0/1"],
            "since": [at(5), at(5), at(1), at(30)],
            "cleared_at": [pd.NaT, pd.NaT, pd.NaT, at(28)],
            "value": [2.0, 300.0, 6.0, 95.0],
            "detail": ["all 2 WAN circuits down for 10 min", "down for 10 min", "6 sites", "hot"],
            "circuits": [2, 1, 9, 1],
            "sites": [site["name"], site["name"], "A, B, C, D, E, F", other["name"]],
            "gateway": [None, None, None, None],
            "inhibited_by": [None, f"site_down@{site['site_id']}", None, None],
            "acknowledged_by": ["alice", None, None, None],
            "acknowledged_at": [at(4), pd.NaT, pd.NaT, pd.NaT],
            "acknowledged_note": ["carrier ticket 123", None, None, None],
        }
    )
    assets.save("wan_alerts", {None: pa.Table.from_pandas(frame, preserve_index=False)}, 3600)
    page = client.get("/alerts").text
    assert "2 open, 1 open under another (inhibited), 1 cleared" in page
    opened = page.split('id="open"')[1].split("</table>")[0]
    assert "site_down" in opened and "region_down" in opened and "congested" not in opened
    assert "<td>4 h 55 min</td>" in opened  # as of the page's time, not the evaluation's
    assert f'href="/site/{site["site_id"]}?from=2025-11-26&amp;to=2025-11-26"' in opened
    assert 'href="/search?region=EMEA"' in opened and "A, B, C, D, E, F" in opened
    assert "by alice 2025-11-26 20:00: carrier ticket 123" in opened
    assert opened.count("not acknowledged") == 1  # the region's: nobody has taken it
    covered = page.split('id="inhibited"')[1].split("</table>")[0]
    assert "aa:ge-0/0/0" in covered and f"site_down@{site['site_id']}" in covered
    assert 'id="cleared"' not in page  # not asked for
    cleared = client.get("/alerts", params={"status": "cleared"}).text
    assert "bb:ge-0/0/1" in cleared and "<td>2 h 00 min</td>" in cleared
    assert "site_down" not in cleared.split('id="cleared"')[1].split("</table>")[0]
    # filters: a kind, a text
    only = client.get("/alerts", params={"status": "all", "kind": "down"}).text
    assert "aa:ge-0/0/0" in only and "region_down</td>" not in only
    found = client.get("/alerts", params={"status": "all", "q": "BB:GE"}).text
    assert "bb:ge-0/0/1" in found and "aa:ge-0/0/0" not in found
    assert 'href="/alerts"' in client.get("/").text


def test_a_site_page_shows_each_circuit_now_beside_its_normal_or_that_it_is_learning(org_day):
    from wanperf_dagster.defs.status.assets import with_baselines

    assets = org_day[0]
    status = assets.latest("wan_status_now").to_pandas()
    latest = status[status["window_hours"] == 3]
    site_id = latest["site_id"].astype(str).value_counts().index[0]  # a site of 2+ circuits
    learnt, learning = sorted(latest[latest["site_id"].astype(str) == site_id]["circuit_id"])[:2]
    baselines = pd.DataFrame(
        {
            "site_id": [site_id, site_id],
            "circuit_id": [learnt, learning],
            "how": [10, 10],
            "weeks": [4, 2],
            "util_median": [10.0, np.nan],
            "util_mad": [0.0, np.nan],
        }
    )
    status = with_baselines(status, baselines, 4.0)
    assets.save("wan_status_now", {None: pa.Table.from_pandas(status, preserve_index=False)}, 3600)
    page = _client(assets).get(f"/site/{site_id}").text
    table = page[page.index('<table id="normal">') :]
    table = table[: table.index("</table>")]
    rows = {r.split("</a>")[0].rsplit(">", 1)[-1]: r for r in table.split("<tr>")[2:]}
    assert '<td class="num">10.0</td><td class="num">25.0</td>' in rows[learnt]
    assert "learning (too few weeks seen)" in rows[learning]
    others = [c for c in rows if c not in (learnt, learning)]
    assert all("no baseline yet" in rows[c] for c in others)
    # unknown is never normal: only the learnt circuit has a figure in the normal column
    assert table.count("learning") + table.count("no baseline") == len(rows) - 1
