"""Configuration from the environment, and the built-in simulator when no token is set."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .client import MistClient, tokens_from_env

SIM_TOKEN = "simulator-token"


@dataclass
class MistSettings:
    tokens: list[str]
    org_id: str | None
    host: str | None
    poll_interval: int
    simulator: bool  # no token: the built-in simulator serves the API

    @classmethod
    def from_env(cls) -> MistSettings:
        tokens = tokens_from_env(os.environ.get("MIST_API_TOKEN"))
        return cls(
            tokens=tokens,
            org_id=os.environ.get("MIST_ORG_ID") or None,
            host=os.environ.get("MIST_HOST") or None,
            poll_interval=int(os.environ.get("WANPERF_POLL_INTERVAL") or 600),
            simulator=not tokens,
        )


def simulator_params() -> dict:
    return {
        "sites": int(os.environ.get("WANPERF_SIM_SITES") or 200),
        "seed": int(os.environ.get("WANPERF_SIM_SEED") or 1),
    }


_SIMULATORS: dict = {}


def in_process_simulator(sites: int, seed: int, now: float | None = None):
    """A simulator serving on a loopback port from a thread of this process.

    Its world is a pure function of (seed, time), so every process that starts one with the same
    seed serves the same org and the same data at the same instant.
    """
    from wanperf_dagster.simulator import MistSimulator, SimulatorConfig, SimulatorServer

    key = (sites, seed, now)
    if key not in _SIMULATORS:
        sim = MistSimulator(
            SimulatorConfig(sites=sites, seed=seed, tokens=(SIM_TOKEN,), now=now, admin=True)
        )
        _SIMULATORS[key] = SimulatorServer(sim).start()
    return _SIMULATORS[key]


def client_from_env(**kwargs) -> MistClient:
    """A client for MIST_* settings, or for the in-process simulator when no token is set."""
    s = MistSettings.from_env()
    if s.simulator:
        server = in_process_simulator(**simulator_params())
        return MistClient(
            [SIM_TOKEN], server.url, server.sim.org.id, clock=server.sim.clock.now, **kwargs
        )
    return MistClient(s.tokens, s.host, s.org_id, **kwargs)
