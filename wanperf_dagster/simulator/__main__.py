"""`python -m wanperf_dagster.simulator`: serve the simulated Mist API until interrupted."""

from __future__ import annotations

import argparse
import sys

from .msp import MspSimulator
from .server import MistSimulator, SimulatorConfig, SimulatorServer


def parse_orgs(raw: str) -> list[tuple[int, int]]:
    """`1:1000,2:20`: an MSP's orgs as seed:sites."""
    try:
        return [
            (int(seed), int(sites)) for seed, _, sites in (p.partition(":") for p in raw.split(","))
        ]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw[:40]!r} is not seed:sites[,seed:sites...]"
        ) from None


def parse_scopes(tokens: list[str]) -> dict[str, list[int] | None]:
    """`t1` reads the whole MSP; `t2=0,2` reads its first and third org only."""
    scopes: dict[str, list[int] | None] = {}
    for raw in tokens:
        token, _, which = raw.partition("=")
        scopes[token] = [int(i) for i in which.split(",")] if which else None
    return scopes


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wanperf_dagster.simulator",
        description="Serve a simulated Juniper Mist API for a deterministic synthetic org.",
        epilog="example: python -m wanperf_dagster.simulator --port 8765 --sites 200 --seed 1 --token t1",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument("--sites", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--token", action="append", help="accepted API token (repeatable; default sim-token)"
    )
    p.add_argument("--rate-limit", type=int, default=5000, help="calls per token per hour")
    p.add_argument(
        "--admin", action="store_true", help="enable /admin/clock, /admin/faults, /admin/truth"
    )
    p.add_argument("--now", type=float, default=None, help="start at this simulated epoch time")
    p.add_argument(
        "--msp",
        type=parse_orgs,
        metavar="SEED:SITES,...",
        help="serve an MSP of these orgs instead of one org; --token t=0,2 scopes a token to"
        " the first and third (a token without = reads the whole MSP)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = SimulatorConfig(
        sites=args.sites,
        seed=args.seed,
        tokens=tuple(t.partition("=")[0] for t in args.token or ["sim-token"]),
        rate_limit=args.rate_limit,
        admin=args.admin,
        now=args.now,
    )
    if args.msp:
        sim = MspSimulator(args.msp, parse_scopes(args.token or ["sim-token"]), config)
    else:
        sim = MistSimulator(config)
    server = SimulatorServer(sim, host=args.host, port=args.port)
    print(f"base_url={server.url}", flush=True)
    if args.msp:
        print(f"msp_id={sim.msp_id}", flush=True)
        for org in sim.orgs:
            print(f"org_id={org.org.id} sites={len(org.org.sites)}", flush=True)
    else:
        print(f"org_id={server.sim.org.id}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
