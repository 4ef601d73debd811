"""The layer contract of docs/architecture.md, enforced: imports run one way (import-linter),
only the modules docs/architecture.md lists touch private Dagster APIs, only the settings module reads the
environment, only the storage API names stored asset values, and only store/ talks to Redis."""

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT / "wanperf_dagster"


def _sources() -> dict[str, str]:
    return {
        str(path.relative_to(PROJECT)): path.read_text() for path in sorted(PACKAGE.rglob("*.py"))
    }


def _lines_matching(pattern: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, text in _sources().items():
        hits = [line.strip() for line in text.splitlines() if re.search(pattern, line)]
        if hits:
            found[name] = hits
    return found


def test_imports_follow_the_layers():
    out = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_only_the_listed_modules_use_private_dagster_apis():
    """docs/architecture.md lists each private API, where and why, and the test that pins it
    (test_docs.py holds that table to the code)."""
    from wanperf_dagster_tests.test_docs import documented_private_api_modules

    found = _lines_matching(r"_core|dagster\._")
    assert set(found) == documented_private_api_modules(), found


def test_only_the_settings_module_reads_the_environment():
    found = _lines_matching(r"os\.environ|os\.getenv|getenv\(")
    # the CLI points DAGSTER_HOME at the data directory for itself and the processes it starts
    cli = {"wanperf_dagster/cli/common.py", "wanperf_dagster/cli/dev.py"}
    assert set(found) <= {"wanperf_dagster/settings.py", *cli}, found
    assert all("DAGSTER_HOME" in line for name in cli for line in found.get(name, []))


def test_only_the_storage_api_reads_or_writes_stored_asset_values():
    found = _lines_matching(r"\b(get_tables|put_tables|asset_value)\(")
    allowed = {
        "wanperf_dagster/storage/api.py",  # the API
        "wanperf_dagster/store/bulk.py",  # its Redis tier
        "wanperf_dagster/store/keys.py",  # the Redis key schema
    }
    assert set(found) <= allowed, found
    # and nothing else spells out a site-day partition key
    keys = {
        name
        for name in _lines_matching(r"\}\|\{")
        if not name.startswith("wanperf_dagster/store/")  # the Redis tier's own key schema
    }
    assert keys <= {"wanperf_dagster/storage/partition_keys.py"}, keys


# Redis ------------------------------------------------------------------------------------------
# method names that are Redis commands and nothing else the package calls: `client.hgetall(`,
# `client.pipeline(`, `pipe.zadd(` outside store/ are Redis traffic; `get`, `set`, `delete`,
# `execute`, `lock`, `close`... are left out (dicts, DuckDB, our own locks have them too): the
# import rule and the key rule catch what these would miss
GENERIC = {"close", "execute", "json", "lock", "move", "save", "shutdown", "time", "get", "set"}


def _redis_commands() -> set[str]:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import redis

    generic = set(GENERIC)
    for kind in (dict, list, set, str, bytes, tuple, frozenset, Path, threading.Event):
        generic |= set(dir(kind))
    for kind in (pd.DataFrame, pd.Series, pd.Index, pa.Table, pa.Schema, np.ndarray):
        generic |= set(dir(kind))
    names = set(dir(redis.Redis)) | set(dir(redis.client.Pipeline))
    return {n for n in names if not n.startswith("_")} - generic


# what a reader may take from store/: connections and their errors, never data
STORE_FOR_READERS = {
    "Redis",
    "RedisError",
    "RedisCallLedger",
    "EmbeddedRedis",
    "EmbeddedRedisError",
    "connect",
    "resolve_redis_url",
    "server_info",
}
READERS = ("defs/", "alerts/", "dashboard/", "dagster_io/", "instance/", "cli", "demo.py")


def redis_use(name: str, source: str, commands: set[str]) -> list[str]:
    """Each place a module outside store/ talks to Redis itself: imports redis, calls a Redis
    command, builds a key (store.keys); and, in a reader (defs, alerts, dashboard, the Dagster
    plumbing, the CLI, the demo), each place it takes anything but a connection from store/."""
    found = []
    tree = ast.parse(source)
    reader = any(part in name for part in READERS)
    for node in ast.walk(tree):
        where = f"{name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "redis" or alias.name.startswith("redis."):
                    found.append(f"{where} imports {alias.name}")
                if alias.name.startswith("wanperf_dagster.store."):
                    found.append(f"{where} imports {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module == "redis" or module.startswith("redis."):
                found.append(f"{where} imports from {module}")
            if module == "wanperf_dagster.store.keys" or (
                module == "wanperf_dagster.store" and any(a.name == "keys" for a in node.names)
            ):
                found.append(f"{where} imports the Redis key schema")
            if reader and module.startswith("wanperf_dagster.store"):
                taken = [a.name for a in node.names]
                if module != "wanperf_dagster.store" or set(taken) - STORE_FOR_READERS:
                    found.append(f"{where} takes {taken} from {module}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in commands
        ):
            found.append(f"{where} calls .{node.func.attr}()")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "store" and node.attr == "keys":
                found.append(f"{where} uses store.keys")
            elif reader and node.value.id == "store" and node.attr not in STORE_FOR_READERS:
                found.append(f"{where} uses store.{node.attr}")
    return found


def test_nothing_outside_store_talks_to_redis():
    """docs/architecture.md: only store/ talks to Redis; every read of stored data goes through
    the storage API (`wanperf_dagster.storage`), checked on the syntax tree of every module."""
    commands = _redis_commands()
    assert {"hgetall", "pipeline", "zadd", "hset", "lrange", "scan_iter"} <= commands
    found = [
        hit
        for name, text in _sources().items()
        if not name.startswith("wanperf_dagster/store/")
        for hit in redis_use(name, text, commands)
    ]
    assert not found, "\n".join(found)


PLANTED = """
import redis
from wanperf_dagster import store
from wanperf_dagster.store import keys, samples


def sneak(client):
    client.hgetall(store.keys.insights_state("org"))
    return samples.read_site_days(client, [])
"""


def test_a_planted_direct_redis_read_is_caught():
    """The checks fail on a module that reads Redis itself: the syntax-tree check names each
    way in, and lint-imports breaks its contract on the import."""
    found = redis_use("wanperf_dagster/defs/planted.py", PLANTED, _redis_commands())
    assert any("imports redis" in f for f in found)
    assert any("calls .hgetall()" in f for f in found)
    assert any("Redis key schema" in f for f in found)
    assert any("uses store.keys" in f for f in found)
    assert any("takes ['keys', 'samples']" in f for f in found)
    # a core outside the readers may use store/'s writers, never Redis itself
    core = redis_use(
        "wanperf_dagster/mist/planted.py", "from wanperf_dagster.store import bulk\n", set()
    )
    assert core == []

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(
            PACKAGE, Path(tmp) / "wanperf_dagster", ignore=shutil.ignore_patterns("__pycache__")
        )
        shutil.copy(PROJECT / "pyproject.toml", tmp)
        (Path(tmp) / "wanperf_dagster" / "defs" / "planted.py").write_text(PLANTED)
        out = subprocess.run(
            [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": tmp},
        )
    assert out.returncode != 0, out.stdout[-2000:]
    assert "Only store/ talks to Redis" in out.stdout and "BROKEN" in out.stdout
    assert "wanperf_dagster.defs.planted -> redis" in out.stdout, out.stdout[-2000:]
