"""Docs that cannot drift: the README's settings table is `settings.py`'s variables and defaults,
docs/storage.md's tables are the dataset registry and the key schema, and docs/architecture.md's
private-API table names exactly the modules that use Dagster's internals."""

import ast
import inspect
import re
from pathlib import Path

from wanperf_dagster.settings import Settings
from wanperf_dagster.storage import DATASETS
from wanperf_dagster.store import keys

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT / "wanperf_dagster"
VARIABLE = re.compile(r"^(MIST|WANPERF)_[A-Z0-9_]+$")


def table_rows(markdown: str, header: str) -> list[list[str]]:
    """The cells of each row of the table whose header row starts with `header`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        # a `|` inside backticks is part of a key, not a cell border
        cells, cell, quoted = [], "", False
        for ch in line.strip()[1:-1]:
            if ch == "`":
                quoted = not quoted
            if ch == "|" and not quoted:
                cells.append(cell.strip())
                cell = ""
            else:
                cell += ch
        rows.append([*cells, cell.strip()])
    return rows


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


# settings ---------------------------------------------------------------------------------------
def settings_defaults() -> dict[str, object]:
    """Every variable `settings.py` reads, with the default its parser call gives (None when
    the call has none, or it is computed)."""
    tree = ast.parse((PACKAGE / "settings.py").read_text())
    found: dict[str, object] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and VARIABLE.match(node.value)
        ):
            found.setdefault(node.value, None)
        if (
            isinstance(node, ast.Call)
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and VARIABLE.match(node.args[0].value)
        ):
            default = _default_of(node.args[1])
            if isinstance(default, int | float):
                found[node.args[0].value] = default
    return found


def _default_of(node: ast.expr):
    """A parser call's default: a number, or a `Settings` field's default (one source)."""
    if isinstance(node, ast.Constant):
        return node.value
    named = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    if named and node.value.id == "Settings":
        return getattr(Settings, node.attr)
    return None


def test_the_readme_settings_table_is_settings_py():
    readme = (PROJECT / "README.md").read_text()
    documented: dict[str, str | None] = {}
    for variables, defaults, _ in table_rows(readme, "variable"):
        names, values = ticked(variables), ticked(defaults)
        assert names and all(VARIABLE.match(n) for n in names), variables
        paired = len(values) == len(names)
        for k, name in enumerate(names):
            documented[name] = values[k] if paired else None
    code = settings_defaults()
    assert set(documented) == set(code), (
        f"in the README only: {sorted(set(documented) - set(code))}; "
        f"in settings.py only: {sorted(set(code) - set(documented))}"
    )
    checked = 0
    for name, default in code.items():
        if default is not None and documented[name] is not None:
            assert float(documented[name]) == float(default), (name, documented[name], default)
            checked += 1
    assert checked >= 15  # the numeric defaults are compared, not only the names


# the dataset registry and the key schema -----------------------------------------------------------
PLACEHOLDERS = {
    "asset_path": ["<asset>"],
    "partition_key": "<partition>",
    "asset": "<asset>",
    "day": "<day>",
    "site_id": "<site>",
    "org_id": "<org>",
    "sweep_id": "<sweep>",
    "token_fingerprint": "<token>",
    "window": "<hour>",
    "feed": "<feed>",
    "how": "<hour of week>",
    "slot": "<slot>",
}


def key_patterns() -> set[str]:
    """Every key builder of `store/keys.py`, with its parameters as placeholders."""
    out = set()
    for name, fn in inspect.getmembers(keys, inspect.isfunction):
        if fn.__module__ != keys.__name__ or name.startswith("_"):
            continue
        params = inspect.signature(fn).parameters
        out.add(fn(**{p: PLACEHOLDERS[p] for p in params}))
    return out


def test_the_key_table_is_the_key_schema():
    storage = (PROJECT / "docs" / "storage.md").read_text()
    documented = {ticked(row[0])[0] for row in table_rows(storage, "key")}
    code = key_patterns()
    assert len(code) >= 25
    assert documented == code, (
        f"documented only: {sorted(documented - code)}; in store/keys.py only: "
        f"{sorted(code - documented)}"
    )


def test_the_dataset_table_is_the_registry():
    storage = (PROJECT / "docs" / "storage.md").read_text()
    shown = {"site_day": "day × site"}
    rows = table_rows(storage, "dataset")
    documented = {ticked(row[0])[0]: row[1:] for row in rows}
    assert list(documented) == list(DATASETS), "the table lists the registry, in its order"
    for name, d in DATASETS.items():
        kind, partitions, lifetime, history, feed = documented[name]
        assert kind == d.kind, name
        assert partitions == shown.get(d.partitioning, d.partitioning), name
        assert lifetime == d.lifetime.setting, name
        assert history == ("yes" if d.history else "no"), name
        assert feed == (d.feed or ""), name


# private Dagster APIs -----------------------------------------------------------------------------
def private_api_modules() -> set[str]:
    """The package's modules that use Dagster's private internals."""
    return {
        str(path.relative_to(PROJECT))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"_core|dagster\._", path.read_text())
    }


def documented_private_api_modules() -> set[str]:
    architecture = (PROJECT / "docs" / "architecture.md").read_text()
    modules = set()
    for row in table_rows(architecture, "private API"):
        modules |= {
            f"wanperf_dagster/{m}" for m in ticked(row[1]) if m.endswith(".py") and "/" in m
        }
    return modules


def test_the_private_api_table_names_every_module_that_uses_one():
    found = private_api_modules()
    assert found, "no module uses a private API: the table and this test can go"
    assert documented_private_api_modules() == found
