"""The soak's short version (`make soak` runs 7 simulated days of 2,000 sites): two simulated
days of 16 sites through the real `wanperf daemon` (`python -m bench soak`), an API storm, a Redis
restart, a killed run worker and the history's storage gone during a backfill. Every circuit-day
equals the truth, every notification arrives once, and every day has its row of figures."""

from __future__ import annotations

import pytest

from .soak_run import assert_every_circuit_day_equals_the_truth, run_soak

pytestmark = [pytest.mark.dagster, pytest.mark.integration, pytest.mark.groundtruth]

DAYS, SITES = 2, 16


@pytest.fixture(scope="module")
def soak(tmp_path_factory):
    return run_soak(tmp_path_factory.mktemp("soak"), DAYS, SITES)


def test_every_fault_landed_and_what_it_left_was_requested_again(soak):
    assert set(soak["faults"]) == {
        "api_storm",
        "redis_restart",
        "run_worker_killed",
        "history_unavailable",
    }
    # the killed run and the runs that met the missing history left site-days behind
    assert sum(d["requested_again"] for d in soak["days"]) > 0
    assert soak["counts"]["sweeps_failed"] > 0  # the storm was felt


def test_every_circuit_day_equals_the_truth(soak):
    assert_every_circuit_day_equals_the_truth(soak["truth"], DAYS, SITES)


def test_no_notification_lost_or_repeated(soak):
    alerts = soak["alerts"]
    assert alerts["alerts_told"] > 0  # the simulated days had incidents to tell
    assert alerts["lost"] == [] and alerts["repeated"] == 0
    assert alerts["received"] == alerts["sent"]


def test_a_row_of_figures_for_every_day_and_their_growth(soak):
    assert [d["day"] for d in soak["days"]] == sorted(d["day"] for d in soak["days"])
    assert len(soak["days"]) == DAYS
    for day in soak["days"]:
        assert day["daemon MiB"] > 0 and day["code server MiB"] > 0 and day["Redis MiB"] > 0
        assert day["event log MiB"] > 0 and day["runs"] > 0 and day["history files"] > 0
        assert day["driver settled MiB"] > 0  # a number: the reading was taken before the row
    # every six simulated hours, in order: what the driver's growth is fitted on
    assert len(soak["driver_settled"]) >= DAYS * 4
    assert [t for t, _ in soak["driver_settled"]] == sorted(t for t, _ in soak["driver_settled"])
    assert soak["days"][-1]["runs"] > soak["days"][0]["runs"]
    assert set(soak["growth"]) >= {
        "daemon MiB",
        "driver settled MiB",
        "Redis MiB",
        "event log MiB",
        "history files",
    }
