"""`wanperf sim`: the Mist API simulator on its own."""

from __future__ import annotations

import argparse

from .common import RAW


def add_parser(sub) -> None:
    sim = sub.add_parser(
        "sim",
        help="serve the Mist API simulator",
        description="Serve the simulated Mist API (a deterministic org) until Ctrl-C.",
        epilog="example: wanperf sim --port 8765 --sites 200 --token t1\n"
        "then: MIST_HOST=http://127.0.0.1:8765 MIST_API_TOKEN=t1 wanperf sweep",
        formatter_class=RAW,
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--sites", type=int, default=200)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument(
        "--token", action="append", help="accepted token (repeatable; default sim-token)"
    )
    sim.add_argument(
        "--admin",
        action="store_true",
        help="enable the /admin clock, faults and truth endpoints (for token holders)",
    )
    sim.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wanperf_dagster.simulator.__main__ import main as sim_main

    argv = [
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--sites",
        str(args.sites),
        "--seed",
        str(args.seed),
    ]
    for token in args.token or []:
        argv += ["--token", token]
    if args.admin:
        argv.append("--admin")
    return sim_main(argv)
