"""The NOC dashboard: server-rendered pages with Plotly figures (Starlette, Jinja2, plotly.py).

Why not Dash, the predecessor's choice: every view here is a link (org → region → site →
circuit, the range in the query string), which a NOC pastes into a ticket and a webhook points
at; server-rendered pages answer with the data in the first response, need no callback round
trips, and are tested by fetching them. The figures are the same Plotly figures Dash would draw,
and plotly.js is served from the installed package (no CDN: it works on a closed network).
Starlette and uvicorn come with dagster-webserver already."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import html
import logging
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, urlencode

import jinja2
import numpy as np
import pandas as pd
import plotly
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from wanperf_dagster import alerts as alerts_state
from wanperf_dagster import sla
from wanperf_dagster.alerts.rules import KINDS as ALERT_KINDS
from wanperf_dagster.alerts.rules import duration, incident_key
from wanperf_dagster.settings import Settings, redact_url
from wanperf_dagster.storage import AssetStore, site_day_key

from . import sla_print
from .access import OPEN, Gate, Viewer, gate_from
from .actions import AlertActions
from .data import DashboardData, Now, Range
from .signin import Guard, SignIn

BANDS = (70, 80, 90)
BAND_COLOURS = {70: "#f2c744", 80: "#f08c2e", 90: "#d6453d"}
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_URL = f"/static/plotly-{plotly.__version__}.min.js"
log = logging.getLogger(__name__)


@functools.cache
def _gzipped(path: Path) -> bytes:
    return gzip.compress(path.read_bytes(), compresslevel=6)


TEMPLATES = {
    "base.html": """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} · wanperf NOC</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
{% if plotly %}<script src="{{ plotly }}"></script>{% endif %}
<style>
 body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
 header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center}
 header a{color:#fff;text-decoration:none;font-weight:600}
 main{padding:16px 20px} h1{font-size:20px;margin:4px 0 12px} h2{font-size:16px;margin:18px 0 8px}
 table{border-collapse:collapse;background:#fff;font-size:13px} td,th{padding:4px 10px;border-bottom:1px solid #e3e6eb;text-align:left}
 th{background:#eef0f4} .num{text-align:right} .bad{color:#c0392b;font-weight:600} .ok{color:#1e8449}
 .unknown{color:#6b7280} .warn{color:#b9770e;font-weight:600} .asof{margin:0 0 10px;font-size:13px}
 .bars{display:flex;gap:24px;flex-wrap:wrap;background:#fff;margin:10px 0;padding:8px;border-radius:6px}
 .bars svg text{font-size:11px;fill:#1d2330}
 .cards{display:flex;gap:12px;flex-wrap:wrap} .card{background:#fff;padding:10px 16px;border-radius:6px;min-width:140px}
 .card b{display:block;font-size:26px} form.inline{display:inline-flex;gap:6px;align-items:center}
 .muted{color:#6b7280;font-size:12px} .fig{background:#fff;margin:10px 0;padding:6px;border-radius:6px}
</style></head><body>
<header><a href="/">wanperf NOC</a>
<form class="inline" action="/search" id="search"><input name="q" placeholder="site name or id" value="{{ q|default('') }}" size="28">
 <input type="hidden" name="from" value="{{ rng.start }}"><input type="hidden" name="to" value="{{ rng.end }}"><button>Search</button></form>
<form class="inline" method="get" id="range">{% for k, v in keep.items() %}<input type="hidden" name="{{ k }}" value="{{ v }}">{% endfor %}
 from <input type="date" name="from" value="{{ rng.start }}"> to <input type="date" name="to" value="{{ rng.end }}"><button>Show</button></form>
<a href="/alerts">Alerts</a> <a href="/sla">SLA</a> <a href="{{ dagster_url }}" title="the Dagster UI">Dagster ↗</a>
<span id="who" style="margin-left:auto;font-size:13px">{% if viewer.open_access %}<span class="warn" style="color:#f2c744">Open: no sign-in is configured, so anyone who reaches this address sees and acts on every org (loopback only; docs/operations.md, <i>An MSP</i>)</span>{% else %}{{ viewer.name }} · {{ viewer.role }} · {{ viewer_orgs }}
<form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="{{ signout_csrf }}"><button>Sign out</button></form>{% endif %}</span></header>
<main>{% if rng.note %}<p class="muted" id="range-note">Note: {{ rng.note }}.</p>{% endif %}{% block main %}{% endblock %}
<p class="muted">Read through the project's storage API: Redis for the hot window, the Parquet history beyond. Page built in {{ "%.0f"|format(built_ms) }} ms.</p></main></body></html>""",
    "overview.html": """{% extends "base.html" %}{% block main %}
<h1>WAN overview · {{ rng.start }}{% if rng.end != rng.start %} → {{ rng.end }}{% endif %}</h1>
<p class="asof {{ 'unknown' if now.stale else '' }}" id="as-of">{{ as_of_text }}</p>
<div class="cards">
 {% for c in cards %}<div class="card" id="card-{{ c.id }}">{{ c.label }}<b class="{{ c.cls }}">{{ c.value }}</b></div>{% endfor %}
</div>
{% if alerts %}<h2>Open alerts <a class="muted" href="/alerts">all alerts →</a></h2><table><tr><th>kind</th><th>site</th><th>circuit</th><th>what</th><th>since</th><th>for</th></tr>
{% for a in alerts %}<tr><td class="bad">{{ a.kind }}</td><td><a href="{{ a.link }}">{{ a.site_name }}</a></td><td>{{ a.circuit_id or '' }}</td><td>{{ a.detail }}</td><td>{{ a.since }}</td><td>{{ a.lasted }}</td></tr>{% endfor %}</table>{% endif %}
<h2>By region <a class="muted" href="{{ links.region_kpis }}">region_kpis ↗</a></h2>
{% if regions|length %}<table><tr><th>region</th><th class="num">circuits</th><th class="num">availability %</th><th class="num">p95 utilisation %</th><th class="num">days</th></tr>
{% for r in regions %}<tr><td><a href="{{ r.link }}">{{ r.region }}</a></td><td class="num">{{ r.circuits }}</td><td class="num">{{ "%.2f"|format(r.availability_pct) }}</td><td class="num">{{ "%.1f"|format(r.util_p95_pct) }}</td><td class="num">{{ r.days }}</td></tr>{% endfor %}</table>
{% else %}<p class="muted">No region KPIs for these days yet: materialize <code>region_kpis</code>.</p>{% endif %}
{{ region_fig|safe }}
<h2>Worst sites by time down ({{ worst_sites_day }}) <a class="muted" href="{{ links.circuit_kpis }}">circuit_kpis ↗</a></h2>
{% if worst_sites|length %}<table><tr><th>site</th><th>region</th><th class="num">circuits</th><th class="num">availability %</th><th class="num">down min</th><th class="num">circuits down</th><th class="num">flaps</th><th class="num">min ≥ 90 %</th></tr>
{% for w in worst_sites %}<tr><td><a href="{{ w.link }}">{{ w.name }}</a></td><td>{{ w.region }}</td><td class="num">{{ w.circuits }}</td><td class="num">{{ w.availability_pct }}</td><td class="num">{{ w.down_min }}</td><td class="num">{{ w.circuits_down }}</td><td class="num">{{ w.flaps }}</td><td class="num">{{ w.minutes_above_90 }}</td></tr>{% endfor %}</table>
{% else %}<p class="muted">No circuit KPIs for these days yet.</p>{% endif %}
<h2>Worst circuits ({{ worst_day }}) <a class="muted" href="{{ links.top_offenders }}">top_offenders ↗</a></h2>
{% if worst|length %}<table><tr><th>KPI</th><th>#</th><th>site</th><th>circuit</th><th class="num">value</th></tr>
{% for w in worst %}<tr><td>{{ w.kpi }}</td><td>{{ w.rank }}</td><td><a href="{{ w.link }}">{{ w.site_name }}</a></td><td>{{ w.circuit_id }}</td><td class="num">{{ w.value }}</td></tr>{% endfor %}</table>
{% else %}<p class="muted">No top offenders for these days yet.</p>{% endif %}
{% endblock %}""",
    "search.html": """{% extends "base.html" %}{% block main %}
<h1>Sites matching “{{ q }}”{% if region %} in {{ region }}{% endif %}</h1>
{% if sites|length %}<table><tr><th>site</th><th>region</th><th>id</th></tr>
{% for s in sites %}<tr><td><a href="{{ s.link }}">{{ s.name }}</a></td><td>{{ s.region }}</td><td class="muted">{{ s.site_id }}</td></tr>{% endfor %}</table>
{% else %}<p>No site's name or id contains “{{ q }}”.</p>{% endif %}{% endblock %}""",
    "site.html": """{% extends "base.html" %}{% block main %}
<h1>{{ site.name }} <span class="muted">{{ site.region }} · {{ site.site_id }}</span></h1>
<p class="muted">{{ resolution_text }} · from
{% for name, url in links.items() %}<a href="{{ url }}">{{ name }} ↗</a> {% endfor %}</p>
{% if kpis|length %}<table><tr><th>circuit</th><th>role</th><th class="num">speed Mbit/s</th><th class="num">availability %</th><th class="num">down min</th><th class="num">flaps</th><th class="num">p95 util % (max day)</th><th class="num">min ≥ 90 %</th><th class="num">latency ms</th><th class="num">loss %</th></tr>
{% for k in kpis %}<tr><td><a href="#{{ k.anchor }}">{{ k.circuit_id }}</a></td><td>{{ k.role }}</td><td class="num">{{ k.speed_mbps }}</td><td class="num {{ 'bad' if k.availability_pct < 99 else '' }}">{{ k.availability_pct }}</td><td class="num">{{ k.down_min }}</td><td class="num">{{ k.flaps }}</td><td class="num {{ 'bad' if k.util_p95_pct >= 90 else '' }}">{{ k.util_p95_pct }}</td><td class="num">{{ k.minutes_above_90 }}</td><td class="num">{{ k.latency_avg_ms }}</td><td class="num">{{ k.loss_avg_pct }}</td></tr>{% endfor %}</table>{% endif %}
{% if now|length %}<h2>Now against normal <span class="muted">utilisation at the latest sweep beside what is normal for the circuit at this hour of the week (<a href="{{ status_link }}">wan_status_now ↗</a>, <a href="{{ baselines_link }}">circuit_baselines ↗</a>)</span></h2>
<table id="normal"><tr><th>circuit</th><th>state</th><th class="num">util now %</th><th class="num">normal at this hour %</th><th class="num">off above %</th></tr>
{% for n in now %}<tr><td><a href="#{{ n.anchor }}">{{ n.circuit_id }}</a></td><td class="{{ 'bad' if n.up_now == False else ('unknown' if n.up_now is none else '') }}">{{ 'up' if n.up_now == True else ('down' if n.up_now == False else 'not reporting') }}</td><td class="num {{ 'bad' if n.util_now_pct is number and n.util_off_above_pct is number and n.util_now_pct > n.util_off_above_pct else '' }}">{{ n.util_now_pct if n.util_now_pct is number else '—' }}</td>{% if n.baseline == 'learnt' %}<td class="num">{{ n.util_normal_pct }}</td><td class="num">{{ n.util_off_above_pct }}</td>{% else %}<td class="unknown" colspan="2">{{ 'learning (too few weeks seen)' if n.baseline == 'learning' else 'no baseline yet' }}</td>{% endif %}</tr>{% endfor %}</table>{% endif %}
{% if sle|length %}<h2>WAN SLE <span class="muted">from <a href="{{ sle_link }}">site_sle ↗</a></span></h2>
<table><tr><th>day</th><th class="num">WAN link health</th><th>band</th><th class="num">worst hour</th><th class="num">hours below fair</th><th class="num">application health</th><th class="num">gateway health</th></tr>
{% for d in sle %}<tr><td>{{ d.day }}</td><td class="num {{ 'bad' if d.wan_link_health_band in ('degraded', 'critical') else '' }}">{{ d.wan_link_health }}</td><td>{{ d.wan_link_health_band }}</td><td class="num">{{ d.wan_link_health_min }}</td><td class="num">{{ d.hours_below_fair }}</td><td class="num">{{ d.application_health }}</td><td class="num">{{ d.gateway_health }}</td></tr>{% endfor %}</table>{% endif %}
{% if paths|length %}<h2>VPN paths, worst first <span class="muted">(lowest availability, then lowest MOS) from <a href="{{ paths_link }}">vpn_path_kpis ↗</a></span></h2>
<table><tr><th>path</th><th class="num">availability %</th><th class="num">down min</th><th class="num">p95 latency ms</th><th class="num">p95 jitter ms</th><th class="num">p95 loss %</th><th class="num">lowest MOS</th></tr>
{% for p in paths %}<tr><td>{{ p.path_id }}</td><td class="num {{ 'bad' if p.availability_pct is number and p.availability_pct < 99 else '' }}">{{ p.availability_pct }}</td><td class="num">{{ p.down_minutes }}</td><td class="num">{{ p.latency_p95_ms }}</td><td class="num">{{ p.jitter_p95_ms }}</td><td class="num {{ 'bad' if p.loss_p95_pct is number and p.loss_p95_pct >= 1 else '' }}">{{ p.loss_p95_pct }}</td><td class="num {{ 'bad' if p.mos_min is number and p.mos_min < 3.5 else '' }}">{{ p.mos_min }}</td></tr>{% endfor %}</table>{% endif %}
{% for f in figures %}<div class="fig" id="{{ f.anchor }}">{{ f.html|safe }}
<span class="muted">from <a href="{{ f.source }}">{{ f.source_name }} ↗</a> in Dagster</span></div>{% endfor %}
{% if not figures %}<p>No stored data for this site in these days.</p>{% endif %}
{% endblock %}""",
    "alerts.html": """{% extends "base.html" %}{% block main %}
<h1>Alerts</h1>
{% if done %}<p class="ok" id="done">{{ done }}</p>{% endif %}{% if error %}<p class="bad" id="error">{{ error }}</p>{% endif %}
<form class="inline" method="get" id="filter">show <select name="status">{% for v, label in statuses %}<option value="{{ v }}"{% if v == status %} selected{% endif %}>{{ label }}</option>{% endfor %}</select>
 kind <select name="kind"><option value="">any</option>{% for k in kinds %}<option{% if k == kind %} selected{% endif %}>{{ k }}</option>{% endfor %}</select>
 <input name="q" placeholder="site, circuit or gateway" value="{{ q }}" size="24"><button>Filter</button></form>
{% if not evaluated %}<p class="unknown" id="never">No alert evaluation yet: <a href="{{ asset_link }}">wan_alerts ↗</a> runs after each sweep.</p>{% else %}
<p class="muted">From <a href="{{ asset_link }}">wan_alerts ↗</a>, its last evaluation: {{ counts.open }} open, {{ counts.inhibited }} open under another (inhibited), {{ counts.cleared }} cleared. Durations as of now; acknowledgements and silences as of now.</p>
{% for section in sections %}<h2>{{ section.title }} <span class="muted">({{ section.rows|length }}{% if section.more %} of {{ section.total }}{% endif %})</span></h2>
{% if section.rows %}<table id="{{ section.id }}" class="alerts"><tr><th>kind</th><th>where</th><th>circuit or gateway</th><th>what (at the last evaluation)</th><th class="num">circuits</th><th>since (UTC)</th><th>{{ section.lasted }}</th>{% if section.id == 'inhibited' %}<th>under</th>{% endif %}{% if section.id == 'open' %}<th>taken</th>{% endif %}<th>evidence</th></tr>
{% for a in section.rows %}<tr><td class="{{ 'bad' if section.id == 'open' else 'muted' }}">{{ a.kind }}</td><td><a href="{{ a.link }}">{{ a.site_name }}</a>{% if a.sites %}<br><span class="muted">{{ a.sites }}</span>{% endif %}</td><td>{{ a.subject }}</td><td>{{ a.detail }}</td><td class="num">{{ a.circuits }}</td><td>{{ a.since }}</td><td>{{ a.lasted }}</td>{% if section.id == 'inhibited' %}<td>{{ a.inhibited_by }}</td>{% endif %}{% if section.id == 'open' %}<td class="{{ '' if a.taken else 'unknown' }}">{{ a.taken or 'not acknowledged' }}{% if not a.taken and may_act %}<form class="ack" method="post" action="/alerts/ack"><input type="hidden" name="csrf" value="{{ csrf }}"><input type="hidden" name="org" value="{{ a.org }}"><input type="hidden" name="key" value="{{ a.key }}"><input name="by" placeholder="who" size="8" required><input name="note" placeholder="note" size="14"><button>Acknowledge</button></form>{% endif %}</td>{% endif %}<td>{% if a.evidence %}<a href="{{ a.evidence }}">samples and events</a>{% endif %}</td></tr>{% endfor %}</table>{% else %}<p class="muted">None.</p>{% endif %}{% endfor %}
{% endif %}
<h2>Silences <span class="muted">(an incident under one is recorded, not told, while it lasts)</span></h2>
{% if silences %}<table id="silences"><tr><th>id</th>{% if orgs|length > 1 %}<th>org</th>{% endif %}<th>over</th><th>from (UTC)</th><th>until (UTC)</th><th>reason</th><th>by</th><th></th></tr>
{% for z in silences %}<tr><td>{{ z.id }}</td>{% if orgs|length > 1 %}<td>{{ z.org_name }}</td>{% endif %}<td>{{ z.scope }}</td><td>{{ z.start }}</td><td>{{ z.end }}</td><td>{{ z.reason }}</td><td>{{ z.by }}</td><td>{% if may_act %}<form method="post" action="/alerts/unsilence"><input type="hidden" name="csrf" value="{{ csrf }}"><input type="hidden" name="org" value="{{ z.org }}"><input type="hidden" name="id" value="{{ z.id }}"><button>End now</button></form>{% endif %}</td></tr>{% endfor %}</table>{% else %}<p class="muted" id="no-silences">None.</p>{% endif %}
{% if not may_act %}<p class="muted" id="read-only">Read only: acknowledging and silencing is for an admin.</p>{% else %}
<form id="silence" method="post" action="/alerts/silence"><input type="hidden" name="csrf" value="{{ csrf }}">{% if orgs|length > 1 %}org <select name="org">{% for o, name in orgs %}<option value="{{ o }}">{{ name }}</option>{% endfor %}</select> {% endif %}silence site <input name="site_id" placeholder="site id" size="14"> circuit <input name="circuit_id" placeholder="circuit id" size="14"> rule <select name="kind"><option value="">any</option>{% for k in kinds %}<option>{{ k }}</option>{% endfor %}</select> for <input name="hours" value="2" size="3"> h, because <input name="reason" placeholder="reason" size="16" required> by <input name="by" placeholder="who" size="8" required> <button>Silence</button> <span class="muted">(none of site, circuit, rule: the whole org)</span></form>{% endif %}
<p class="muted">The same from a script: <code>GET /api/alerts</code>, <code>POST /api/alerts/ack</code> {"key", "by", "note"}, <code>GET|POST /api/silences</code> {"site_id", "circuit_id", "kind", "hours", "reason", "by"}, <code>DELETE /api/silences/&lt;id&gt;</code>, JSON (docs/noc.md).</p>
{% endblock %}""",
    "sla_circuit.html": """{% extends "base.html" %}{% block main %}
<h1>Carrier SLA · {{ month }} · {{ circuit_id }}</h1>
<p class="muted"><a href="{{ back_link }}">← {{ c.provider }} in {{ month }}</a>{% if c.link %} · <a href="{{ c.link }}">{{ c.site_name }}</a>, its site page{% endif %} · from <a href="{{ report_link }}">sla_report ↗</a></p>
<table id="contract"><tr><th>provider</th><td>{{ c.provider }}</td><th>reference</th><td>{{ c.reference }}</td><th>contracted</th><td>{{ c.bandwidth }}</td></tr>
<tr><th>SLA</th><td>{{ c.sla_pct }} %</td><th>window</th><td>{{ c.window }}</td><th>result</th><td id="result" class="{{ 'bad' if c.met == 'missed' else 'unknown' if c.met in ('no data', 'no contract') else 'ok' }}">{{ c.met }}</td></tr>
<tr><th>measured</th><td id="availability">{{ c.availability_pct }} %</td><th>credit</th><td>{{ c.credit_pct }} %</td><th>quality</th><td>{{ c.quality }}</td></tr>
<tr><th>counted</th><td>{{ c.counted_h }} h observed less {{ c.maintenance_min }} min maintenance</td><th>down</th><td>{{ c.down_min }} min, {{ c.down_in_maintenance_min }} in maintenance</td><th>capacity</th><td>{{ c.capacity_text }} (p95 {{ c.util_p95 }} %)</td></tr></table>
<h2>The month</h2>{{ timeline|safe }}
<h2>Outages, from the port events</h2>{% if outages %}<table id="outages"><tr><th>from (UTC)</th><th>to (UTC)</th><th class="num">seconds</th><th class="num">counted seconds</th><th></th></tr>
{% for o in outages %}<tr><td>{{ o.start }}</td><td>{{ o.end }}</td><td class="num">{{ o.seconds }}</td><td class="num">{{ o.counted }}</td><td class="muted">{{ o.note }}</td></tr>{% endfor %}</table>{% else %}<p>No outage in the month.</p>{% endif %}
<h2>Day by day, from the samples and events both</h2><p class="muted">Each day's KPIs (<a href="{{ kpis_link }}">circuit_kpis ↗</a>): samples taken, what they and the events made of the day, and the events' outages alone; a day where the two disagree is where to look.</p>
<table id="days"><tr><th>day</th><th class="num">samples</th><th class="num">observed s</th><th class="num">unknown s</th><th class="num">down s (KPI)</th><th class="num">down s (events)</th><th>state from</th><th class="num">contradictions</th></tr>
{% for d in days %}<tr><td><a href="{{ d.link }}">{{ d.day }}</a></td><td class="num">{{ d.samples }}</td><td class="num">{{ d.observed }}</td><td class="num {{ 'unknown' if d.unknown else '' }}">{{ d.unknown }}</td><td class="num">{{ d.down }}</td><td class="num {{ 'bad' if d.differs else '' }}">{{ d.events_down }}</td><td>{{ d.source }}</td><td class="num">{{ d.contradictions }}</td></tr>{% endfor %}</table>
{% endblock %}""",
    "sla.html": """{% extends "base.html" %}{% block main %}
<h1>Carrier SLA · {{ month }}{% if provider %} · {{ provider }}{% endif %}</h1>
<form class="inline" method="get" id="month">month <input type="month" name="month" value="{{ month }}">
{% if provider %}<input type="hidden" name="provider" value="{{ provider }}">{% endif %}<button>Show</button></form>
{% if not found %}<p class="unknown" id="no-report">No SLA report for {{ month }} yet: materialize <a href="{{ report_link }}">sla_report ↗</a> for it.</p>
{% else %}<p class="muted">From <a href="{{ report_link }}">sla_report ↗</a> and its outages, {{ circuits }} circuits · <a id="csv" href="{{ csv_link }}">CSV</a> · <a id="print" href="{{ print_link }}">printable report</a></p>
<h2>Providers</h2><table id="providers"><tr><th>provider</th><th class="num">circuits</th><th class="num">missed SLA</th><th class="num">no data</th><th class="num">availability %</th><th class="num">down min</th><th class="num">outages</th><th class="num">credits owed</th></tr>
{% for p in providers %}<tr><td><a href="{{ p.link }}">{{ p.provider }}</a></td><td class="num">{{ p.circuits }}</td><td class="num {{ 'bad' if p.missed_sla else '' }}">{{ p.missed_sla }}</td><td class="num {{ 'unknown' if p.no_data else '' }}">{{ p.no_data }}</td><td class="num">{{ p.availability_pct }}</td><td class="num">{{ p.down_min }}</td><td class="num">{{ p.outages }}</td><td class="num">{{ p.credits_owed }}</td></tr>{% endfor %}</table>
<h2>Circuits{% if provider %} of {{ provider }}{% endif %}, worst first</h2><table id="circuits"><tr><th>provider</th><th>site</th><th>circuit</th><th>reference</th><th class="num">SLA %</th><th class="num">availability %</th><th>met</th><th class="num">credit %</th><th class="num">outages</th><th class="num">longest min</th><th class="num">maintenance min</th><th>window</th><th class="num">p95 util %</th><th>capacity</th><th>quality</th></tr>
{% for c in rows %}<tr><td>{{ c.provider }}</td><td>{% if c.link %}<a href="{{ c.link }}">{{ c.site_name }}</a>{% endif %}</td><td><a href="{{ c.circuit_link }}">{{ c.circuit_id }}</a></td><td>{{ c.reference }}</td><td class="num">{{ c.sla_pct }}</td><td class="num {{ 'bad' if c.met == 'missed' else 'unknown' if c.met == 'no data' else '' }}">{{ c.availability_pct }}</td><td class="{{ 'bad' if c.met == 'missed' else 'unknown' if c.met in ('no data', 'no contract') else 'ok' }}">{{ c.met }}</td><td class="num">{{ c.credit_pct }}</td><td class="num">{{ c.outages }}</td><td class="num">{{ c.longest_min }}</td><td class="num">{{ c.maintenance_min }}</td><td>{{ c.window_text }}</td><td class="num">{{ c.util_p95 }}</td><td>{{ c.capacity_text }}</td><td class="{{ 'bad' if c.quality.startswith('missed') else '' }}">{{ c.quality }}</td></tr>{% endfor %}</table>
{% if timeline %}<h2>The month's outages{% if provider %} of {{ provider }}{% endif %}</h2><p class="muted">Each red bar an outage, the most down circuits first{% if timeline_more %} ({{ timeline_more }} more in the table){% endif %}; hover for its times.</p>{{ timeline|safe }}{% endif %}
{% if outages|length %}<h2>Outages{% if provider %} of {{ provider }}{% endif %}, the evidence</h2><table id="outages"><tr><th>site</th><th>circuit</th><th>from (UTC)</th><th>to (UTC)</th><th class="num">seconds</th><th></th></tr>
{% for o in outages %}<tr><td>{% if o.link %}<a href="{{ o.link }}">{{ o.site_name }}</a>{% endif %}</td><td><a href="{{ o.circuit_link }}">{{ o.circuit_id }}</a></td><td>{{ o.start }}</td><td>{{ o.end }}</td><td class="num">{{ o.seconds }}</td><td class="muted">{{ o.note }}</td></tr>{% endfor %}</table>{% endif %}
{% endif %}{% endblock %}""",
}


def _taken(a: dict) -> str:
    """Who acknowledged an alert, when, and their note, or the silence over it ("" when
    neither)."""
    silence = a.get("silenced_by")
    if silence is not None and pd.notna(silence):
        return f"silenced ({silence}): not told while the silence lasts"
    by = a.get("acknowledged_by")
    if by is None or pd.isna(by):
        return ""
    at = a.get("acknowledged_at")
    when = pd.Timestamp(at).strftime("%Y-%m-%d %H:%M") if at is not None and pd.notna(at) else ""
    note = a.get("acknowledged_note") or ""
    return f"by {by} {when}" + (f": {note}" if note else "")


def _silence_row(z) -> dict:
    def when(epoch: int) -> str:
        return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M")

    return {
        "id": z.id,
        "scope": z.scope,
        "start": when(z.start),
        "end": when(z.end),
        "reason": z.reason,
        "by": z.by,
    }


def _round(value, places=2):
    return "" if value is None or pd.isna(value) else round(float(value), places)


class Dashboard:
    """The pages, over one `DashboardData`."""

    def __init__(
        self, data: DashboardData, settings: Settings, today=None, clock=None, org_id=None
    ):
        self.data = data
        self.settings = settings
        self.clock = clock or time.time
        self._single_org = _org_of(settings, org_id)
        self.actions = AlertActions(data.assets, self.known_orgs, self.clock)
        self.today = today or (lambda: dt.datetime.fromtimestamp(self.clock(), dt.UTC).date())
        self.env = jinja2.Environment(
            loader=jinja2.DictLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
        )

    # links --------------------------------------------------------------------------------------
    def asset_link(self, asset: str, partition: str | None = None) -> str:
        url = f"{self.settings.dagster_url}/assets/{asset}"
        if partition:
            url += "?" + urlencode({"view": "partitions", "partition": partition})
        return url

    @staticmethod
    def site_link(site_id: str, rng: Range | None = None) -> str:
        url = f"/site/{quote(str(site_id), safe='')}"
        if rng:
            url += "?" + urlencode({"from": rng.start.isoformat(), "to": rng.end.isoformat()})
        return url

    def render(self, request: Request, template: str, t0: float, **context) -> HTMLResponse:
        context.setdefault("keep", {})
        context.setdefault("q", "")
        context.setdefault("plotly", "")
        viewer = self.viewer(request)
        text = self.env.get_template(template).render(
            dagster_url=self.settings.dagster_url,
            built_ms=(time.perf_counter() - t0) * 1000,
            viewer=viewer,
            viewer_orgs=", ".join(n or o for o, n in self.data_for(request).orgs_shown())
            if viewer.orgs is not None
            else "every org",
            signout_csrf=self.actions.token(request),
            **context,
        )
        return HTMLResponse(text)

    # who is looking ------------------------------------------------------------------------------
    @staticmethod
    def viewer(request: Request) -> Viewer:
        return getattr(request.state, "viewer", OPEN)

    def data_for(self, request: Request) -> DashboardData:
        """The reads of the orgs the viewer may see (every read of a page goes through it)."""
        return self.data.scoped(self.viewer(request).orgs)

    def known_orgs(self) -> list[str]:
        """The orgs analysed: the inventory's, or (before orgs were a column) the one org."""
        orgs = sorted({o for o in self.data.all_sites()["org_id"] if o})
        return orgs or [self._single_org()]

    def range_of(self, request: Request) -> Range:
        return Range.parse(
            request.query_params.get("from"), request.query_params.get("to"), self.today()
        )

    # pages ------------------------------------------------------------------------------------
    def overview(self, request: Request) -> HTMLResponse:
        t0 = time.perf_counter()
        rng = self.range_of(request)
        now = self.clock()
        data = self.data_for(request)
        wan = data.now(self.settings.poll_interval, now)
        alerts = data.open_alerts()
        regions = data.regions(rng)
        worst = data.worst(rng)
        worst_sites = data.worst_sites(rng)
        region_rows = [
            {**r, "link": "/search?" + urlencode({"region": r["region"], "q": ""})}
            for r in regions.to_dict("records")
        ]
        worst_rows = [
            {
                "kpi": w["kpi"],
                "rank": w["rank"],
                "site_name": w.get("site_name", w["site_id"]),
                "circuit_id": w["circuit_id"],
                "value": _round(w["value"]),
                "link": self.site_link(w["site_id"], rng),
            }
            for w in worst.to_dict("records")
        ]
        alert_rows = [
            {
                **a,
                "since": pd.Timestamp(a["since"]).strftime("%Y-%m-%d %H:%M UTC"),
                "lasted": duration(now - pd.Timestamp(a["since"]).timestamp()),
                "link": self.site_link(a["site_id"], rng),
            }
            for a in ([] if alerts is None else alerts.to_dict("records"))
        ]
        return self.render(
            request,
            "overview.html",
            t0,
            title="WAN overview",
            rng=rng,
            now=wan,
            as_of_text=self._as_of(wan, now),
            cards=_cards(wan, alerts),
            alerts=alert_rows,
            regions=region_rows,
            region_fig=_region_bars(regions),
            worst=worst_rows,
            worst_sites=[
                {
                    **{k: _round(v) if isinstance(v, float) else v for k, v in w.items()},
                    "link": self.site_link(w["site_id"], rng),
                }
                for w in worst_sites.to_dict("records")
            ],
            worst_sites_day=str(worst_sites["day"].iloc[0]) if len(worst_sites) else "",
            worst_day=worst["day"].iloc[0] if len(worst) else rng.end.isoformat(),
            links={
                "region_kpis": self.asset_link("region_kpis", rng.end.isoformat()),
                "top_offenders": self.asset_link("top_offenders", rng.end.isoformat()),
                "circuit_kpis": self.asset_link("circuit_kpis"),
            },
        )

    def _as_of(self, wan: Now, now: float) -> str:
        every = self.settings.poll_interval // 60
        if wan.as_of is None:
            return (
                f"No sweep has reported yet: nothing is known of the WAN now. The sweep runs every"
                f" {every} minutes (`wanperf sweep` runs one at once); these figures fill in"
                " after it."
            )
        when = dt.datetime.fromtimestamp(wan.as_of, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = f"Now, as of the latest sweep: {when} ({duration(now - wan.as_of)} ago)."
        if wan.stale:
            text += f" Stale: the sweep runs every {every} minutes and has not reported since."
        return text

    def search(self, request: Request) -> HTMLResponse:
        t0 = time.perf_counter()
        rng = self.range_of(request)
        q = request.query_params.get("q", "")
        region = request.query_params.get("region", "")
        found = self.data_for(request).search(q, region, limit=500 if region else 50)
        if not region and len(found) == 1:  # one match: straight to its page
            return RedirectResponse(self.site_link(found.iloc[0]["site_id"], rng), 303)
        rows = [{**s, "link": self.site_link(s["site_id"], rng)} for s in found.to_dict("records")]
        return self.render(
            request,
            "search.html",
            t0,
            title=f"sites: {q or region}",
            rng=rng,
            q=q,
            region=region,
            sites=rows,
            keep={"q": q, "region": region},
        )

    # carrier SLA -------------------------------------------------------------------------------
    def _month_of(self, request: Request) -> dt.date:
        """The page's month (YYYY-MM), this month when none or a bad one is given."""
        text = request.query_params.get("month", "")
        try:
            return dt.date.fromisoformat(f"{text}-01")
        except ValueError:
            return self.today().replace(day=1)

    def _sla_rows(self, request: Request):
        month = self._month_of(request)
        provider = request.query_params.get("provider", "")
        found = self.data_for(request).sla_month(month)
        if found is None:
            return month, provider, None, None
        report, outages = found
        if provider:
            report = report[report["provider"] == provider]
            outages = outages[outages["circuit_id"].isin(report["circuit_id"])]
        return month, provider, report, outages

    def sla(self, request: Request) -> HTMLResponse:
        t0 = time.perf_counter()
        month, provider, report, outages = self._sla_rows(request)
        label = month.strftime("%Y-%m")
        context = {
            "title": f"SLA {label}",
            "rng": self.range_of(request),
            "month": label,
            "provider": provider,
            "found": report is not None,
            "report_link": self.asset_link("sla_report", month.isoformat()),
        }
        if report is None:
            return self.render(request, "sla.html", t0, **context)
        first, last = month, min(sla_print.month_end(month), self.today())
        span = Range(first, max(first, last))
        providers = [
            {
                **p,
                "link": "/sla?" + urlencode({"month": label, "provider": p["provider"]}),
                "availability_pct": _round(p["availability_pct"], 3),
                "down_min": _round(p["down_seconds"] / 60, 1),
            }
            for p in sla.provider_sla(report).to_dict("records")
        ]
        ordered = report.assign(_rank=report["met"].map({False: 0, True: 2}).fillna(1)).sort_values(
            ["_rank", "availability_pct", "provider"], na_position="last"
        )
        rows = [
            {
                **c,
                "link": self.site_link(c["site_id"], span) if pd.notna(c["site_id"]) else None,
                "reference": c["reference"] if pd.notna(c["reference"]) else "",
                "sla_pct": _round(c["sla_pct"], 3),
                "availability_pct": _round(c["availability_pct"], 3),
                "met": sla_print.result_text(c),
                "credit_pct": _round(c["credit_pct"], 1),
                "longest_min": _round(c["longest_outage_seconds"] / 60, 1),
                "maintenance_min": _round(c["maintenance_seconds"] / 60, 1),
                "util_p95": _round(c["util_p95_pct"], 1),
                "quality": sla_print.quality_text(c),
                "window_text": "" if c.get("window") in (None, sla.CALENDAR) else c["window"],
                "capacity_text": sla_print.capacity_text(c),
                "circuit_link": self._sla_circuit_link(label, c["circuit_id"]),
            }
            for c in ordered.to_dict("records")
        ]
        lines = sla_print.timeline_rows(report, outages, 40)
        by_circuit = report.set_index("circuit_id")
        sites, names = by_circuit["site_id"].to_dict(), by_circuit["site_name"].to_dict()
        shown = [
            {
                **o,
                "site_name": names.get(o["circuit_id"]) or "",
                "link": self.site_link(sites[o["circuit_id"]], span)
                if sites.get(o["circuit_id"])
                else None,
                "start": o["start"].strftime("%Y-%m-%d %H:%M:%S"),
                "end": o["end"].strftime("%Y-%m-%d %H:%M:%S"),
                "seconds": int(o["seconds"]),
                "circuit_link": self._sla_circuit_link(label, o["circuit_id"]),
                "note": "began before the month"
                if o["began_before"]
                else "still down at the end"
                if o["still_down"]
                else "",
            }
            for o in outages.sort_values("seconds", ascending=False).head(500).to_dict("records")
        ]
        csv_query = {"month": label, **({"provider": provider} if provider else {})}
        return self.render(
            request,
            "sla.html",
            t0,
            **context,
            circuits=len(report),
            providers=providers,
            rows=rows,
            outages=shown,
            timeline=sla_print.timeline_svg(outages, lines, month) if lines else "",
            timeline_more=max(outages["circuit_id"].nunique() - len(lines), 0),
            csv_link="/sla.csv?" + urlencode(csv_query),
            print_link="/sla/print?" + urlencode(csv_query),
        )

    ALERT_STATUSES = (
        ("", "open and inhibited"),
        ("open", "open"),
        ("acknowledged", "open, acknowledged"),
        ("silenced", "open, silenced"),
        ("inhibited", "inhibited"),
        ("cleared", "cleared"),
        ("all", "all"),
    )

    def alerts_page(self, request: Request) -> HTMLResponse:
        """Open, inhibited and recent alerts, filterable, each linked to its site page and to
        the samples and events of its day (the site page over the days it spans)."""
        t0 = time.perf_counter()
        rng = self.range_of(request)
        now = self.clock()
        status = request.query_params.get("status", "")
        kind = request.query_params.get("kind", "")
        q = request.query_params.get("q", "").strip().lower()
        data = self.data_for(request)
        log = data.alert_log()
        csrf = self.actions.token(request)
        orgs = [o for o in self.known_orgs() if self.viewer(request).sees(o)]
        names = dict(data.orgs_shown())
        acks, live, silence_rows = {}, [], []
        for org in orgs:  # each org's own acknowledgements and silences
            acks.update(alerts_state.acknowledgements(data.assets, org))
            mine = alerts_state.silences(data.assets, org, at=int(now))
            live += mine
            silence_rows += [
                {**_silence_row(z), "org": org, "org_name": names.get(org) or org} for z in mine
            ]
        context = {
            "csrf": csrf,
            "may_act": self.viewer(request).may_act,
            "orgs": [(o, names.get(o) or o) for o in orgs],
            "done": request.query_params.get("done", ""),
            "error": request.query_params.get("error", ""),
            "silences": silence_rows,
            "title": "Alerts",
            "rng": rng,
            "statuses": self.ALERT_STATUSES,
            "status": status,
            "kind": kind,
            "q": request.query_params.get("q", ""),
            "kinds": list(ALERT_KINDS),
            "evaluated": log is not None,
            "asset_link": self.asset_link("wan_alerts"),
        }
        if log is None:
            page = self.render(request, "alerts.html", t0, **context)
            return self.actions.set_token(page, request, csrf)
        for column in ("inhibited_by", "circuits", "sites"):
            if column not in log:
                log[column] = None
        counts = log["status"].value_counts().to_dict()
        if kind:
            log = log[log["kind"] == kind]
        if q:
            text = (
                log["site_name"].astype(str)
                + " "
                + log["site_id"].astype(str)
                + " "
                + log["circuit_id"].astype(str)
                + " "
                + log["detail"].astype(str)
                + " "
                + log["sites"].astype(str)
            ).str.lower()
            log = log[text.str.contains(q, regex=False)]
        wanted = {
            "": ("open", "inhibited"),
            "all": ("open", "inhibited", "cleared"),
            "acknowledged": ("open",),
            "silenced": ("open",),
        }.get(status, (status,))
        taken_as = {"acknowledged": "by ", "silenced": "silenced"}.get(status)
        titles = {
            "open": ("Open" + (f", {status}" if taken_as else ""), "for"),
            "inhibited": ("Open under another incident (inhibited: not told)", "for"),
            "cleared": ("Recent, cleared", "lasted"),
        }
        sections = []
        for name in ("open", "inhibited", "cleared"):
            if name not in wanted:
                continue
            mine = log[log["status"] == name]
            if taken_as:  # taken by a person, or under a silence: as of now
                rows = [self._alert_row(a, now, acks, live) for a in mine.to_dict("records")]
                rows = [r for r in rows if r["taken"].startswith(taken_as)]
                total, rows = len(rows), rows[:500]
            else:
                total = len(mine)
                rows = [
                    self._alert_row(a, now, acks, live) for a in mine.head(500).to_dict("records")
                ]
            sections.append(
                {
                    "id": name,
                    "title": titles[name][0],
                    "lasted": titles[name][1],
                    "total": total,
                    "more": total > len(rows),
                    "rows": rows,
                }
            )
        page = self.render(
            request,
            "alerts.html",
            t0,
            **context,
            counts={k: counts.get(k, 0) for k in ("open", "inhibited", "cleared")},
            sections=sections,
        )
        return self.actions.set_token(page, request, csrf)

    def _alert_row(self, a: dict, now: float, acks: dict | None = None, live=()) -> dict:
        since = pd.Timestamp(a["since"])
        cleared = a.get("cleared_at")
        end = (
            pd.Timestamp(cleared).timestamp() if cleared is not None and pd.notna(cleared) else now
        )
        first = since.date()
        span = Range(first, max(first, dt.datetime.fromtimestamp(end, dt.UTC).date()))
        site_id = str(a["site_id"])
        if site_id.startswith("region:"):
            link = "/search?" + urlencode({"region": site_id.split(":", 1)[1]})
            evidence = None
        else:
            link = self.site_link(site_id, span)
            evidence = link  # its day's samples, events and KPIs, on the site's page
        circuit = a.get("circuit_id")
        gateway = a.get("gateway")
        subject = next(
            (str(v) for v in (gateway, circuit) if v is not None and pd.notna(v) and str(v)),
            site_id,
        )
        key = incident_key(a["kind"], subject)
        taken = _taken(a)
        ack = (acks or {}).get(key)
        if ack and not taken and a.get("status") == "open":  # taken since the evaluation
            when = dt.datetime.fromtimestamp(int(ack["at"]), dt.UTC).strftime("%Y-%m-%d %H:%M")
            taken = f"by {ack['by']} {when}" + (f": {ack['note']}" if ack.get("note") else "")
        if not taken and a.get("status") == "open":  # silenced since the evaluation
            seen_as = SimpleNamespace(
                kind=a["kind"], site_id=site_id, circuit_id=circuit if pd.notna(circuit) else None
            )
            over = next((z for z in live or () if z.matches(seen_as, int(now))), None)
            if over is not None:
                taken = f"silenced ({over.id}): not told while the silence lasts"
        return {
            "key": key,
            "org": str(a.get("org_id") or ""),
            "kind": a["kind"],
            "site_name": a["site_name"],
            "sites": a["sites"] if a.get("sites") and a["sites"] != a["site_name"] else "",
            "subject": circuit if circuit is not None and pd.notna(circuit) else gateway or "",
            "detail": a["detail"],
            "circuits": ""
            if a.get("circuits") is None or pd.isna(a["circuits"])
            else int(a["circuits"]),
            "since": since.strftime("%Y-%m-%d %H:%M"),
            "lasted": duration(end - since.timestamp()),
            "inhibited_by": a.get("inhibited_by") or "",
            "taken": taken,
            "link": link,
            "evidence": evidence,
        }

    @staticmethod
    def _sla_circuit_link(month: str, circuit_id: str) -> str:
        return "/sla/circuit?" + urlencode({"month": month, "circuit": circuit_id})

    def sla_circuit(self, request: Request) -> HTMLResponse:
        """One circuit's month: its contract and result, the month's timeline, each outage,
        and the days' KPIs beside the events' down time (the samples' evidence)."""
        t0 = time.perf_counter()
        month, _, report, outages = self._sla_rows(request)
        label = month.strftime("%Y-%m")
        circuit_id = request.query_params.get("circuit", "")
        if report is None:
            return PlainTextResponse(f"no SLA report for {label} yet\n", status_code=404)
        found = report[report["circuit_id"] == circuit_id]
        if found.empty:
            return PlainTextResponse(
                f"circuit {circuit_id!r} is not in the SLA report of {label}\n", status_code=404
            )
        c = found.iloc[0].to_dict()
        mine = outages[outages["circuit_id"] == circuit_id].sort_values("start")
        first, last = month, min(sla_print.month_end(month), self.today())
        span = Range(first, max(first, last))
        data = self.data_for(request)
        site = data.site(c["site_id"]) if c.get("site_id") else None
        days = self._sla_days(data, site, span, circuit_id, mine)
        counted = (c["observed_seconds"] - c["maintenance_seconds"]) / 3600
        shown = {
            **c,
            "link": self.site_link(c["site_id"], span) if c.get("site_id") else None,
            "reference": c["reference"] or "",
            "bandwidth": f"{c['bandwidth_mbps']:g} Mbps" if pd.notna(c["bandwidth_mbps"]) else "",
            "sla_pct": _round(c["sla_pct"], 3),
            "window": c.get("window") or sla.CALENDAR,
            "met": sla_print.result_text(c),
            "availability_pct": _round(c["availability_pct"], 4),
            "credit_pct": _round(c["credit_pct"], 1),
            "quality": sla_print.quality_text(c) or "no target",
            "counted_h": _round(counted, 2),
            "maintenance_min": _round(c["maintenance_seconds"] / 60, 1),
            "down_min": _round(c["down_seconds"] / 60, 1),
            "down_in_maintenance_min": _round(c["down_in_maintenance_seconds"] / 60, 1),
            "capacity_text": sla_print.capacity_text(c) or "unknown",
            "util_p95": _round(c["util_p95_pct"], 1),
        }
        rows = [
            {
                "start": o["start"].strftime("%Y-%m-%d %H:%M:%S"),
                "end": o["end"].strftime("%Y-%m-%d %H:%M:%S"),
                "seconds": int(o["seconds"]),
                "counted": round(float(o.get("counted_seconds", o["seconds"]))),
                "note": "began before the month"
                if o["began_before"]
                else "still down at the end"
                if o["still_down"]
                else "",
            }
            for o in mine.to_dict("records")
        ]
        name = sla_print.timeline_rows(found, mine, 1) or [(circuit_id, circuit_id)]
        return self.render(
            request,
            "sla_circuit.html",
            t0,
            title=f"SLA {label} {circuit_id}",
            rng=span,
            month=label,
            circuit_id=circuit_id,
            c=shown,
            back_link="/sla?" + urlencode({"month": label, "provider": c["provider"]}),
            report_link=self.asset_link("sla_report", month.isoformat()),
            kpis_link=self.asset_link("circuit_kpis"),
            timeline=sla_print.timeline_svg(mine, name, month),
            outages=rows,
            days=days,
        )

    def _sla_days(
        self, data: DashboardData, site, span: Range, circuit_id: str, mine: pd.DataFrame
    ) -> list[dict]:
        """The circuit's days: the KPIs' figures beside the events' outages cut at midnight."""
        if site is None:
            return []
        daily = data.circuit_days(site, span, circuit_id)
        if daily.empty:
            return []
        starts = mine["start"].map(lambda t: t.timestamp()).to_numpy(float)
        ends = mine["end"].map(lambda t: t.timestamp()).to_numpy(float)
        out = []
        for d in daily.to_dict("records"):
            d0 = dt.datetime.combine(d["day"], dt.time(), dt.UTC).timestamp()
            events_down = float(
                (np.minimum(ends, d0 + 86400) - np.maximum(starts, d0)).clip(min=0).sum()
            )
            out.append(
                {
                    "day": d["day"].isoformat(),
                    "link": self.site_link(site["site_id"], Range(d["day"], d["day"])),
                    "samples": int(d["samples"]),
                    "observed": int(d["observed_seconds"]),
                    "unknown": int(d["unknown_seconds"]),
                    "down": int(d["down_seconds"]),
                    "events_down": int(events_down),
                    "differs": int(events_down) != int(d["down_seconds"]),
                    "source": d["state_source"],
                    "contradictions": int(d["event_contradictions"]),
                }
            )
        return out

    def sla_print(self, request: Request) -> Response:
        """The month's report to print or save as PDF (`wanperf sla --pdf` makes the PDF)."""
        month, provider, report, outages = self._sla_rows(request)
        if report is None:
            return PlainTextResponse(f"no SLA report for {month:%Y-%m} yet\n", status_code=404)
        html_page = sla_print.render(report, outages, month, provider, self.settings.dashboard_url)
        return HTMLResponse(html_page)

    def sla_csv(self, request: Request) -> Response:
        """The month's circuits as CSV, for the spreadsheet."""
        month, provider, report, _ = self._sla_rows(request)
        if report is None:
            return PlainTextResponse(f"no SLA report for {month:%Y-%m} yet\n", status_code=404)
        name = f"sla-{month:%Y-%m}{'-' + provider if provider else ''}.csv"
        safe = "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in name)
        return Response(
            report.to_csv(index=False),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{safe}"'},
        )

    def site(self, request: Request) -> HTMLResponse:
        t0 = time.perf_counter()
        rng = self.range_of(request)
        data = self.data_for(request)
        site_id = request.path_params["site_id"]
        site = data.site(site_id)
        if site is None and data.org_of_site(site_id) is not None:  # another org's: not yours
            return HTMLResponse(
                f"<h1>Not yours to see</h1><p>{html.escape(self.viewer(request).name)} may not see"
                ' this site\'s org.</p><p><a href="/">back to the overview</a></p>',
                status_code=403,
            )
        if site is None:
            return HTMLResponse(
                f"<h1>No site {html.escape(site_id)}</h1>"
                '<p><a href="/">back to the overview</a></p>',
                status_code=404,
            )
        resolution, series = data.site_series(site, rng)
        kpis = data.site_kpis(site, rng)
        partition = site_day_key(rng.end.isoformat(), site["site_key"])
        asset = {"samples": "site_snapshots", "hourly": "circuit_kpis_hourly"}.get(
            resolution, "circuit_kpis"
        )
        figures = (
            [
                {
                    "anchor": _anchor(circuit),
                    "html": _circuit_figure(circuit, rows, resolution),
                    "source": self.asset_link(asset, partition),
                    "source_name": f"{asset} {partition}",
                }
                for circuit, rows in series.groupby("circuit_id", sort=True)
            ]
            if len(series)
            else []
        )
        kpi_rows = [
            {
                **{k: _round(v) if isinstance(v, float) else v for k, v in row.items()},
                "anchor": _anchor(row["circuit_id"]),
            }
            for row in kpis.to_dict("records")
        ]
        sle = [
            {k: _round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
            for row in data.site_sle(site, rng).to_dict("records")
        ]
        paths = [
            {k: _round(v) if isinstance(v, float) else v for k, v in row.items()}
            for row in data.site_paths(site, rng).to_dict("records")
        ]
        now = [
            {
                **{k: _round(v) if isinstance(v, float) else v for k, v in row.items()},
                "up_now": None if pd.isna(row["up_now"]) else bool(row["up_now"]),
                "anchor": _anchor(row["circuit_id"]),
            }
            for row in data.site_now(site).to_dict("records")
        ]
        return self.render(
            request,
            "site.html",
            t0,
            plotly=PLOTLY_URL if figures else "",
            title=site["name"],
            rng=rng,
            site=site.to_dict(),
            resolution_text={
                "samples": "every sample (one per poll interval)",
                "hourly": "hourly KPIs (the range is over 7 days)",
                "daily": "daily KPIs (the range is over 62 days)",
            }[resolution],
            figures=figures,
            kpis=kpi_rows,
            sle=sle,
            sle_link=self.asset_link("site_sle", partition),
            paths=paths,
            paths_link=self.asset_link("vpn_path_kpis", partition),
            now=now,
            status_link=self.asset_link("wan_status_now", None),
            baselines_link=self.asset_link("circuit_baselines", rng.end.isoformat()),
            links={
                asset: self.asset_link(asset, partition),
                "circuit_kpis": self.asset_link("circuit_kpis", partition),
            },
        )


def _anchor(circuit: str) -> str:
    return "c-" + "".join(ch if ch.isalnum() else "-" for ch in circuit)


def _circuit_figure(circuit: str, rows: pd.DataFrame, resolution: str) -> str:
    """Utilisation against the 70/80/90 % bands, latency and jitter, loss, and up/down state."""
    fig = make_subplots(
        rows=4,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        row_heights=[0.4, 0.25, 0.2, 0.15],
        subplot_titles=("utilisation %", "latency / jitter ms", "loss %", "up"),
    )
    t = rows["t"]
    if resolution == "samples":
        fig.add_trace(go.Scatter(x=t, y=rows["rx_util_pct"], name="rx %", line={"width": 1}), 1, 1)
        fig.add_trace(go.Scatter(x=t, y=rows["tx_util_pct"], name="tx %", line={"width": 1}), 1, 1)
        latency, jitter, loss = "latency_ms", "jitter_ms", "loss_pct"
        state = rows["up"].map({True: 1, False: 0})
    else:
        for col, label in (
            ("util_avg_pct", "avg %"),
            ("util_p95_pct", "p95 %"),
            ("util_max_pct", "max %"),
        ):
            fig.add_trace(go.Scatter(x=t, y=rows[col], name=label, line={"width": 1}), 1, 1)
        latency, jitter, loss = "latency_avg_ms", "jitter_avg_ms", "loss_avg_pct"
        state = rows["availability_pct"] / 100
    for band in BANDS:
        fig.add_hline(
            y=band, line={"dash": "dot", "color": BAND_COLOURS[band], "width": 1}, row=1, col=1
        )
    fig.add_trace(go.Scatter(x=t, y=rows[latency], name="latency ms", line={"width": 1}), 2, 1)
    fig.add_trace(go.Scatter(x=t, y=rows[jitter], name="jitter ms", line={"width": 1}), 2, 1)
    fig.add_trace(go.Scatter(x=t, y=rows[loss], name="loss %", line={"width": 1}), 3, 1)
    fig.add_trace(
        go.Scatter(
            x=t,
            y=state,
            name="up" if resolution == "samples" else "availability",
            line={"shape": "hv", "width": 1},
            fill="tozeroy",
        ),
        4,
        1,
    )
    fig.update_layout(
        title={"text": circuit, "x": 0.01},
        height=560,
        margin={"l": 50, "r": 20, "t": 60, "b": 30},
        legend={"orientation": "h", "y": 1.08, "x": 0.4},
        template="plotly_white",
    )
    fig.update_yaxes(range=[0, 105], row=1, col=1)
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=_anchor(circuit) + "-fig")


def _cards(wan: Now, alerts: pd.DataFrame | None) -> list[dict]:
    """The overview's cards: a figure only where it is known, green only where it is known to
    be fine; no data, or stale data, is grey and says so."""

    def card(id_, label, value, known=True, warn=False):
        if not known or value is None:
            return {"id": id_, "label": label, "value": "—", "cls": "unknown"}
        cls = ("warn" if warn else "bad") if value else "ok"
        return {"id": id_, "label": label, "value": value, "cls": cls}

    known = wan.as_of is not None and not wan.stale
    out = [
        {
            "id": "circuits",
            "label": "circuits",
            "value": wan.circuits if wan.as_of is not None else "—",
            "cls": "",
        },
        card("down", "down now", wan.down, known),
        card("congested", "congested now (≥ 90 %)", wan.congested, known),
        card("not-reporting", "not reporting now", wan.not_reporting, known, warn=True),
    ]
    if alerts is None:
        out.append({"id": "alerts", "label": "open alerts", "value": "—", "cls": "unknown"})
    else:
        out.append(card("alerts", "open alerts", len(alerts), known))
    return out


def _region_bars(regions: pd.DataFrame) -> str:
    """Each region's availability and p95 utilisation as plain SVG bars (the overview needs no
    plotting library: it loads at once), the 70/80/90 % bands dotted."""
    if regions.empty:
        return ""
    charts = []
    for title, column, lo, bands in (
        ("availability %", "availability_pct", 90.0, ()),
        ("p95 utilisation %", "util_p95_pct", 0.0, BANDS),
    ):
        width, bar_h, gap, left = 420, 18, 6, 90
        height = len(regions) * (bar_h + gap) + 24
        scale = (width - left - 60) / (100.0 - lo)
        parts = [
            f'<svg width="{width}" height="{height}" role="img" aria-label="{title}">',
            f'<text x="0" y="12" font-weight="600">{html.escape(title)}</text>',
        ]
        for k, r in enumerate(regions.itertuples(index=False)):
            value = getattr(r, column)
            y = 20 + k * (bar_h + gap)
            w = 0 if pd.isna(value) else max(0.0, (float(value) - lo) * scale)
            shown = "no data" if pd.isna(value) else f"{float(value):.2f}"
            parts.append(
                f'<text x="0" y="{y + 13}">{html.escape(str(r.region))}</text>'
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="#4a6fa5">'
                f"<title>{html.escape(str(r.region))}: {shown}</title></rect>"
                f'<text x="{left + w + 4:.1f}" y="{y + 13}">{shown}</text>'
            )
        for band in bands:
            x = left + (band - lo) * scale
            parts.append(
                f'<line x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{height}" '
                f'stroke="{BAND_COLOURS[band]}" stroke-dasharray="3,3"/>'
            )
        parts.append("</svg>")
        charts.append("".join(parts))
    return f'<div class="bars" id="regions-fig">{"".join(charts)}</div>'


def _failed_page(request: Request, exc: Exception) -> HTMLResponse:
    """What failed, in a line, and what to try; never a traceback, a key or a URL with a
    password (the log has the traceback)."""
    log.exception("the page %s could not be built", request.url.path)
    what = str(exc).splitlines()[0][:300] if str(exc) else ""
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error · wanperf'
        ' NOC</title></head><body style="font-family:system-ui,sans-serif;margin:20px">'
        f"<h1>This page could not be built</h1><p>{html.escape(type(exc).__name__)}"
        f"{': ' + html.escape(redact_url(what)) if what else ''}</p>"
        "<p>The stored data it needed could not be read. Other pages and other days may be fine;"
        ' the dashboard\'s log has the details.</p><p><a href="/">back to the overview</a></p>'
        "</body></html>"
    )
    return HTMLResponse(text, status_code=500)


def _org_of(settings: Settings, org_id: str | None):
    """The org whose alerts the page acts on: given, MIST_ORG_ID, or the one the token (or the
    simulator) reads, asked once when first needed."""

    @functools.cache
    def org() -> str:
        if org_id or settings.mist_org_id:
            return org_id or settings.mist_org_id
        from wanperf_dagster.sources import client_from_settings

        return client_from_settings(settings).resolve_org_id()

    return org


def build_app(
    settings: Settings,
    assets: AssetStore | None = None,
    today=None,
    clock=None,
    org_id: str | None = None,
    gate: Gate | None = None,
) -> Starlette:
    """The dashboard; `gate` (by default the settings', `access.gate_from`) says who may see
    what."""
    gate = gate or gate_from(settings)
    dashboard = Dashboard(
        DashboardData(assets or AssetStore.from_settings(settings)), settings, today, clock, org_id
    )
    act = dashboard.actions
    signin = SignIn(gate)
    plotly_gz = _gzipped(PLOTLY_JS)

    async def plotly_js(request: Request):
        """plotly.js, compressed once (4.8 MB, 1.4 MB gzipped) and cached for good: its
        address carries the installed version."""
        headers = {
            "Cache-Control": "public, max-age=31536000, immutable",
            "Vary": "Accept-Encoding",
        }
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(
                plotly_gz,
                media_type="application/javascript",
                headers={**headers, "Content-Encoding": "gzip"},
            )
        return FileResponse(PLOTLY_JS, media_type="application/javascript", headers=headers)

    async def healthz(request: Request):
        return PlainTextResponse("ok")

    return Starlette(
        # the pages run in worker threads (plain functions): a heavy one never holds the event
        # loop, so /healthz and every other page answer meanwhile
        exception_handlers={Exception: _failed_page},
        routes=[
            Route("/", dashboard.overview),
            Route("/search", dashboard.search),
            Route("/site/{site_id}", dashboard.site),
            Route("/alerts", dashboard.alerts_page),
            Route("/alerts/ack", act.ack_form, methods=["POST"]),
            Route("/alerts/silence", act.silence_form, methods=["POST"]),
            Route("/alerts/unsilence", act.unsilence_form, methods=["POST"]),
            Route("/api/alerts", act.api_alerts),
            Route("/api/alerts/ack", act.api_ack, methods=["POST"]),
            Route("/api/silences", act.api_silences, methods=["GET"]),
            Route("/api/silences", act.api_silence, methods=["POST"]),
            Route("/api/silences/{silence_id}", act.api_unsilence, methods=["DELETE"]),
            Route("/sla", dashboard.sla),
            Route("/sla.csv", dashboard.sla_csv),
            Route("/sla/print", dashboard.sla_print),
            Route("/sla/circuit", dashboard.sla_circuit),
            Route(PLOTLY_URL, plotly_js),
            Route("/healthz", healthz),
            Route("/login", signin.login_page, methods=["GET"]),
            Route("/login", signin.login, methods=["POST"]),
            Route("/logout", signin.logout, methods=["POST"]),
        ],
        middleware=[Middleware(Guard, gate=gate)],
    )
