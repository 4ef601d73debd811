"""The store client's retry policy, as pure code (its `do` stands in for the server): a server
loading its data after a restart answers LOADING to every command for as long as the load takes
(a minute for a few GiB); the client waits it out instead of failing after its five retries.
The soak (`python -m bench soak`) found runs failing on it after a Redis restart."""

import time

import pytest
import redis

from wanperf_dagster.store import connect


def _retry(**options):
    return connect("redis://127.0.0.1:1/0", **options).connection_pool.connection_kwargs["retry"]


def _refused_until(calls: list, n: int):
    def do():
        calls.append(time.monotonic())
        if len(calls) < n:
            raise redis.ConnectionError(
                "Error 111 connecting to 127.0.0.1:6380. Connection refused."
            )
        return "back"

    return do


def test_loading_is_waited_out_past_the_retries():
    retry, calls = _retry(), []

    def do():
        calls.append(time.monotonic())
        if len(calls) < 12:  # more than the 5 retries of a connection error
            raise redis.BusyLoadingError("Valkey is loading the dataset in memory")
        return "loaded"

    assert retry.call_with_retry(do, lambda error: None) == "loaded"
    assert len(calls) == 12


def test_loading_for_longer_than_the_wait_is_an_error():
    retry = _retry()
    retry.loading_wait = 0.6
    t0 = time.monotonic()

    def do():
        raise redis.BusyLoadingError("Valkey is loading the dataset in memory")

    with pytest.raises(redis.BusyLoadingError):
        retry.call_with_retry(do, lambda error: None)
    assert 0.6 <= time.monotonic() - t0 < 5


@pytest.mark.parametrize("restart_wait", [0.0, 30.0])  # nor waited for as a restart
def test_a_wrong_password_is_never_retried(restart_wait):
    retry, calls = _retry(restart_wait=restart_wait), []

    def do():
        calls.append(1)
        raise redis.AuthenticationError("WRONGPASS")

    with pytest.raises(redis.AuthenticationError):
        retry.call_with_retry(do, lambda error: None)
    assert calls == [1]


def test_a_restarting_server_is_waited_for_where_asked():
    """A run's client (`RedisResource.restart_wait`) rides out a restart's refused connections."""
    retry, calls = _retry(restart_wait=30.0), []
    assert retry.call_with_retry(_refused_until(calls, 12), lambda error: None) == "back"
    assert len(calls) == 12


def test_a_refused_connection_is_an_error_after_the_quick_retries_by_default():
    """The CLI and the dashboard hear at once that Redis is not there."""
    retry, calls = _retry(), []
    with pytest.raises(redis.ConnectionError):
        retry.call_with_retry(_refused_until(calls, 12), lambda error: None)
    assert len(calls) == 6  # the first try and the five retries
