"""Webhook receivers of the fault suite on loopback ports: healthy (answering after a pause),
hanging (never answering), trickling (its answer one byte every few seconds). Each records what
it received, with the message's idempotency key, before it answers. `ProcessReceiver` is a
healthy one in a process of its own (`python -m harness.receivers FILE FIELDS`)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Receiver:
    def __init__(
        self,
        mode: str = "healthy",
        pause: float = 0.0,
        drip: float = 2.0,
        fields: tuple[str, ...] | None = None,
        record_to: Path | None = None,
    ):
        """`fields`: keep only these of each body (a long run's receiver holds every message);
        `record_to`: also append each message to this file as a JSON line (with `wall`, the
        epoch seconds it arrived), written and flushed before the answer."""
        self.mode, self.pause, self.drip, self.fields = mode, pause, drip, fields
        self._record = record_to.open("a", encoding="utf-8") if record_to else None
        self.received: list[dict] = []  # {"key": idempotency key, "body": ..., "at": monotonic}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                message = {
                    "key": self.headers.get("Idempotency-Key", ""),
                    "body": body
                    if receiver.fields is None
                    else {f: body.get(f) for f in receiver.fields},
                    "at": time.monotonic(),
                }
                with receiver._lock:
                    receiver.received.append(message)
                    if receiver._record:
                        receiver._record.write(json.dumps({**message, "wall": time.time()}) + "\n")
                        receiver._record.flush()
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
        if self._record:
            self._record.close()


class ProcessReceiver:
    """A healthy receiver in a process of its own: a busy driver process (the soak's, which also
    sends) cannot hold its answers up past the sender's timeout, so a message it receives twice
    was sent twice. What it received is read back from its file."""

    def __init__(self, directory: Path, fields: tuple[str, ...] = ("event", "key")):
        self.path = Path(directory) / "received.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.receivers", str(self.path), ",".join(fields)],
            cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.proc.kill()
            raise RuntimeError(f"the receiver process did not start (it said {line!r})")
        self.url = f"http://127.0.0.1:{int(line)}/hook/SECRET-healthy"

    @property
    def received(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.endswith("\n")]

    def keys(self) -> list[str]:
        return [r["key"] for r in self.received]

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    receiver = Receiver(fields=tuple(sys.argv[2].split(",")), record_to=Path(sys.argv[1]))
    print(receiver.server.server_port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    receiver.close()
