"""The monthly carrier SLA report: each circuit's month against its contract, with its outages
as the evidence, and each provider's month (what a credit claim is built on)."""

import datetime as dt
import time

import dagster as dg
import pandas as pd

from wanperf_dagster import sla
from wanperf_dagster.dagster_io.automation import PERIOD_ROLLUPS
from wanperf_dagster.dagster_io.metadata import OWNERS, circuit_table
from wanperf_dagster.dagster_io.partitions import SITE_PARTITIONS, Partitions, end_of_today
from wanperf_dagster.dagster_io.resources import RedisResource, WanperfSettings
from wanperf_dagster.settings import get_settings

CIRCUIT_VIEW = ["provider", "site_name", "circuit_id", "sla_pct", "availability_pct", "credit_pct"]
PROVIDER_VIEW = ["provider", "circuits", "missed_sla", "no_data", "availability_pct", "outages"]


def _terms(settings: WanperfSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The contracts and maintenance windows of the user's files (none: every circuit is
    reported without a contract); a bad file fails the run naming each bad line."""
    try:
        contracts = (
            sla.load_contracts(settings.sla_file)
            if settings.sla_file
            else pd.DataFrame(columns=sla.CONTRACT_COLUMNS)
        )
        maintenance = (
            sla.load_maintenance(settings.sla_maintenance_file)
            if settings.sla_maintenance_file
            else pd.DataFrame(columns=["circuit_id", "start", "end", "reason"])
        )
    except sla.SlaFileError as exc:
        raise dg.Failure(description=str(exc)) from None
    return contracts, maintenance


def _forecast(assets, month: str) -> pd.DataFrame | None:
    """The month's capacity forecast from `circuit_trends_13m`, when it was materialized."""
    loaded = assets.load("circuit_trends_13m", [month], allow_missing=True)
    return loaded.to_pandas() if loaded.found else None


def sla_report(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    settings: WanperfSettings,
    history_start: dt.datetime,
):
    window = context.partition_time_window
    first = max(window.start, history_start)
    last = min(window.end, end_of_today())
    days = [
        (first.date() + dt.timedelta(days=i)).isoformat()
        for i in range((last.date() - first.date()).days)
    ]
    end = min(window.end.timestamp(), time.time())  # a month in progress: up to now
    sites = context.instance.get_dynamic_partitions(SITE_PARTITIONS)
    assets = redis.asset_store()
    # a month reaches past the hot window: the history tier holds every day
    daily = assets.load_days("circuit_kpis", days, sites, sla.report.DAILY_COLUMNS)
    events = assets.load_days("port_events", days, sites, sla.report.EVENT_COLUMNS)
    contracts, maintenance = _terms(settings)
    kpis = daily.to_pandas() if daily.found else pd.DataFrame(columns=["circuit_id"])
    for column in ("site_id", "site_name", "observed_seconds", "down_seconds", "util_p95_pct"):
        if column not in kpis:
            kpis[column] = pd.Series(dtype="float64")
    hourly = None
    business = contracts.loc[contracts["window"] != sla.CALENDAR, "circuit_id"]
    if len(business):  # business hours are counted by the hour
        loaded = assets.load_days("circuit_kpis_hourly", days, sites, sla.report.HOURLY_COLUMNS)
        hourly = sla.business_hours_kpis(loaded.table, business) if loaded.found else None
        del loaded
    report, outages = sla.circuit_sla(
        kpis,
        events.to_pandas() if events.found else pd.DataFrame(columns=["ts", "circuit_id", "event"]),
        contracts,
        maintenance,
        window.start.timestamp(),
        end,
        hourly=hourly,
    )
    report = sla.with_forecast(report, _forecast(assets, context.partition_key))
    providers = sla.provider_sla(report)
    sites_of = report.set_index("circuit_id")[["site_id", "site_name"]]
    outages = outages.join(sites_of, on="circuit_id")
    for column in ("start", "end"):
        outages[column] = pd.to_datetime(outages[column], unit="s", utc=True)
    missed = report[report["met"] == False].sort_values("availability_pct")  # noqa: E712
    context.log.info(
        f"{len(report)} circuits, {len(outages)} outages, {len(missed)} below their SLA"
        f" ({len(days)} days, {len(daily.missing)} site-days missing)"
    )
    yield dg.Output(
        report,
        output_name="sla_report",
        metadata={
            "dagster/row_count": len(report),
            "circuits_below_sla": len(missed),
            "credits_owed": int((report["credit_pct"] > 0).sum()),
            "without_contract": int((report["provider"] == sla.report.NO_CONTRACT).sum()),
            "site_days_missing": len(daily.missing),
            "providers": circuit_table(providers, PROVIDER_VIEW, 50),
            "below_sla": circuit_table(missed, CIRCUIT_VIEW, 10),
        },
    )
    yield dg.Output(
        outages,
        output_name="sla_outages",
        metadata={
            "dagster/row_count": len(outages),
            "longest": circuit_table(
                outages.sort_values("seconds", ascending=False),
                ["site_name", "circuit_id", "start", "seconds"],
                5,
            ),
        },
    )


def reports(p: Partitions, start_date: str) -> list:
    history_start = dt.datetime.fromisoformat(start_date).replace(tzinfo=dt.UTC)

    def outputs(description: str) -> dg.AssetOut:
        return dg.AssetOut(
            group_name="reports",
            kinds={"pandas", "redis"},
            owners=OWNERS,
            automation_condition=PERIOD_ROLLUPS,
            description=description,
        )

    @dg.multi_asset(
        name="sla_month",
        outs={
            "sla_report": outputs(
                "Each circuit's month against its contract (WANPERF_SLA_FILE): measured "
                "availability from the KPIs' exact down and observed seconds, maintenance "
                "windows left out (WANPERF_SLA_MAINTENANCE_FILE), met or missed, the credit due; "
                "circuits without a contract and contracts without data listed as such."
            ),
            "sla_outages": outputs(
                "Each outage of the month, to the second, from the port events and the "
                "gateways going offline: the evidence of the SLA report."
            ),
        },
        partitions_def=p.month,
        # lineage: the month's site-days, read from the history tier as monthly_circuit_kpis does
        deps=["circuit_kpis", "circuit_kpis_hourly", "port_events", "circuit_trends_13m"],
        can_subset=False,
    )
    def _sla(context: dg.AssetExecutionContext, redis: RedisResource, settings: WanperfSettings):
        yield from sla_report(context, redis, settings, history_start)

    return [_sla]


@dg.definitions
def defs() -> dg.Definitions:
    settings = get_settings()
    return dg.Definitions(assets=reports(Partitions.of(settings), settings.start_date))
