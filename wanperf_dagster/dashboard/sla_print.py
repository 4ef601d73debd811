"""The month's carrier SLA report as a page to print or keep: one provider (or all), its
circuits against their contracts and the outages as evidence, every number linked to the site
page it came from; and the same as PDF through headless Chromium."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote, urlencode

import jinja2
import pandas as pd

from wanperf_dagster import sla

CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
 @page{size:A4;margin:14mm 12mm}
 body{font-family:system-ui,sans-serif;color:#1d2330;font-size:11px;margin:0 8px}
 h1{font-size:18px;margin:0 0 4px} h2{font-size:14px;margin:16px 0 6px;break-after:avoid}
 table{border-collapse:collapse;width:100%} td,th{padding:3px 6px;border-bottom:1px solid #d9dde3;text-align:left}
 th{background:#eef0f4} .num{text-align:right} .bad{color:#b03a2e;font-weight:600} .muted{color:#6b7280}
 tr{break-inside:avoid} a{color:inherit} .id{white-space:nowrap}
 .cards{display:flex;gap:10px;margin:8px 0} .card{border:1px solid #d9dde3;padding:6px 10px;border-radius:4px}
 .card b{display:block;font-size:18px}
</style></head><body>
<h1>{{ title }}</h1>
<p class="muted">{{ period }} · measured by wanperf from Mist port events (to the second) and samples · generated {{ generated }} UTC</p>
<div class="cards">
{% for c in cards %}<div class="card">{{ c[0] }}<b class="{{ 'bad' if c[2] else '' }}">{{ c[1] }}</b></div>{% endfor %}
</div>
<h2>Circuits against their contracts</h2>
<table id="circuits"><tr><th>site</th><th>circuit</th><th>reference</th><th class="num">SLA %</th><th class="num">measured %</th><th>result</th><th class="num">credit %</th><th class="num">outages</th><th class="num">down min</th><th class="num">maintenance min</th><th>quality</th></tr>
{% for c in circuits %}<tr><td>{% if c.link %}<a href="{{ c.link }}">{{ c.site_name }}</a>{% endif %}</td><td class="id">{{ c.circuit_id }}</td><td>{{ c.reference }}</td><td class="num">{{ c.sla_pct }}</td><td class="num {{ 'bad' if c.result == 'missed' else '' }}">{{ c.availability_pct }}</td><td class="{{ 'bad' if c.result == 'missed' else '' }}">{{ c.result }}</td><td class="num">{{ c.credit_pct }}</td><td class="num">{{ c.outages }}</td><td class="num">{{ c.down_min }}</td><td class="num">{{ c.maintenance_min }}</td><td class="{{ 'bad' if c.quality.startswith('missed') else '' }}">{{ c.quality }}</td></tr>{% endfor %}
</table>
<h2>Outages, the evidence</h2>
{% if outages %}<table id="outages"><tr><th>site</th><th>circuit</th><th>from (UTC)</th><th>to (UTC)</th><th class="num">duration</th><th></th></tr>
{% for o in outages %}<tr><td>{% if o.link %}<a href="{{ o.link }}">{{ o.site_name }}</a>{% endif %}</td><td class="id">{{ o.circuit_id }}</td><td class="id">{{ o.start }}</td><td>{{ o.end }}</td><td class="num">{{ o.duration }}</td><td class="muted">{{ o.note }}</td></tr>{% endfor %}
</table>{% else %}<p>No outage in the month.</p>{% endif %}
</body></html>"""


def _num(value, places: int) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.{places}f}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min {s:02d} s" if h else f"{m} min {s:02d} s"


def quality_text(row: dict) -> str:
    """The contract's quality targets against the month's p95s: met, missed (naming which), or
    empty when the contract sets none."""
    if row.get("quality_met") is None or pd.isna(row.get("quality_met")):
        return ""
    if row["quality_met"]:
        return "met"
    over = [
        name
        for name, (_, measure, target) in sla.report.QUALITY.items()
        if pd.notna(row.get(target)) and pd.notna(row.get(measure)) and row[measure] > row[target]
    ]
    return "missed: " + ", ".join(over)


def result_text(row: dict) -> str:
    """A circuit's month against its contract: met, missed, no data or no contract."""
    if row["provider"] == sla.report.NO_CONTRACT:
        return "no contract"
    if row["met"] is None or pd.isna(row["met"]):
        return "no data"
    return "met" if row["met"] else "missed"


def month_end(month: dt.date) -> dt.date:
    """The last day of the month `month` falls in."""
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def render(
    report: pd.DataFrame,
    outages: pd.DataFrame,
    month: dt.date,
    provider: str | None,
    dashboard_url: str,
    now: dt.datetime | None = None,
) -> str:
    """The printable report of the month (one provider's circuits, or every one's)."""
    if provider:
        report = report[report["provider"] == provider]
        outages = outages[outages["circuit_id"].isin(report["circuit_id"])]
    end = month_end(month)
    span = urlencode({"from": month.isoformat(), "to": end.isoformat()})

    def link(site_id) -> str | None:
        if site_id is None or pd.isna(site_id):
            return None
        return f"{dashboard_url}/site/{quote(str(site_id), safe='')}?{span}"

    sites = report.set_index("circuit_id")[["site_id", "site_name"]].to_dict("index")
    ranked = report.assign(_r=report["met"].map({False: 0, True: 2}).fillna(1)).sort_values(
        ["_r", "availability_pct"], na_position="last"
    )
    circuits = [
        {
            "link": link(c["site_id"]),
            "site_name": c["site_name"] if pd.notna(c["site_name"]) else "",
            "circuit_id": c["circuit_id"],
            "reference": c["reference"] if pd.notna(c["reference"]) else "",
            "sla_pct": _num(c["sla_pct"], 3),
            "availability_pct": _num(c["availability_pct"], 4),
            "result": result_text(c),
            "credit_pct": _num(c["credit_pct"], 1),
            "outages": int(c["outages"]),
            "down_min": _num((c["down_seconds"] - c["down_in_maintenance_seconds"]) / 60, 1),
            "maintenance_min": _num(c["maintenance_seconds"] / 60, 1),
            "quality": quality_text(c),
        }
        for c in ranked.to_dict("records")
    ]
    shown = [
        {
            "link": link(sites.get(o["circuit_id"], {}).get("site_id")),
            "site_name": sites.get(o["circuit_id"], {}).get("site_name") or "",
            "circuit_id": o["circuit_id"],
            "start": pd.Timestamp(o["start"]).strftime("%Y-%m-%d %H:%M:%S"),
            "end": pd.Timestamp(o["end"]).strftime("%Y-%m-%d %H:%M:%S"),
            "duration": _duration(o["seconds"]),
            "note": "began before the month"
            if o["began_before"]
            else "still down at the month's end"
            if o["still_down"]
            else "",
        }
        for o in outages.sort_values(["circuit_id", "start"]).to_dict("records")
    ]
    totals = sla.provider_sla(report)
    counted = totals["counted_seconds"].sum()
    availability = 100 * (1 - totals["down_seconds"].sum() / counted) if counted else None
    missed = int(totals["missed_sla"].sum())
    cards = [
        ("circuits", len(report), False),
        ("measured availability %", _num(availability, 4) or "no data", False),
        ("missed their SLA", missed, missed > 0),
        ("credits owed", int(totals["credits_owed"].sum()), False),
        ("outages", len(outages), False),
    ]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(TEMPLATE).render(
        title=f"SLA report {month:%B %Y} · {provider or 'all providers'}",
        period=f"{month.isoformat()} to {end.isoformat()}",
        generated=(now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M"),
        cards=cards,
        circuits=circuits,
        outages=shown,
    )


class PdfError(RuntimeError):
    """The PDF could not be made; the message says what to install or what failed."""


def to_pdf(html: str, out: Path, timeout: float = 120) -> Path:
    """The page printed to PDF by headless Chromium (A4, no header or footer)."""
    browser = next((found for name in CHROMIUM if (found := shutil.which(name))), None)
    if browser is None:
        raise PdfError("a PDF needs Chromium on the PATH (Debian: apt install chromium)")
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="wanperf-sla-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html)
        done = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={tmp}/profile",
                "--no-pdf-header-footer",
                f"--print-to-pdf={out}",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise PdfError(f"Chromium could not print the report ({done.stderr.strip()[-300:]})")
    return out
