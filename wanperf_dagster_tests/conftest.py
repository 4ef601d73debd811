"""Shared fixtures: a real Redis for every storage test (no fakes).

By default a session-wide embedded Valkey in a temporary data directory; with
`WANPERF_TEST_REDIS_URL` (CI sets it to the machine's Redis 7, db 15) that server instead; with
`WANPERF_TEST_REDIS_CLUSTER=1` a Valkey cluster of three primaries started for the session.
"""

from __future__ import annotations

import os
import tempfile

# partitions start here in tests (the simulated days are in late November 2025); set before any
# test module imports the definitions
os.environ.setdefault("WANPERF_START_DATE", "2025-11-01")
# the tests' data directory (the history tier, pinned dates): never the project's .wanperf/;
# one per pytest-xdist worker (a worker inherits its controller's environment)
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER and os.environ.get("WANPERF_TESTS_MADE_DATA_DIR") == os.environ.get("WANPERF_DATA_DIR"):
    os.environ.pop("WANPERF_DATA_DIR", None)
if "WANPERF_DATA_DIR" not in os.environ:
    os.environ["WANPERF_DATA_DIR"] = tempfile.mkdtemp(prefix=f"wanperf-tests-{_WORKER or 'main'}-")
    os.environ["WANPERF_TESTS_MADE_DATA_DIR"] = os.environ["WANPERF_DATA_DIR"]

import pytest  # noqa: E402 - after the environment above
import redis  # noqa: E402

from wanperf_dagster.store import EmbeddedRedis, connect  # noqa: E402
from wanperf_dagster_tests.processes import keep_sigterm_a_stop  # noqa: E402

keep_sigterm_a_stop()  # before any test runs Dagster in process


def pytest_collection_modifyitems(config, items):
    """The long simulated truths (`groundtruth`: the soak, the month, the edges) first: pytest-
    xdist hands each worker a run of the collection, so they start at once and overlap the rest
    instead of one of them starting last and the suite waiting for it alone.

    On another server (CI's compatibility passes: Redis 7, a cluster) a storage test that never
    asks for it (`redis_url`) would only repeat what `make test` ran: it is deselected."""
    items.sort(key=lambda item: item.get_closest_marker("groundtruth") is None)
    if (
        os.environ.get("WANPERF_TEST_REDIS_URL")
        or os.environ.get("WANPERF_TEST_REDIS_CLUSTER") == "1"
    ):
        repeats = [item for item in items if _repeats_on_another_server(item)]
        if repeats:
            config.hook.pytest_deselected(items=repeats)
            items[:] = [item for item in items if not _repeats_on_another_server(item)]


def _repeats_on_another_server(item) -> bool:
    marks = {mark.name for mark in item.iter_markers()}
    return (
        "storage" in marks
        and "dagster" not in marks
        and "redis_url" not in getattr(item, "fixturenames", ())
    )


@pytest.fixture(autouse=True)
def _restore_event_batch_size():
    """The project's event log turns Dagster's event batching on for its whole process
    (`DAGSTER_EVENT_BATCH_SIZE`); a test that builds such an instance must not change what later
    tests see."""
    name = "DAGSTER_EVENT_BATCH_SIZE"
    before = os.environ.get(name)
    yield
    if before is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = before


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    url = os.environ.get("WANPERF_TEST_REDIS_URL")
    if url:
        yield worker_database(url, _WORKER)
        return
    if os.environ.get("WANPERF_TEST_REDIS_CLUSTER") == "1":
        from harness.valkey_cluster import valkey_cluster

        with valkey_cluster(tmp_path_factory.mktemp("wanperf-cluster")) as cluster_url:
            yield cluster_url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("wanperf-data")).ensure_running()
    yield server.url
    server.stop()


def worker_database(url: str, worker: str) -> str:
    """A database of its own for each pytest-xdist worker on one server (`gw1` on db 15 takes
    db 14): each test flushes the database it uses."""
    if not worker:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0)
    mine = database - int(worker.removeprefix("gw"))
    if mine < 0:
        raise pytest.UsageError(f"WANPERF_TEST_REDIS_URL: too few databases below {database}")
    return urlunsplit(parts._replace(path=f"/{mine}"))


@pytest.fixture
def redis_client(redis_url) -> redis.Redis:
    """A client on an empty database, and an empty history tier: the two tiers start together."""
    import shutil

    from wanperf_dagster.settings import get_settings

    shutil.rmtree(get_settings().history_location, ignore_errors=True)
    client = connect(redis_url)
    client.flushdb()
    yield client
    client.close()
