"""Every feed's Dagster definitions on the code location's partitions (`defs/feeds.py` loads
them when the code location loads)."""

import dagster as dg

from wanperf_dagster.dagster_io.partitions import Partitions

from .devices import assets as devices
from .events import assets as events
from .paths import assets as paths
from .ports import assets as ports
from .sle import assets as sle

FEED_ASSETS = (ports, events, sle, paths, devices)


def definitions(p: Partitions) -> dg.Definitions:
    return dg.Definitions.merge(*(feed.definitions(p) for feed in FEED_ASSETS))
