import pytest

from wanperf_dagster.mist import MistClient
from wanperf_dagster.simulator import MistSimulator, SimulatorConfig, SimulatorServer
from wanperf_dagster.store import samples as sample_store

NOW = 1_764_115_200 + 9 * 3600 + 3 * 60  # 2025-11-26 09:03 UTC
TOKEN = "tok-Secret-9f8e7d"


@pytest.fixture
def sim():
    simulator = MistSimulator(
        SimulatorConfig(sites=40, seed=3, now=NOW, tokens=(TOKEN, "tok-two-1a2b", "tok-three-3c4d"))
    )
    with SimulatorServer(simulator) as server:
        simulator.url = server.url
        yield simulator


def make_client(sim, tokens=(TOKEN,), **kw) -> MistClient:
    kw.setdefault("backoff_factor", 0.01)
    kw.setdefault("read_timeout", 5)
    return MistClient(
        list(tokens), sim.url, clock=sim.clock.now, sleep=kw.pop("sleep", lambda s: None), **kw
    )


def stored(r, sim):
    """Every stored sample of the sim's sites on the sim's day, sorted."""
    day = sample_store.day_of(sim.clock.now())
    frame = sample_store.read_site_days(r, [(day, s.id) for s in sim.org.sites])
    return frame.sort_values(["ts", "circuit_id"]).reset_index(drop=True)
