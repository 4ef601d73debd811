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
        epilog="examples:\n  wanperf dashboard\n  wanperf dashboard --port 8051\n"
        "  WANPERF_DASHBOARD_USERS=users.toml wanperf dashboard --host 0.0.0.0",
        formatter_class=RAW,
    )
    dashboard.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to serve on (default loopback); any other needs WANPERF_DASHBOARD_USERS",
    )
    dashboard.add_argument(
        "--port", type=int, default=None, help="default WANPERF_DASHBOARD_PORT (8050)"
    )
    dashboard.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from wanperf_dagster.dashboard import build_app
    from wanperf_dagster.dashboard.access import AccessError, gate_from, loopback

    settings = get_settings()
    port = args.port or settings.dashboard_port
    if not settings.dashboard_users and not loopback(args.host):
        raise SystemExit(
            f"wanperf: refusing to serve the dashboard on {args.host} with no sign-in: anyone"
            " reaching it would see every org. Set WANPERF_DASHBOARD_USERS (`wanperf users add`),"
            " or bind to 127.0.0.1 behind your own front"
        )
    try:
        gate = gate_from(settings)
    except AccessError as exc:
        raise SystemExit(f"wanperf: {exc}") from None
    app = build_app(settings, asset_store(), gate=gate)
    access = (
        "open: no sign-in (loopback only)"
        if gate.open
        else f"{len(gate.users.users)} users"
        + (f", or {settings.dashboard_proxy_header} from the proxy" if gate.proxy_header else "")
    )
    print(
        f"NOC dashboard: http://{args.host}:{port}  ({access}; reads {settings.dagster_url}"
        " for links)"
    )
    uvicorn.run(app, host=args.host, port=port, log_level="warning")
    return 0
