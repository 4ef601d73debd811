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
