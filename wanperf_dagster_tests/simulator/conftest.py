import pytest
import requests

from wanperf_dagster.simulator import MistSimulator, SimulatorConfig, SimulatorServer

NOW = 1_764_115_200 + 13 * 3600 + 7 * 60  # 2025-11-26 13:07 UTC


@pytest.fixture
def sim_server():
    sim = MistSimulator(
        SimulatorConfig(sites=30, seed=7, now=NOW, admin=True, tokens=("tok-a", "tok-b"))
    )
    with SimulatorServer(sim) as server:
        yield server


@pytest.fixture
def api(sim_server):
    session = requests.Session()
    session.headers["Authorization"] = "Token tok-a"

    def get(path, **params):
        url = path if path.startswith("http") else sim_server.url + path
        return session.get(url, params=params or None, timeout=10)

    get.server = sim_server
    get.sim = sim_server.sim
    get.org_id = sim_server.sim.org.id
    return get
