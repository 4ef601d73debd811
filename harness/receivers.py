"""Webhook receivers of the fault suite on loopback ports: healthy (answering after a pause),
hanging (never answering), trickling (its answer one byte every few seconds). Each records what
it received, with the message's idempotency key, before it answers."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(
        self,
        mode: str = "healthy",
        pause: float = 0.0,
        drip: float = 2.0,
        fields: tuple[str, ...] | None = None,
    ):
        """`fields`: keep only these of each body (a long run's receiver holds every message)."""
        self.mode, self.pause, self.drip, self.fields = mode, pause, drip, fields
        self.received: list[dict] = []  # {"key": idempotency key, "body": ..., "at": monotonic}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._lock:
                    receiver.received.append(
                        {
                            "key": self.headers.get("Idempotency-Key", ""),
                            "body": body
                            if receiver.fields is None
                            else {f: body.get(f) for f in receiver.fields},
                            "at": time.monotonic(),
                        }
                    )
                if receiver.mode == "hanging":
                    receiver._stop.wait(600)
                    return
                if receiver.mode == "trickling":
                    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                    for byte in answer:
                        if receiver._stop.wait(receiver.drip):
                            return
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except OSError:
                            return
                    return
                time.sleep(receiver.pause)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook/SECRET-{mode}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def keys(self) -> list[str]:
        with self._lock:
            return [r["key"] for r in self.received]

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
