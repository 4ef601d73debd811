"""What is wrong now: every circuit's latest state and its last 3, 12 and 24 hours."""

import dagster as dg
import pandas as pd

from wanperf_dagster import kpi
from wanperf_dagster.dagster_io.metadata import CADENCE_TAG, OWNERS, circuit_table
from wanperf_dagster.dagster_io.resources import MistApiResource, RedisResource
from wanperf_dagster.settings import get_settings
from wanperf_dagster.store import samples as sample_store
from wanperf_dagster.store import sites_by_age


@dg.asset(
    group_name="status",
    kinds={"pandas", "redis"},
    owners=OWNERS,
    deps=["raw_port_stats"],
    tags={CADENCE_TAG: "sweep"},
    description="What is wrong now: per circuit its latest state and the last 3, 12 and 24 hours "
    "(availability, time above thresholds, flaps, failover). Refreshed after each sweep.",
)
def wan_status_now(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    mist: MistApiResource,
    mist_sites: pd.DataFrame,
) -> pd.DataFrame:
    r = redis.get_client()
    client = mist.get_client()
    org = client.resolve_org_id()
    sites = [s for s, _ in sites_by_age(r, org)]
    now = client.clock()
    days = sorted({sample_store.day_of(now), sample_store.day_of(now - 86400)})
    samples = sample_store.read_site_days(r, [(d, s) for d in days for s in sites])
    config = kpi.KpiConfig.for_sites(mist_sites)
    status = kpi.window_kpis(samples, get_settings().interval_minutes, config=config)
    if status.empty:
        context.add_output_metadata({"circuits": 0})
        return status
    latest = status[status["window_hours"] == 3]
    congested = latest["util_now_pct"] >= 90
    down = latest["up_now"].eq(False)
    worst = latest.assign(down_now=down).sort_values(
        ["down_now", "util_now_pct"], ascending=[False, False]
    )
    context.add_output_metadata(
        {
            "circuits": int(latest["circuit_id"].nunique()),
            "down_now": int(down.sum()),
            "congested_now": int(congested.sum()),
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
