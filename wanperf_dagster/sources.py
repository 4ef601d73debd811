"""Where the Mist API comes from: the org named by the settings, or, with no token, the built-in
simulator serving a deterministic synthetic org on a loopback port of this process.

The client (`mist`) knows nothing of the simulator; this module is the only bridge between them,
used by the Dagster resource, the CLI and the demo.
"""

from __future__ import annotations

import atexit
import os

from wanperf_dagster.mist import MistClient, split_tokens
from wanperf_dagster.settings import Settings

SIM_TOKEN = "simulator-token"

_SIMULATORS: dict = {}
_OWNER_PID: list[int] = []  # the process that started them (a forked child must not stop them)


def in_process_simulator(sites: int, seed: int, now: float | None = None):
    """A simulator serving on a loopback port from a thread of this process (one per
    (sites, seed, now)).

    Its world is a pure function of (seed, time), so every process that starts one with the same
    seed serves the same org and the same data at the same instant.
    """
    from wanperf_dagster.simulator import MistSimulator, SimulatorConfig, SimulatorServer

    key = (sites, seed, now)
    if key not in _SIMULATORS:
        sim = MistSimulator(
            SimulatorConfig(sites=sites, seed=seed, tokens=(SIM_TOKEN,), now=now, admin=True)
        )
        if not _OWNER_PID:
            _OWNER_PID.append(os.getpid())
            atexit.register(stop_in_process_simulators)
        _SIMULATORS[key] = SimulatorServer(sim).start()
    return _SIMULATORS[key]


def stop_in_process_simulators() -> None:
    """Stop every simulator this process started, before the interpreter finalizes (their
    threads must not wake then); a later `in_process_simulator` starts afresh."""
    if _OWNER_PID and _OWNER_PID[0] != os.getpid():
        _SIMULATORS.clear()  # a forked child: the serving threads are its parent's
        return
    while _SIMULATORS:
        _, server = _SIMULATORS.popitem()
        server.stop()


def simulator_client(sites: int, seed: int, **kwargs) -> MistClient:
    """A client of the in-process simulator, on the simulator's clock."""
    server = in_process_simulator(sites, seed)
    return MistClient(
        [SIM_TOKEN], server.url, server.sim.org.id, clock=server.sim.clock.now, **kwargs
    )


def mist_client(
    tokens: str | None,
    host: str | None,
    org_id: str | None,
    *,
    sim_sites: int,
    sim_seed: int,
    **kwargs,
) -> MistClient:
    """A client for the given tokens (comma-separated), or for the simulator when there are none."""
    token_list = split_tokens(tokens)
    if not token_list:
        return simulator_client(sim_sites, sim_seed, **kwargs)
    return MistClient(token_list, host, org_id, **kwargs)


def client_from_settings(settings: Settings, **kwargs) -> MistClient:
    return mist_client(
        ",".join(settings.mist_tokens),
        settings.mist_host,
        settings.mist_org_id,
        sim_sites=settings.sim_sites,
        sim_seed=settings.sim_seed,
        **kwargs,
    )


def describe_source(settings: Settings, client: MistClient) -> str:
    """Where the data comes from, for messages (never a token)."""
    if settings.uses_simulator:
        return "the built-in simulator (no MIST_API_TOKEN)"
    return f"{client.base_url} (MIST_HOST)" if settings.mist_host else client.base_url
