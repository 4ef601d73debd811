"""A faithful Mist API simulator: a deterministic synthetic org over real HTTP, with ground truth.

A plain library (no Dagster imports). `python -m wanperf_dagster.simulator --help` runs it.
"""

from .msp import MspSimulator
from .org import Org, build_org
from .samples import world_samples
from .server import Clock, Faults, MistSimulator, SimulatorConfig, SimulatorServer
from .world import World

__all__ = [
    "Clock",
    "Faults",
    "MistSimulator",
    "MspSimulator",
    "Org",
    "SimulatorConfig",
    "SimulatorServer",
    "World",
    "build_org",
    "world_samples",
]
