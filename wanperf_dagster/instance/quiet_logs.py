"""One line where Dagster's daemon repeats itself: the run queue logs "N runs are currently in
progress. Maximum is M, won't launch more." at every dequeue (every second here), which filled
678 KB of console in 14 minutes of `make run`. The same message from the same daemon is let
through once, and again when it changes or after ten minutes."""

from __future__ import annotations

import logging
import time

REPEATING_LOGGERS = ("dagster.daemon.QueuedRunCoordinatorDaemon",)
REPEAT_AFTER_SECONDS = 600.0


class DropRepeats(logging.Filter):
    def __init__(self, repeat_after: float = REPEAT_AFTER_SECONDS):
        super().__init__()
        self.repeat_after = repeat_after
        self._last: tuple[str, float] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message, now = record.getMessage(), time.monotonic()
        if self._last and self._last[0] == message and now - self._last[1] < self.repeat_after:
            return False
        self._last = (message, now)
        return True


def install() -> None:
    """Idempotent: a process that loads the instance twice gets one filter per logger."""
    for name in REPEATING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropRepeats) for f in logger.filters):
            logger.addFilter(DropRepeats())
