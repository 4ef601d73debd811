"""`python -m wanperf_dagster.simulator`: serve the simulated Mist API until interrupted."""

from __future__ import annotations

import argparse
import sys

from .server import MistSimulator, SimulatorConfig, SimulatorServer


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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = SimulatorConfig(
        sites=args.sites,
        seed=args.seed,
        tokens=tuple(args.token or ["sim-token"]),
        rate_limit=args.rate_limit,
        admin=args.admin,
        now=args.now,
    )
    server = SimulatorServer(MistSimulator(config), host=args.host, port=args.port)
    print(f"base_url={server.url}", flush=True)
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
