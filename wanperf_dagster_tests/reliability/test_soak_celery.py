"""The soak on the standard deployment's executor: 2 simulated days of 4 sites through the real
`wanperf daemon` on the Postgres instance, every step on two `wanperf worker` processes over
RabbitMQ (`python -m bench soak --executor celery`), with a Celery worker SIGKILLed while it
holds a step (another started in its place). The other faults are `test_soak.py`'s; here they
would only add minutes to CI. Every circuit-day equals the truth and every notification arrives
once."""

from __future__ import annotations

import os
import socket

import pytest

from .soak_run import assert_every_circuit_day_equals_the_truth, run_soak

pytestmark = [pytest.mark.dagster, pytest.mark.integration, pytest.mark.groundtruth]

DAYS, SITES = 2, 4


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def soak(tmp_path_factory):
    if os.environ.get("WANPERF_TEST_CELERY_SOAK") != "1":
        # mostly waiting on the daemon and the workers: `.ci/run` runs it beside the
        # compatibility passes (on the newest Dagster), where its waits cost nothing, instead
        # of on one of `make test`'s two workers
        pytest.skip("runs in .ci/run beside the compatibility passes (WANPERF_TEST_CELERY_SOAK=1)")
    if not _answers(5672):
        pytest.skip("no RabbitMQ on 127.0.0.1:5672: the Celery soak needs a broker")
    if not _answers(5432):
        pytest.skip("no Postgres on 127.0.0.1:5432: the Celery soak runs on the Postgres instance")
    return run_soak(
        tmp_path_factory.mktemp("soak-celery"),
        DAYS,
        SITES,
        *("--executor", "celery", "--faults", "celery_worker_killed"),
    )


def test_a_celery_worker_killed_holding_a_step_loses_nothing(soak):
    assert set(soak["faults"]) == {"celery_worker_killed"}, soak["faults"]
    assert "holding a step" in soak["faults"]["celery_worker_killed"]
    assert any("Celery worker SIGKILLed" in f for d in soak["days"] for f in d["faults"])
    assert_every_circuit_day_equals_the_truth(soak["truth"], DAYS, SITES)
    alerts = soak["alerts"]
    assert alerts["lost"] == [] and alerts["repeated"] == 0
    assert alerts["received"] == alerts["sent"] > 0
    # the event log is the Postgres database's size
    assert all(d["event log MiB"] > 0 for d in soak["days"]), soak["days"]
    # the steps ran on the workers: their pool processes did the work
    assert all(d["Celery worker peak MiB"] > 0 for d in soak["days"]), soak["days"]
