"""What is wrong now: every circuit's latest state and its last 3, 12 and 24 hours."""

import dataclasses

import dagster as dg
import numpy as np
import pandas as pd

from wanperf_dagster import alerts, kpi
from wanperf_dagster.alerts.baselines import FIGURES
from wanperf_dagster.dagster_io.metadata import CADENCE_TAG, OWNERS, circuit_table
from wanperf_dagster.dagster_io.resources import MistApiResource, RedisResource, WanperfSettings
from wanperf_dagster.kpi.baselines import hour_of_week, upper_bound
from wanperf_dagster.storage import day_of

# the sites whose samples are computed at a time: at 20,000 sites a slice of 2,000 (520,000
# samples of the last day) took the process to 1,134 MiB, 1,000 to 902, 500 to 658, each in 42-45 s
SITES_AT_ONCE = 500


def sliced_window_kpis(
    assets, sites, days, interval_minutes: int, config, since=None, hours=kpi.WINDOW_HOURS
) -> pd.DataFrame:
    """`kpi.window_kpis` of every site, `SITES_AT_ONCE` sites' samples at a time: two days
    of every site's samples at once took 4.8 GiB at 20,000 sites. Every slice's windows end
    where the newest sample of all ends them; a slice whose own newest sample is older (its
    sites stale) is read again and computed with that end, so slicing changes nothing.

    With `since` (epoch s, on a slot's start), only the slots from then on are read: the longest
    window needs a day, not the two whole days of `days` (`bench status`). When the newest
    sample of all is too old for that (the sweeps behind), every slice is read again whole."""
    computed = []
    span = pd.Timedelta(hours=max(hours))

    def read(chunk, since):
        return assets.read_samples([(d, s) for d in days for s in chunk], since=since)

    for chunk in kpi.site_slices(sites, SITES_AT_ONCE):
        samples = read(chunk, since)
        if samples.empty:
            continue
        end = _windows_end(samples, interval_minutes)
        frame = kpi.window_kpis(samples, interval_minutes, now=end, hours=hours, config=config)
        computed.append((chunk, end, frame))
    if since is not None:
        first = pd.Timestamp(int(since), unit="s", tz="UTC")
        last = max((end for _, end, _ in computed), default=None)
        if last is None or (last - span).floor(f"{interval_minutes}min") < first:
            return sliced_window_kpis(assets, sites, days, interval_minutes, config, None, hours)
    if not computed:
        return kpi.window_kpis(pd.DataFrame(), interval_minutes, hours=hours)
    last = max(end for _, end, _ in computed)
    frames = []
    for chunk, end, frame in computed:
        if end != last:
            samples = read(chunk, since)
            frame = kpi.window_kpis(samples, interval_minutes, now=last, hours=hours, config=config)
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    for column, dtype in frames[0].dtypes.items():  # slices' categories differ: one again
        if isinstance(dtype, pd.CategoricalDtype):
            out[column] = out[column].astype("category")
    return out


def _windows_end(samples: pd.DataFrame, interval_minutes: int) -> pd.Timestamp:
    """Where `kpi.window_kpis` ends its windows when not told: the newest sample's interval."""
    newest = pd.to_datetime(samples["ts"], utc=True).max()
    return newest.floor(f"{interval_minutes}min") + pd.Timedelta(minutes=interval_minutes)


# refreshed by the sweep job (the assets tagged with the sweep cadence), after raw_port_stats
AFTER_EACH_SWEEP = {
    "group_name": "status",
    "kinds": {"pandas", "redis"},
    "owners": OWNERS,
    "deps": ["raw_port_stats"],
    "tags": {CADENCE_TAG: "sweep"},
}


@dg.asset(
    **AFTER_EACH_SWEEP,
    description="What is wrong now: per circuit its latest state and the last 3, 12 and 24 hours "
    "(availability, time above thresholds, flaps, failover). Refreshed after each sweep.",
)
def wan_status_now(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    mist: MistApiResource,
    settings: WanperfSettings,
    mist_sites: pd.DataFrame,
) -> pd.DataFrame:
    assets = redis.asset_store()
    config = kpi.KpiConfig.for_sites(mist_sites)
    parts, status = [], pd.DataFrame()
    for client in mist.get_org_clients(budget=redis.get_client()):
        org = client.org_id
        sites = [s for s, _ in assets.sites_by_age(org)]
        now = client.clock()
        days = sorted({day_of(now), day_of(now - 86400)})
        step = settings.interval_minutes * 60  # the day's windows' slots, and one before them
        since = (int(now) - 86400 - step) // step * step
        status = sliced_window_kpis(assets, sites, days, settings.interval_minutes, config, since)
        if status.empty:
            continue
        normal = assets.baselines_at(org, int(hour_of_week(now)), sites)
        status = with_baselines(status, normal, settings.alert_baseline_sigmas)
        status.insert(0, "org_id", org)
        parts.append(status)
    if not parts:
        context.add_output_metadata({"circuits": 0})
        return status  # nothing swept yet: the empty frame of the KPIs' columns
    status = pd.concat(parts, ignore_index=True)
    latest = status[status["window_hours"] == 3]
    # a circuit the latest sweep did not see (its gateway dark) is not reporting: never up
    seen = pd.to_datetime(latest["last_seen"], utc=True)
    live = seen >= seen.max() - pd.Timedelta(minutes=2 * settings.interval_minutes)
    congested = (latest["util_now_pct"] >= 90) & live
    down = latest["up_now"].eq(False) & live
    worst = latest.assign(down_now=down).sort_values(
        ["down_now", "util_now_pct"], ascending=[False, False]
    )
    context.add_output_metadata(
        {
            "circuits": int(latest["circuit_id"].nunique()),
            "down_now": int(down.sum()),
            "congested_now": int(congested.sum()),
            "not_reporting_now": int((~live).sum()),
            "as_of": dg.MetadataValue.timestamp(seen.max().timestamp()),
            "failed_over_3h": int((latest["failover_minutes"] > 0).sum()),
            "worst_now": circuit_table(
                worst,
                [
                    "site_name",
                    "circuit_id",
                    "region",
                    "up_now",
                    "util_now_pct",
                    "availability_pct",
                    "minutes_above_90",
                ],
            ),
        }
    )
    return status


def with_baselines(
    status: pd.DataFrame, baselines: pd.DataFrame | None, sigmas: float
) -> pd.DataFrame:
    """Each circuit's normal utilisation at this hour of the week beside its utilisation now
    (`circuit_baselines`): `baseline` says `learnt`, `learning` (too few weeks seen: no
    normal yet) or `none` (never learnt)."""
    out = status.copy()
    if baselines is None or baselines.empty:
        out["baseline"] = "none"
        out["util_normal_pct"] = out["util_off_above_pct"] = float("nan")
        return out
    ref = baselines.drop_duplicates("circuit_id").set_index("circuit_id")
    ids = out["circuit_id"].astype(str)
    median = ids.map(ref["util_median"]).astype("float64")
    mad = ids.map(ref["util_mad"]).astype("float64")
    known = ids.isin(ref.index)
    out["baseline"] = np.where(median.notna(), "learnt", np.where(known, "learning", "none"))
    out["util_normal_pct"] = median.round(1)
    out["util_off_above_pct"] = upper_bound(median, mad, sigmas, FIGURES[0][3]).round(1)
    return out


HISTORY_ROWS = 5000  # cleared incidents kept in the asset's value (Redis keeps 10,000)


INCIDENT_COLUMNS = [
    "status",
    "kind",
    "site_id",
    "site_name",
    "circuit_id",
    "since",
    "cleared_at",
    "value",
    "detail",
    "circuits",  # how many circuits it speaks for (a site's or region's: those it covers)
    "sites",  # the sites it spans, by name
    "gateway",  # a gateway's own incident: its MAC
    "inhibited_by",  # an inhibited incident's cover (status "inhibited": open, not told)
    "silenced_by",  # the silence over an open incident: recorded, not told while it lasts
    "acknowledged_by",  # who took it (`wanperf alerts --ack`), when, with what note
    "acknowledged_at",
    "acknowledged_note",
]


def incidents_frame(
    incidents: list[alerts.Incident],
    history: list[dict],
    covered: list[alerts.Incident] = (),
    inhibited: dict[str, str] | None = None,
    acks: dict[str, dict] | None = None,
    silenced: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The open incidents, those open under another (inhibited), then those that cleared
    (newest first): the alert history."""
    inhibited = inhibited or {}
    known = {f.name for f in dataclasses.fields(alerts.Incident)}

    def counted(incident: alerts.Incident) -> dict:
        circuits, _ = alerts.covering(incident)
        return {"circuits": circuits, "sites": ", ".join(incident.sites or [incident.site_name])}

    silenced = silenced or {}
    rows = [
        {
            **vars(i),
            **counted(i),
            "status": "open",
            "cleared_at": None,
            "silenced_by": silenced.get(i.key),
        }
        for i in incidents
    ]
    rows += [
        {
            **vars(i),
            **counted(i),
            "status": "inhibited",
            "cleared_at": None,
            "inhibited_by": inhibited.get(i.key),
        }
        for i in covered
    ]
    rows += [
        {
            **h,
            **counted(alerts.Incident(**{k: v for k, v in h.items() if k in known})),
            "status": "cleared",
        }
        for h in history
    ]
    for row in rows:  # an open incident's acknowledgement, of its episode
        subject = row.get("gateway") or row.get("circuit_id") or row["site_id"]
        ack = (acks or {}).get(alerts.rules.incident_key(row["kind"], subject))
        if ack and row["status"] != "cleared":
            row["acknowledged_by"] = ack["by"]
            row["acknowledged_at"] = ack["at"]
            row["acknowledged_note"] = ack["note"]
    frame = pd.DataFrame(rows, columns=INCIDENT_COLUMNS)
    for column in ("since", "cleared_at", "acknowledged_at"):
        frame[column] = pd.to_datetime(frame[column].astype("float64"), unit="s", utc=True)
    return frame


@dg.asset(
    **AFTER_EACH_SWEEP,
    description="The incidents open now (down, congested, flapping, loss, latency, site on "
    "backup; a site or region with every circuit down grouped as one) from the freshest samples; each new one sent once to the alert webhooks "
    "(WANPERF_ALERT_WEBHOOKS, WANPERF_ALERT_SLACK_WEBHOOKS) and its recovery when it clears.",
)
def wan_alerts(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    mist: MistApiResource,
    settings: WanperfSettings,
    mist_sites: pd.DataFrame,
) -> pd.DataFrame:
    assets = redis.asset_store()
    frames, reports, n_open = [], [], 0
    for client in mist.get_org_clients(budget=redis.get_client()):
        org = client.org_id  # each org's incidents, state and routes (`org=` in a route) its own
        sites = [s for s, _ in assets.sites_by_age(org)]
        incidents, report = alerts.evaluate(
            assets,
            org,
            sites,
            int(client.clock()),
            settings.interval_minutes,
            settings.alert_rules(),
            kpi.KpiConfig.for_sites(mist_sites),
            settings.alert_destinations(),
            links=settings.incident_links,
            repeat_every=settings.alert_repeat_minutes * 60,
            resolve_after=settings.alert_resolve_minutes * 60,
        )
        if report.locked_out:
            context.log.info(f"org {org}: not sending: {report.errors[0]}")
        else:
            for error in report.errors:
                context.log.warning(f"alert not delivered, retried at the next sweep: {error}")
        frame = incidents_frame(
            incidents,
            alerts.alert_history(assets, org, limit=HISTORY_ROWS),
            report.covered,
            report.inhibited,
            alerts.acknowledgements(assets, org),
            report.silenced,
        )
        frame.insert(0, "org_id", org)
        frames.append(frame)
        reports.append(report)
        n_open += len(incidents)
    frame = pd.concat(frames, ignore_index=True)
    now_open = frame[frame["status"] == "open"]

    def total(name: str) -> int:
        return sum(len(v) if isinstance(v := getattr(r, name), list | dict) else v for r in reports)

    context.add_output_metadata(
        {
            "open": n_open,
            "orgs": len(frames),
            "inhibited": total("covered"),
            "silenced": total("silenced"),
            "opened": total("opened"),
            "recovered": total("recovered"),
            "delivered": total("sent"),
            "undelivered": total("errors"),
            "left_for_next_evaluation": total("pending"),
            "dead_lettered": total("dead_lettered"),
            "dagster/row_count": len(frame),
            **{f"open_{kind}": int((now_open["kind"] == kind).sum()) for kind in alerts.KINDS},
            "open_incidents": circuit_table(
                now_open, ["kind", "site_name", "circuit_id", "detail", "since"], n=20
            ),
            "dashboard": dg.MetadataValue.url(settings.dashboard_url),
        }
    )
    return frame
