"""A hostile Mist API of the tests' own: each test scripts what it answers, and every request it
receives (path, query, headers) is recorded, so a test can show a token never reached it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ORG = "7a1f0000-0000-4000-8000-00000000beef"
SITE = "5e1e0000-0000-4000-8000-00000000cafe"


@dataclass
class Answer:
    status: int = 200
    body: bytes | Iterable[bytes] = b"{}"
    headers: dict = field(default_factory=dict)
    drip_seconds: float = 0.0  # pause between chunks of an iterable body
    reset: bool = False  # close the connection without answering


def port_record(k: int, **overrides) -> dict:
    rec = {
        "site_id": SITE,
        "org_id": ORG,
        "mac": f"5c5b35{k:06x}",
        "port_id": "ge-0/0/0",
        "port_mac": f"5c5b35{k:06x}",
        "neighbor_mac": "",
        "port_usage": "wan",
        "up": True,
        "speed": 1000,
        "rx_bps": 1000,
        "tx_bps": 2000,
        "rx_bytes": 10_000 + k,
        "tx_bytes": 20_000 + k,
        "rx_pkts": 100,
        "tx_pkts": 200,
        "rx_errors": 0,
        "tx_errors": 0,
        "jitter": 1.5,
        "latency": 20.0,
        "loss": 0.0,
        "last_flapped": 1_700_000_000.0,
    }
    rec.update(overrides)
    return rec


def page(records: list[dict], next_url: str | None = None, total: int | None = None) -> bytes:
    body = {
        "results": records,
        "start": 0,
        "end": 0,
        "limit": 1000,
        "total": len(records) if total is None else total,
    }
    if next_url is not None:
        body["next"] = next_url
    return json.dumps(body).encode()


class HostileServer:
    """`respond(path, query, headers, n)` returns an Answer; n counts requests so far."""

    def __init__(self, respond: Callable[[str, dict, dict, int], Answer]):
        self.respond = respond
        self.requests: list[tuple[str, dict, dict]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                headers = dict(self.headers)
                with outer._lock:
                    outer.requests.append((url.path, query, headers))
                    n = len(outer.requests)
                answer = outer.respond(url.path, query, headers, n)
                if answer.reset:
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                if isinstance(answer.body, bytes):
                    self.send_header("Content-Length", str(len(answer.body)))
                    chunks = [answer.body]
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                    chunks = answer.body
                self.send_header("Content-Type", "application/json")
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    for chunk in chunks:
                        if isinstance(answer.body, bytes):
                            self.wfile.write(chunk)
                        else:
                            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                            self.wfile.flush()
                            if answer.drip_seconds:
                                time.sleep(answer.drip_seconds)
                    if not isinstance(answer.body, bytes):
                        self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def calls(self, prefix: str = "/api/") -> int:
        return sum(1 for path, _, _ in self.requests if path.startswith(prefix))

    def saw_token(self) -> bool:
        return any("Authorization" in h for _, _, h in self.requests)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
