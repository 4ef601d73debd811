"""A stopped simulator leaves no thread behind: a client's kept-alive connection is closed, so its
handler thread ends before the process does (a handler thread woken while the interpreter
finalizes can crash it)."""

import threading

import pytest
import requests

from wanperf_dagster import sources
from wanperf_dagster.simulator import MistSimulator, SimulatorConfig, SimulatorServer


def _handler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "process_request_thread" in t.name]


def test_a_stop_closes_kept_alive_connections_and_their_threads_end():
    before = set(_handler_threads())
    server = SimulatorServer(MistSimulator(SimulatorConfig(sites=3, seed=5, tokens=("t",))))
    server.start()
    session = requests.Session()  # keeps its connection open between requests
    for _ in range(2):
        r = session.get(f"{server.url}/api/v1/self", headers={"Authorization": "Token t"})
        assert r.status_code == 200
    mine = [t for t in _handler_threads() if t not in before]
    assert len(mine) == 1 and mine[0].is_alive()  # waiting in recv for the next request
    server.stop()
    mine[0].join(5)
    assert not mine[0].is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/api/v1/self", timeout=2)
    session.close()


def test_the_in_process_simulators_stop_at_exit_and_start_again_after(monkeypatch):
    monkeypatch.setattr(sources, "_SIMULATORS", {})  # only this test's: others' stay served
    before = set(_handler_threads())
    server = sources.in_process_simulator(3, 991)
    session = requests.Session()
    r = session.get(f"{server.url}/api/v1/self", headers={"Authorization": "Token simulator-token"})
    assert r.status_code == 200
    mine = [t for t in _handler_threads() if t not in before]
    assert mine
    sources.stop_in_process_simulators()  # what the process runs at exit
    for thread in mine:
        thread.join(5)
        assert not thread.is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/api/v1/self", timeout=2)
    again = sources.in_process_simulator(3, 991)
    assert again is not server
    assert requests.get(f"{again.url}/api/v1/self", timeout=5).status_code == 401  # no token
    sources.stop_in_process_simulators()
    session.close()
