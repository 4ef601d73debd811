"""One evaluation, as the `wan_alerts` asset (and `wanperf alerts --evaluate`) runs it after a
sweep: the last two hours of samples of the given sites, the rules, then the dispatch."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from wanperf_dagster.kpi import KpiConfig
from wanperf_dagster.storage import AssetStore, day_of

from .notify import Destination
from .rules import LOOKBACK_S, AlertRules, Incident, open_incidents
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
    samples = storage.read_samples([(d, s) for d in days for s in site_ids])
    first_seen = {i.key: i.since for i in open_alerts(storage, org_id)}
    incidents = open_incidents(
        samples, interval_minutes, rules, config, now=now, first_seen=first_seen
    )
    try:
        report = dispatch(
            storage, org_id, incidents, destinations, at=now, links=links, **dispatch_options
        )
    except AlertsLockedError as exc:  # another evaluation is sending: it tells them
        report = DispatchReport(open=len(incidents), errors=[str(exc)], locked_out=True)
    return incidents, report
