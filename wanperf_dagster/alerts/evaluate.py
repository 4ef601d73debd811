"""One evaluation, as the `wan_alerts` asset (and `wanperf alerts --evaluate`) runs it after a
sweep: the last two hours of samples of the given sites, the rules, their grouping (one
incident per cause), then the dispatch."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from wanperf_dagster.kpi import KpiConfig
from wanperf_dagster.kpi.baselines import hour_of_week
from wanperf_dagster.storage import AssetStore, day_of

from .grouping import incidents_now
from .notify import Destination
from .rules import LOOKBACK_S, SAMPLE_COLUMNS, AlertRules, Incident, gateway_status_rows
from .state import AlertsLockedError, DispatchReport, dispatch, open_alerts


def evaluate(
    storage: AssetStore,
    org_id: str,
    site_ids: Sequence[str],
    now: int,
    interval_minutes: int,
    rules: AlertRules,
    config: KpiConfig,
    destinations: Sequence[Destination],
    links: Callable[[Incident], dict[str, str]] = lambda i: {},
    **dispatch_options,
) -> tuple[list[Incident], DispatchReport]:
    days = sorted({day_of(now), day_of(now - LOOKBACK_S)})
    site_days = [(d, s) for d in days for s in site_ids]
    # the hours the rules judge, from the sweep's recent window (a few values a slot), not the
    # site-days' 144 slots
    since = now - LOOKBACK_S - interval_minutes * 60
    samples = storage.read_recent_samples(
        org_id, site_ids, since, now, interval_minutes * 60, SAMPLE_COLUMNS
    )
    # the gateways' own status rows beside the port events: an offline gateway sends no sample
    events = storage.read_feed("events", site_days)
    # the circuits' register, of the sites whose gateway said offline (whose circuits it covers)
    offline_sites = sorted(set(gateway_status_rows(events)["site_id"].astype(str)))
    # what is normal at this hour, unless the baseline rule is off
    baselines = (
        storage.baselines_at(org_id, int(hour_of_week(now)), site_ids)
        if rules.baseline_minutes > 0
        else None
    )
    previous = open_alerts(storage, org_id)
    first_seen = {i.key: i.since for i in previous}
    grouped = incidents_now(
        samples,
        interval_minutes,
        rules,
        config,
        now,
        first_seen,
        events=events,
        circuits=storage.circuits(offline_sites),
        previous=previous,
        baselines=baselines,
    )
    incidents = grouped.shown
    try:
        report = dispatch(
            storage,
            org_id,
            incidents,
            destinations,
            at=now,
            links=links,
            covered=grouped.covered,
            inhibited=grouped.inhibited,
            **dispatch_options,
        )
    except AlertsLockedError as exc:  # another evaluation is sending: it tells them
        report = DispatchReport(
            open=len(incidents),
            errors=[str(exc)],
            locked_out=True,
            covered=grouped.covered,
            inhibited=grouped.inhibited,
        )
    return incidents, report
