"""The daemon's repeated run-queue line is logged once, and again when it changes."""

import logging

from wanperf_dagster.instance import quiet_logs


def test_a_repeated_daemon_line_is_logged_once_until_it_changes(caplog):
    import wanperf_dagster.instance.event_log  # noqa: F401 - installs the filter, as the daemon does

    logger = logging.getLogger(quiet_logs.REPEATING_LOGGERS[0])
    caplog.set_level(logging.INFO, logger=logger.name)
    for _ in range(50):
        logger.info("2 runs are currently in progress. Maximum is 2, won't launch more.")
    logger.info("1 runs are currently in progress. Maximum is 2, won't launch more.")
    logger.info("2 runs are currently in progress. Maximum is 2, won't launch more.")
    lines = [r.getMessage()[:1] for r in caplog.records if r.name == logger.name]
    assert lines == ["2", "1", "2"]
    assert sum(isinstance(f, quiet_logs.DropRepeats) for f in logger.filters) == 1
    quiet_logs.install()  # idempotent
    assert sum(isinstance(f, quiet_logs.DropRepeats) for f in logger.filters) == 1
    other = logging.getLogger("dagster.daemon.SensorDaemon")
    assert not other.filters
