"""The benchmarks stand apart from the tests: `bench/` imports nothing of `wanperf_dagster_tests`
(what both need lives in `harness/` or in the package)."""

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def test_bench_never_imports_the_test_package():
    found = []
    for path in sorted((PROJECT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if n.startswith("wanperf_dagster_tests")]
    assert found == []


def test_every_benchmark_imports():
    """`python -m bench` runs each of them: one that no longer imports (a moved name) fails here,
    not at the next measurement."""
    import importlib

    from bench.__main__ import ALL, ON_REQUEST

    for name in ALL + ON_REQUEST:
        module = importlib.import_module(f"bench.{name}")
        assert callable(module.main), name
