"""`wanperf top`: the worst circuits of a day by a KPI."""

from __future__ import annotations

import argparse

from .common import DAY_HELP, RAW, load_day, parse_day, positive_count


def add_parser(sub) -> None:
    top = sub.add_parser(
        "top",
        help="the worst circuits of a day by a KPI, as a table",
        description="Rank the day's circuits by a KPI of circuit_kpis, worst first (lowest for"
        " availability and coverage, highest otherwise), ties ordered by a second KPI; each with"
        " its site's name and region.",
        epilog="examples:\n  wanperf top\n  wanperf top --kpi availability_pct --day today -n 20\n"
        "  wanperf top --kpi flaps --day -3",
        formatter_class=RAW,
    )
    top.add_argument(
        "--kpi", default="util_p95_pct", help="a KPI column of circuit_kpis (default util_p95_pct)"
    )
    top.add_argument("--day", type=parse_day, default="yesterday", help=DAY_HELP)
    top.add_argument("-n", type=positive_count, default=10, help="how many circuits (>= 1)")
    top.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wanperf_dagster import kpi

    frame = load_day("circuit_kpis", args.day, None).to_pandas()
    measures = kpi.kpi_measures(frame)
    if args.kpi not in measures:
        raise SystemExit(
            f"wanperf: {args.kpi!r} is not a KPI of circuit_kpis; choose one of:"
            f" {', '.join(measures)}"
        )
    top = kpi.top_offenders(frame, args.kpi, args.n)
    if top.empty:
        print(f"no circuit has a value for {args.kpi} on {args.day}")
        return 0
    second = kpi.tie_breaker(args.kpi)
    cols = ["rank", "site_name", "region", "circuit_id", args.kpi, second]
    cols = list(dict.fromkeys(c for c in cols if c in top.columns))
    view = top[cols].copy()
    if "down_seconds" in view:  # the one down figure, in minutes as the dashboard shows it
        view.insert(view.columns.get_loc("down_seconds"), "down_min", view["down_seconds"] / 60)
        view = view.drop(columns="down_seconds")
    for c in view.columns:
        if view[c].dtype.kind == "f":
            view[c] = view[c].round(2)
    print(f"worst {len(view)} circuits by {args.kpi} on {args.day} (ties by {second})")
    print(view.to_string(index=False))
    return 0
