"""The events feed's site-day asset: each port's down and up events to the second, the gateways'
going offline and coming back; `circuit_kpis` takes them as an input, so a chunk's exact down
time comes in the same run. Its fetch is `fetch.py`; its maths, shared with the circuits'
KPIs, is `kpi/outages.py`."""

import dagster as dg
import pandas as pd

from wanperf_dagster.dagster_io.metadata import dataset_column_schema
from wanperf_dagster.dagster_io.partitions import Partitions
from wanperf_dagster.dagster_io.resources import RedisResource, WanperfSettings

from ..site_days import chunked, per_partition, read_feed


def port_events(
    context: dg.AssetExecutionContext, redis: RedisResource, settings: WanperfSettings
) -> pd.DataFrame:
    pairs, frame = read_feed(context, redis, "events")
    per_partition(
        context,
        settings,
        "port_events",
        pairs,
        frame,
        lambda rows: {
            "dagster/row_count": len(rows),
            "downs": int((rows["event"] == "down").sum()),
            "circuits_with_events": int(rows["circuit_id"].nunique()),
        },
    )
    context.log.info(f"{len(pairs)} site-days: {len(frame):,} port events")
    return frame


def definitions(p: Partitions) -> dg.Definitions:
    return dg.Definitions(
        assets=[
            dg.asset(
                **chunked(p),
                deps=["raw_wan_insights"],
                metadata={"dagster/column_schema": dataset_column_schema("port_events")},
                description="Each WAN port's down and up events of the site-day, to the second "
                "(Mist's GW_PORT_DOWN / GW_PORT_UP device events): where the event feed covers a "
                "day, circuit_kpis takes its down time and flaps from these instead of the "
                "samples.",
            )(port_events)
        ]
    )
