"""The fault suite: figures per test, printed as one table at the end of the run.

`WANPERF_FAULT_SCALE` (default 1, what CI runs) multiplies the number of kills, fuzzed records
and storms; `make faults` runs the suite with a scale of 10.
"""

from __future__ import annotations

import os

import pytest

SCALE = max(1, int(os.environ.get("WANPERF_FAULT_SCALE") or 1))
_FIGURES: list[tuple[str, dict]] = []


@pytest.fixture
def figures(request):
    """A dict the test fills with what it measured (kills, samples lost, calls made...)."""
    found: dict = {}
    yield found
    if found:
        _FIGURES.append((request.node.name, found))


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES:
        return
    terminalreporter.section(f"fault suite figures (WANPERF_FAULT_SCALE={SCALE})")
    for name, found in _FIGURES:
        shown = ", ".join(
            f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in found.items()
        )
        terminalreporter.write_line(f"{name}: {shown}")
