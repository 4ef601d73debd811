"""A worker on a "separate machine": a Linux network namespace joined to this one by a veth pair.

Inside it, 127.0.0.1 is the namespace's own loopback: the host's Postgres, broker and Redis are
reachable only at the host's veth address, through a TCP forwarder per port on that address (the
machine's services listen on 127.0.0.1 only, and a test must not reconfigure them). So a worker
there talks to every service over a network address, as one on another machine would.

Needs CAP_SYS_ADMIN and CAP_NET_ADMIN (`ip netns add`); `separate_machine` says why not when the
machine does not allow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit


@dataclass
class Machine:
    namespace: str
    host_ip: str  # this side of the veth pair: where the forwarded services answer
    own_ip: str

    def command(self, argv: Sequence[str]) -> list[str]:
        """argv, run inside the namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def url(self, url: str) -> str:
        """A service URL on 127.0.0.1, as seen from inside the namespace."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host not in ("127.0.0.1", "localhost"):
            return url
        netloc = parts.netloc.rsplit("@", 1)
        hostport = netloc[-1].replace(host, self.host_ip, 1)
        return urlunsplit(parts._replace(netloc="@".join([*netloc[:-1], hostport])))


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=20)


class _Forwarder:
    """host_ip:port -> 127.0.0.1:port for each port, in one asyncio loop on a thread."""

    def __init__(self, host_ip: str, ports: Sequence[int]) -> None:
        self.loop = asyncio.new_event_loop()
        self.servers: list[asyncio.Server] = []
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        for port in ports:
            server = asyncio.run_coroutine_threadsafe(
                asyncio.start_server(self._handler(port), host_ip, port), self.loop
            ).result(10)
            self.servers.append(server)

    @staticmethod
    def _handler(port: int):
        async def pipe(reader, writer) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        async def handle(client_reader, client_writer) -> None:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                client_writer.close()
                return
            await asyncio.gather(pipe(client_reader, writer), pipe(reader, client_writer))

        return handle

    def close(self) -> None:
        for server in self.servers:
            self.loop.call_soon_threadsafe(server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@contextlib.contextmanager
def separate_machine(ports: Sequence[int]) -> Iterator[Machine | str]:
    """A namespace whose processes reach 127.0.0.1's `ports` at `Machine.host_ip` only; or, when
    the machine allows no namespaces, the reason why (a string)."""
    tag = uuid.uuid4().hex[:6]
    namespace, host_if, ns_if = f"wanperf-{tag}", f"wph{tag}", f"wpn{tag}"
    try:
        _ip("netns", "add", namespace)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        yield f"`ip netns add` is not allowed here ({detail.strip()})"
        return
    forwarder = None
    try:
        subnet = f"10.231.{random.randrange(256)}"
        host_ip, own_ip = f"{subnet}.1", f"{subnet}.2"
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", namespace)
        _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("netns", "exec", namespace, "ip", "addr", "add", f"{own_ip}/30", "dev", ns_if)
        _ip("netns", "exec", namespace, "ip", "link", "set", ns_if, "up")
        _ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        forwarder = _Forwarder(host_ip, ports)
        yield Machine(namespace, host_ip, own_ip)
    finally:
        if forwarder:
            forwarder.close()
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            _ip("link", "del", host_if)  # takes its peer with it
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            _ip("netns", "del", namespace)
