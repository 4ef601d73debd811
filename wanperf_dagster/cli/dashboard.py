"""`wanperf dashboard`: the NOC dashboard."""

from __future__ import annotations

import argparse

from wanperf_dagster.settings import get_settings

from .common import RAW, asset_store


def add_parser(sub) -> None:
    dashboard = sub.add_parser(
        "dashboard",
        help="the NOC dashboard: WAN overview, site search, time series, open alerts",
        description="Serve the NOC dashboard (started by `wanperf dev` beside the Dagster UI):"
        " circuits down and congested now, regions, the worst circuits, a page per site with"
        " its circuits' utilisation, latency, jitter, loss and state over any stored range.",
        epilog="examples:\n  wanperf dashboard\n  wanperf dashboard --port 8051",
        formatter_class=RAW,
    )
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument(
        "--port", type=int, default=None, help="default WANPERF_DASHBOARD_PORT (8050)"
    )
    dashboard.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from wanperf_dagster.dashboard import build_app

    settings = get_settings()
    port = args.port or settings.dashboard_port
    app = build_app(settings, asset_store())
    print(f"NOC dashboard: http://{args.host}:{port}  (reads {settings.dagster_url} for links)")
    uvicorn.run(app, host=args.host, port=port, log_level="warning")
    return 0
