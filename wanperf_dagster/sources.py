"""Where the Mist API comes from: the org named by the settings, or, with no token, the built-in
simulator serving a deterministic synthetic org on a loopback port of this process.

The client (`mist`) knows nothing of the simulator; this module is the only bridge between them,
used by the Dagster resource, the CLI and the demo.
"""

from __future__ import annotations

import atexit
import os

from wanperf_dagster.mist import MistClient, split_tokens
from wanperf_dagster.mist.client import LocalCallLedger
from wanperf_dagster.mist.orgs import discover_orgs
from wanperf_dagster.settings import Settings

SIM_TOKEN = "simulator-token"

_SIMULATORS: dict = {}
_OWNER_PID: list[int] = []  # the process that started them (a forked child must not stop them)


def in_process_simulator(
    sites: int, seed: int, now: float | None = None, msp: tuple[tuple[int, int], ...] = ()
):
    """A simulator serving on a loopback port from a thread of this process (one per
    (sites, seed, now, msp)); with `msp` ((seed, sites) per org), an MSP of those orgs, read with
    one MSP-wide token.

    Its world is a pure function of (seed, time), so every process that starts one with the same
    seed serves the same org and the same data at the same instant.
    """
    from wanperf_dagster.simulator import (
        MistSimulator,
        MspSimulator,
        SimulatorConfig,
        SimulatorServer,
    )

    key = (sites, seed, now, msp)
    if key not in _SIMULATORS:
        config = SimulatorConfig(sites=sites, seed=seed, tokens=(SIM_TOKEN,), now=now, admin=True)
        sim = MspSimulator(msp, {SIM_TOKEN: None}, config) if msp else MistSimulator(config)
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


def org_clients(
    tokens: str | None,
    host: str | None,
    org_ids: tuple[str, ...] = (),
    msp_id: str | None = None,
    *,
    sim_sites: int,
    sim_seed: int,
    sim_msp: tuple[tuple[int, int], ...] = (),
    **kwargs,
) -> list[MistClient]:
    """A client per org to analyse (`mist.orgs.discover_orgs`), each over the tokens that read
    it and all on one ledger; with no token, the simulator's org, or its MSP's orgs."""
    token_list = split_tokens(tokens)
    if not token_list and not sim_msp:
        return [simulator_client(sim_sites, sim_seed, **kwargs)]
    if not token_list:
        server = in_process_simulator(sim_sites, sim_seed, msp=sim_msp)
        token_list, host, msp_id = [SIM_TOKEN], server.url, server.sim.msp_id
        kwargs.setdefault("clock", server.sim.clock.now)
    if kwargs.get("ledger") is None:
        kwargs["ledger"] = LocalCallLedger()  # one budget a token, however many orgs it reads

    def client_for(toks, org_id, name: str = "") -> MistClient:
        return MistClient(list(toks), host, org_id, org_name=name, **kwargs)

    accesses = discover_orgs(token_list, client_for, org_ids, msp_id)
    return [client_for(a.tokens, a.org_id, a.name) for a in accesses]


def org_clients_from_settings(settings: Settings, **kwargs) -> list[MistClient]:
    return org_clients(
        ",".join(settings.mist_tokens),
        settings.mist_host,
        settings.mist_org_ids,
        settings.mist_msp_id,
        sim_sites=settings.sim_sites,
        sim_seed=settings.sim_seed,
        sim_msp=settings.sim_msp,
        **kwargs,
    )


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
