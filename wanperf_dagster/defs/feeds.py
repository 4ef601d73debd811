"""The feeds' site-day assets (a folder each in `wanperf_dagster/feeds/`), on the partitions of
the settings, read when the code location loads."""

import dagster as dg

from wanperf_dagster.dagster_io.partitions import Partitions
from wanperf_dagster.feeds.definitions import definitions
from wanperf_dagster.settings import get_settings


@dg.definitions
def defs() -> dg.Definitions:
    return definitions(Partitions.of(get_settings()))
