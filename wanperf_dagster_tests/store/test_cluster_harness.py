"""The tests' Valkey cluster starts even when a port it picked is taken by the time its node
binds it, as when two pytest workers start their clusters at once (CI's cluster pass once failed
every test of a worker on it: a node's port was the other worker's cluster bus)."""

from __future__ import annotations

import socket

from harness import valkey_cluster as harness
from wanperf_dagster.store import connect


def test_a_node_whose_port_was_taken_starts_on_others(tmp_path, monkeypatch):
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    picks = iter([busy])  # the first port handed out is already someone else's
    free = harness.free_loopback_port
    monkeypatch.setattr(harness, "free_loopback_port", lambda: next(picks, None) or free())
    try:
        with harness.valkey_cluster(tmp_path) as url:
            client = connect(url)
            client.set("k", "v")
            assert client.get("k") == b"v"
            ports = {node.port for node in client.get_nodes()}
            assert len(ports) == 3 and busy not in ports
            client.close()
    finally:
        taken.close()
