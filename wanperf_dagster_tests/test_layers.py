"""The layer contract of docs/architecture.md, enforced: imports run one way (import-linter),
only the modules docs/architecture.md lists touch private Dagster APIs, only the settings module reads the
environment, and only the storage API names stored asset values."""

import re
import subprocess
import sys
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
    """docs/architecture.md lists each private API, where and why, and the test that pins it."""
    found = _lines_matching(r"_core|dagster\._")
    assert set(found) == {
        "wanperf_dagster/instance/event_log.py",
        "wanperf_dagster/instance/postgres_event_log.py",
        "wanperf_dagster/dagster_io/metadata.py",
        "wanperf_dagster/instance/daemon.py",
    }, found


def test_only_the_settings_module_reads_the_environment():
    found = _lines_matching(r"os\.environ|os\.getenv|getenv\(")
    # the CLI points DAGSTER_HOME at the data directory for itself and the processes it starts
    assert set(found) <= {"wanperf_dagster/settings.py", "wanperf_dagster/cli.py"}, found
    assert all("DAGSTER_HOME" in line for line in found.get("wanperf_dagster/cli.py", []))


def test_only_the_storage_api_reads_or_writes_stored_asset_values():
    found = _lines_matching(r"\b(get_tables|put_tables|asset_value)\(")
    allowed = {
        "wanperf_dagster/dagster_io/storage.py",  # the API
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
    assert keys <= {"wanperf_dagster/dagster_io/storage.py"}, keys
