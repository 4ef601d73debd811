"""The test process keeps SIGTERM a stop, however the tests were started."""

import signal

import dagster as dg
import pytest

from wanperf_dagster_tests.processes import keep_sigterm_a_stop

pytestmark = [pytest.mark.dagster]


@dg.asset
def one() -> int:
    return 1


@pytest.fixture
def sigint_ignored():
    """As a shell starts a background job: SIGINT ignored."""
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGINT, before[0])
    signal.signal(signal.SIGTERM, before[1])


def test_dagster_leaves_sigterm_ignored_when_sigint_was(sigint_ignored):
    """Why `keep_sigterm_a_stop` exists (if a Dagster upgrade fixes this, it can go)."""
    assert dg.materialize([one]).success
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN


def test_with_python_s_sigint_handler_sigterm_stays_a_stop(sigint_ignored):
    keep_sigterm_a_stop()
    assert dg.materialize([one]).success
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, None)
