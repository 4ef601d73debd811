"""The newest Dagster patch release of the pinned minor that the package registry has, for CI's
second run of the Dagster tests: prints the pip requirements that install it over the pins.

The core packages (dagster, dagster-shared, dagster-pipes, dagster-graphql, dagster-webserver)
move together to the newest patch that every one of them has; each library (dagster-postgres,
dagster-celery, dagster-dg-cli) to its newest patch of the pinned minor, at most the core's. A
library whose matching release is not out yet keeps its pin (installed without its exact pin on
the core, as a deployment that upgrades the core first would run it)."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
CORE = ("dagster", "dagster-shared", "dagster-pipes", "dagster-graphql", "dagster-webserver")
LIBRARIES = ("dagster-postgres", "dagster-celery", "dagster-dg-cli")


def pins() -> dict[str, str]:
    config = configparser.ConfigParser()
    config.read(PROJECT / "setup.cfg")
    text = config["options"]["install_requires"] + config["options.extras_require"]["dev"]
    return dict(re.findall(r"^\s*(dagster[a-z-]*)==([\d.]+)", text, re.M))


def versions(package: str) -> list[tuple[int, ...]]:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", package],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    found = re.search(r"Available versions: (.*)", out)
    listed = found.group(1).split(", ") if found else []
    return [
        tuple(int(p) for p in v.split(".")) for v in listed if re.fullmatch(r"\d+\.\d+\.\d+", v)
    ]


def newest(package: str, pinned: str, at_most: int | None = None) -> str:
    major, minor, _ = (int(p) for p in pinned.split("."))
    patches = [
        v[2]
        for v in versions(package)
        if v[:2] == (major, minor) and (at_most is None or v[2] <= at_most)
    ]
    return f"{major}.{minor}.{max(patches)}" if patches else pinned


def main() -> None:
    pinned = pins()
    core_patch = min(int(newest(p, pinned[p]).split(".")[2]) for p in CORE)
    offset = core_patch - int(pinned["dagster"].split(".")[2])
    wanted = [f"{p}=={'.'.join(pinned[p].split('.')[:2])}.{core_patch}" for p in CORE]
    for library in LIBRARIES:
        pin_patch = int(pinned[library].split(".")[2])
        wanted.append(f"{library}=={newest(library, pinned[library], pin_patch + offset)}")
    print(" ".join(wanted))


if __name__ == "__main__":
    main()
