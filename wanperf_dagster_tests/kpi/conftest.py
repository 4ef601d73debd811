"""Prints the ground-truth comparison tables at the end of the run (`-rA` not needed)."""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter):
    from .test_truth_at_the_edges import TABLES

    if TABLES:
        terminalreporter.section("KPIs against the simulator's truth, every circuit-day")
        for table in TABLES:
            terminalreporter.write_line(table)
            terminalreporter.write_line("")
