"""The simulator of the client tests, served over real HTTP."""

from wanperf_dagster_tests.mist.conftest import sim  # noqa: F401  (the fixture)
