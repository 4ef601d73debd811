"""The month's carrier SLA report as a page to print or keep: one provider (or all), its
circuits against their contracts and the outages as evidence, every number linked to the site
page it came from; and the same as PDF through headless Chromium."""

from __future__ import annotations

import datetime as dt
import html
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
<table id="circuits"><tr><th>site</th><th>circuit</th><th>reference</th><th class="num">SLA %</th><th class="num">measured %</th><th>result</th><th class="num">credit %</th><th class="num">outages</th><th class="num">down min</th><th class="num">maintenance min</th><th>window</th><th>quality</th><th>capacity</th></tr>
{% for c in circuits %}<tr><td>{% if c.link %}<a href="{{ c.link }}">{{ c.site_name }}</a>{% endif %}</td><td class="id">{{ c.circuit_id }}</td><td>{{ c.reference }}</td><td class="num">{{ c.sla_pct }}</td><td class="num {{ 'bad' if c.result == 'missed' else '' }}">{{ c.availability_pct }}</td><td class="{{ 'bad' if c.result == 'missed' else '' }}">{{ c.result }}</td><td class="num">{{ c.credit_pct }}</td><td class="num">{{ c.outages }}</td><td class="num">{{ c.down_min }}</td><td class="num">{{ c.maintenance_min }}</td><td>{{ c.window }}</td><td class="{{ 'bad' if c.quality.startswith('missed') else '' }}">{{ c.quality }}</td><td>{{ c.capacity }}</td></tr>{% endfor %}
</table>
<h2>Outages, the evidence</h2>
{% if timeline %}<p class="muted">The month, day by day: each red bar an outage{% if timeline_more %} ({{ timeline_more }} more circuits with outages in the table){% endif %}.</p>{{ timeline|safe }}{% endif %}
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


def capacity_text(row: dict) -> str:
    """Contracted against used, with the forecast: "upgrade? (80 % in 41 days)", "downsize?"."""
    verdict = row.get("capacity") or ""
    forecast = row.get("forecast")
    days = row.get("days_to_80_pct")
    if forecast == "rising" and days is not None and pd.notna(days):
        return f"{verdict} (80 % in {days:.0f} days)".strip()
    if forecast is None or pd.isna(forecast):
        return verdict
    return f"{verdict} (forecast: {forecast})".strip()


def result_text(row: dict) -> str:
    """A circuit's month against its contract: met, missed, no data or no contract."""
    if row["provider"] == sla.report.NO_CONTRACT:
        return "no contract"
    if row["met"] is None or pd.isna(row["met"]):
        return "no data"
    return "met" if row["met"] else "missed"


def _epoch(value) -> float:
    return float(value) if isinstance(value, int | float) else pd.Timestamp(value).timestamp()


def timeline_svg(
    outages: pd.DataFrame,
    circuits: list[tuple[str, str]],
    month: dt.date,
    width: int = 880,
    label_width: int = 200,
    row: int = 16,
) -> str:
    """The month as a strip per circuit ((circuit_id, label) in order) with each outage a red bar
    where it fell (at least a pixel wide, so a 20-second bounce shows), its times on hover; an
    inline SVG, so the page and the printed report draw it alike without script."""
    start = dt.datetime.combine(month, dt.time(), dt.UTC).timestamp()
    days = (month_end(month) - month).days + 1
    end = start + days * 86400
    plot = width - label_width
    x = lambda t: label_width + plot * (min(max(t, start), end) - start) / (end - start)  # noqa: E731
    height = row * len(circuits) + 18
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-size="10" '
        'font-family="system-ui,sans-serif">'
    ]
    for d in range(days + 1):
        gx = label_width + plot * d / days
        parts.append(
            f'<line x1="{gx:.1f}" y1="0" x2="{gx:.1f}" y2="{height - 14}" stroke="#e3e6ea"/>'
        )
        if d < days and (d % 5 == 0 or d == days - 1):
            parts.append(f'<text x="{gx + 2:.1f}" y="{height - 3}" fill="#6b7280">{d + 1}</text>')
    by_circuit = dict(tuple(outages.groupby("circuit_id"))) if len(outages) else {}
    for k, (cid, label) in enumerate(circuits):
        y = k * row
        parts.append(
            f'<text x="0" y="{y + row - 4}" fill="#1d2330">{html.escape(str(label)[:34])}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{plot}" height="{row - 6}" fill="#eef7ee"/>'
        )
        mine = by_circuit.get(cid)
        for o in [] if mine is None else mine.to_dict("records"):
            a, b = _epoch(o["start"]), _epoch(o["end"])
            x0 = x(a)
            w = max(x(b) - x0, 1.0)
            tip = (
                f"{html.escape(str(cid))}: {pd.Timestamp(a, unit='s'):%Y-%m-%d %H:%M:%S} to "
                f"{pd.Timestamp(b, unit='s'):%Y-%m-%d %H:%M:%S} UTC, {_duration(b - a)}"
            )
            parts.append(
                f'<rect class="outage" x="{x0:.2f}" y="{y + 2}" width="{w:.2f}" '
                f'height="{row - 4}" fill="#b03a2e"><title>{tip}</title></rect>'
            )
    parts.append("</svg>")
    return "".join(parts)


def timeline_rows(report: pd.DataFrame, outages: pd.DataFrame, n: int = 40) -> list[tuple]:
    """The circuits a timeline shows: those with outages, the most down first, up to `n`."""
    if outages.empty:
        return []
    down = outages.groupby("circuit_id")["seconds"].sum().sort_values(ascending=False).head(n)
    names = report.set_index("circuit_id")["site_name"].to_dict()
    return [
        (cid, f"{names.get(cid) or ''} {str(cid).split(':', 1)[-1]}".strip()) for cid in down.index
    ]


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
            "window": "" if c.get("window") in (None, sla.CALENDAR) else c["window"],
            "capacity": capacity_text(c),
        }
        for c in ranked.to_dict("records")
    ]
    rows = timeline_rows(report, outages, 60)
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
        timeline=timeline_svg(outages, rows, month) if rows else "",
        timeline_more=max(outages["circuit_id"].nunique() - len(rows), 0) if rows else 0,
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
