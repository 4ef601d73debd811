"""What is normal for each circuit at each hour of the week, learnt nightly from the last weeks
of hourly KPIs: the `baseline` alert rule and the site page judge the hour against it."""

import datetime as dt

import dagster as dg
import pandas as pd
from pandas.api.types import union_categoricals

from wanperf_dagster import kpi
from wanperf_dagster.dagster_io.metadata import circuit_table
from wanperf_dagster.dagster_io.partitions import SITE_PARTITIONS
from wanperf_dagster.dagster_io.resources import (
    MistApiResource,
    RedisResource,
    WanperfSettings,
    known_orgs,
)
from wanperf_dagster.kpi.baselines import METRICS, BaselineLearner

COLUMNS = ["hour", "site_id", "circuit_id", *(column for _, column in METRICS)]
SITES_AT_ONCE = 1000  # sites learnt at a time: 10,000 sites' 4 weeks in 827 MiB (2,000: 949)


def learn_weeks(read, end: dt.date, weeks: int, min_weeks: int) -> tuple[pd.DataFrame, int]:
    """The baselines of the `weeks` weeks up to `end`, read a week at a time (`read(days)`: an
    Arrow table of those days' hourly KPIs): what is held is one value a circuit, hour of the
    week and week, not four weeks of rows. (The baselines, the hourly rows read.)"""
    first = end - dt.timedelta(days=7 * weeks - 1)
    start = int(dt.datetime.combine(first, dt.time(), dt.UTC).timestamp())
    learner = BaselineLearner(start, weeks)
    rows = 0
    for week in range(weeks):
        days = [(first + dt.timedelta(days=7 * week + d)).isoformat() for d in range(7)]
        table = read(days)
        if table is None or table.num_rows == 0:
            continue
        rows += table.num_rows
        learner.add(table.to_pandas(strings_to_categorical=True))  # ids as codes
        del table
    return learner.result(min_weeks), rows


def learn_sliced(
    read, sites: list[str], end: dt.date, weeks: int, min_weeks: int
) -> tuple[pd.DataFrame, int]:
    """`learn_weeks` of `SITES_AT_ONCE` sites at a time (`read(days, site_keys)`): a circuit's
    normal is its own, and four weeks of 10,000 sites' hourly KPIs learnt at once held 2.3 GiB.
    (The baselines, the hourly rows read.)"""
    parts, rows = [], 0
    for part in kpi.site_slices(sites, SITES_AT_ONCE):
        learnt, read_rows = learn_weeks(
            lambda days, part=part: read(days, part), end, weeks, min_weeks
        )
        parts.append(_compact(learnt))
        rows += read_rows
    if len(parts) == 1:
        return parts[0], rows
    ids = {c: union_categoricals([p[c] for p in parts]) for c in ("site_id", "circuit_id")}
    frame = pd.concat([p.drop(columns=list(ids)) for p in parts], ignore_index=True)
    return frame.assign(**ids)[list(parts[0].columns)], rows


def _compact(frame: pd.DataFrame) -> pd.DataFrame:
    """The figures as float32, the small counts as small integers and the ids as categories: 4
    million circuit-hours at 10,000 sites are held until they are stored (a baseline needs no 16
    digits, and a circuit's id is the same string 168 times)."""
    floats = {c: "float32" for c in frame.columns if frame[c].dtype == "float64"}
    ids = {"site_id": "category", "circuit_id": "category"}
    return frame.astype({**floats, **ids, "how": "int16", "weeks": "int8"})


def frames_by_org(frame: pd.DataFrame, sites, orgs: list[str]):
    """(org, its sites' rows) for each org; with one org, all of the rows are its."""
    if len(orgs) == 1 or sites is None or "org_id" not in sites.column_names:
        yield orgs[0], frame
        return
    org_of = dict(
        zip(sites.column("site_id").to_pylist(), sites.column("org_id").to_pylist(), strict=True)
    )
    owner = frame["site_id"].astype(str).map(org_of)
    for org in orgs:
        yield org, frame[owner == org]


def circuit_baselines(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    mist: MistApiResource,
    settings: WanperfSettings,
) -> dg.MaterializeResult:
    end = dt.date.fromisoformat(context.partition_key)
    assets = redis.asset_store()
    orgs = known_orgs(redis, mist)
    built = assets.baselines_built(orgs[0])
    if built.get("through", "") > end.isoformat():  # a backfill of an older day: kept as is
        context.log.info(f"baselines learnt through {built['through']} kept (newer than {end})")
        return dg.MaterializeResult(metadata={"kept_newer_through": built["through"]})
    sites = context.instance.get_dynamic_partitions(SITE_PARTITIONS)
    frame, rows = learn_sliced(
        lambda days, part: (
            assets.load_days(
                "circuit_kpis_hourly", days, part, COLUMNS, only_these_sites=True
            ).table
        ),
        sites,
        end,
        settings.baseline_weeks,
        settings.baseline_min_weeks,
    )
    learnt = frame[frame["util_median"].notna() | frame["latency_median"].notna()]
    stored = 0
    for org, part in frames_by_org(frame, assets.latest("mist_sites"), orgs):  # an org's own
        stored += assets.save_baselines(
            org,
            part,
            {"through": end.isoformat(), "weeks": settings.baseline_weeks, "rows": len(part)},
        )
    circuits = frame["circuit_id"].nunique()
    ready = learnt["circuit_id"].nunique()
    busiest = (
        learnt.sort_values("util_median", ascending=False)
        .drop_duplicates("circuit_id")
        .head(10)
        .assign(hour_of_week=lambda f: f["how"])
    )
    return dg.MaterializeResult(
        metadata={
            "circuits": circuits,
            "circuits_learnt": ready,
            "circuits_learning": circuits - ready,
            "circuit_hours_learnt": len(learnt),
            "hourly_rows_read": rows,
            "stored_bytes": stored,
            "busiest_normal_hours": circuit_table(
                pd.DataFrame(busiest),
                ["site_id", "circuit_id", "hour_of_week", "util_median", "util_mad", "weeks"],
            ),
        }
    )
