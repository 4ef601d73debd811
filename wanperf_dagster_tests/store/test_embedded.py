import os
import subprocess

import pytest
import redis

from wanperf_dagster.store import EmbeddedRedis, EmbeddedRedisError, connect, resolve_redis_url
from wanperf_dagster.store import embedded as embedded_mod


@pytest.fixture
def server(tmp_path):
    srv = EmbeddedRedis(tmp_path / "data")
    yield srv
    srv.stop()


def test_starts_with_password_and_aof(server):
    server.ensure_running()
    assert server.is_running()
    client = connect(server.url)
    assert client.config_get("appendonly")["appendonly"] == "yes"
    assert client.config_get("appendfsync")["appendfsync"] == "everysec"
    assert client.config_get("bind")["bind"].startswith("127.0.0.1")
    assert (os.stat(server.password_file).st_mode & 0o777) == 0o600


def test_refuses_wrong_password(server):
    server.ensure_running()
    bad = connect(f"redis://:not-the-password@127.0.0.1:{server.port}/0")
    with pytest.raises(redis.AuthenticationError):
        bad.ping()
    anonymous = connect(f"redis://127.0.0.1:{server.port}/0", retries=0)
    with pytest.raises(redis.AuthenticationError):
        anonymous.set("k", "v")


def test_reuses_running_server(server):
    server.ensure_running()
    pid, port = server.pid, server.port
    again = EmbeddedRedis(server.data_dir).ensure_running()
    assert (again.pid, again.port) == (pid, port)


def test_restart_keeps_data(server):
    server.ensure_running()
    client = connect(server.url)
    client.set("wanperf:test:kept", b"value")
    client.hset("wanperf:test:hash", mapping={"a": "1", "b": "2"})
    client.close()
    first_pid = server.pid
    assert server.stop()
    assert not server.is_running()
    server.ensure_running()
    assert server.pid != first_pid
    client = connect(server.url)
    assert client.get("wanperf:test:kept") == b"value"
    assert client.hgetall("wanperf:test:hash") == {b"a": b"1", b"b": b"2"}


def test_a_restart_takes_its_port_back(server):
    """Processes that connected before a restart (the daemon, its code server) reconnect to the
    same address; a port taken meanwhile means another one."""
    server.ensure_running()
    url = server.url
    client = connect(url)
    client.set("wanperf:test:kept", b"value")
    assert server.stop()
    server.ensure_running()
    assert server.url == url
    assert client.get("wanperf:test:kept") == b"value"  # the old client reconnects
    port = server.port
    assert server.stop()
    import socket

    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        server.ensure_running()
        assert server.port != port


def test_restarts_when_pid_file_is_stale(server):
    server.ensure_running()
    pid = server.pid
    os.kill(pid, 9)
    subprocess.run(["sleep", "0.2"], check=True)
    assert not server.is_running()
    server.ensure_running()
    assert server.is_running() and server.pid != pid


def test_clear_error_when_binary_cannot_start(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded_mod, "valkey_server_binary", lambda: tmp_path / "no-such-binary")
    with pytest.raises(EmbeddedRedisError, match="cannot execute"):
        EmbeddedRedis(tmp_path / "data").ensure_running()


def test_clear_error_when_binary_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded_mod, "valkey_server_binary", lambda: "/bin/false")
    with pytest.raises(EmbeddedRedisError, match="failed to start"):
        EmbeddedRedis(tmp_path / "data").ensure_running()


def test_a_url_replaces_the_embedded_server(tmp_path):
    assert resolve_redis_url("redis://example.invalid:6380/2", tmp_path) == (
        "redis://example.invalid:6380/2"
    )
    assert not (tmp_path / "redis").exists()  # nothing started, nothing written


def test_files_are_readable_by_this_user_only(server):
    server.ensure_running()
    client = connect(server.url)
    client.set("wanperf:test:private", b"value")
    client.close()
    assert (os.stat(server.dir).st_mode & 0o777) == 0o700
    files = [p for p in server.dir.rglob("*") if p.is_file()]
    assert any("appendonly" in str(p) for p in files) and server.log_file in files
    loose = {str(p): oct(os.stat(p).st_mode & 0o777) for p in files if os.stat(p).st_mode & 0o077}
    assert not loose


def test_a_stale_pid_file_never_signals_another_process(server):
    """The pid file outlives the server; the pid is reused by something else: `stop` must not
    kill it, and the stale files are cleared."""
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        server.dir.mkdir(parents=True, exist_ok=True)
        server.pid_file.write_text(str(bystander.pid))
        server.port_file.write_text("1")
        assert not server.is_running()
        assert server.stop() is False
        assert bystander.poll() is None  # still alive
        assert not server.pid_file.exists() and not server.port_file.exists()
    finally:
        bystander.kill()
        bystander.wait()


KEYS = 600_000


def _fill_and_stop(server) -> None:
    """Enough commands in the append-only file that loading it takes a restart about half a
    second (it is the number of commands that counts, not their bytes)."""
    server.ensure_running()
    client = connect(server.url)
    pipe = client.pipeline(transaction=False)
    for i in range(KEYS):
        pipe.set(f"wanperf:test:k{i}", b"x" * 64)
        if i % 50_000 == 49_999:
            pipe.execute()
    pipe.execute()
    client.close()
    assert server.stop()


class _Watched(EmbeddedRedis):
    """The real server; what each probe of it answered is kept."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.seen: list[str | None] = []

    def _probe(self, port: int) -> str | None:
        state = super()._probe(port)
        self.seen.append(state)
        return state


def test_a_restart_waits_while_the_server_loads_its_data(server):
    _fill_and_stop(server)
    restarted = _Watched(server.data_dir, startup_timeout=0.2)
    restarted.ensure_running()  # loading takes longer than 0.2 s: waited for, not an error
    assert "loading" in restarted.seen
    assert connect(restarted.url).dbsize() == KEYS


def test_a_server_still_loading_is_never_started_twice(server):
    """A process that gave up waiting (killed, or out of patience) leaves the server loading: the
    next one waits for that server, where it once started a second one on the same files."""
    _fill_and_stop(server)
    impatient = _Watched(server.data_dir, load_timeout=0.0)
    with pytest.raises(EmbeddedRedisError, match="still loading its data after 0 s"):
        impatient.ensure_running()
    loading_pid, loading_port = impatient.pid, int(impatient.last_port_file.read_text())
    assert embedded_mod._is_valkey(loading_pid)
    nxt = _Watched(server.data_dir)
    nxt.ensure_running()
    assert nxt.pid == loading_pid
    assert "loading" in nxt.seen
    assert connect(nxt.url).dbsize() == KEYS
    assert nxt.port == loading_port  # the one server on these files, where it was started


def test_a_runs_client_rides_out_a_restart(server, tmp_path):
    """The soak's Redis restart (down 7 to 10 s) failed the step writing at that moment: the
    client's five quick retries last 1.5 s. A run's client now waits for the server to come back,
    and what it wrote is there."""
    import threading
    import time

    from wanperf_dagster.dagster_io.resources import RedisResource

    server.ensure_running()
    client = RedisResource(data_dir=str(server.data_dir)).get_client()
    client.set("wanperf:test:before", b"1")
    assert server.stop()
    back = threading.Timer(4.0, server.ensure_running)
    back.start()
    t0 = time.monotonic()
    try:
        client.set("wanperf:test:during", b"2")  # refused for about 4 s, then written
    finally:
        back.join()
    assert time.monotonic() - t0 >= 3.5
    assert client.mget("wanperf:test:before", "wanperf:test:during") == [b"1", b"2"]
