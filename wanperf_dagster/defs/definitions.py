"""Assembles the project's `Definitions`."""

from __future__ import annotations

import os

import dagster as dg

from .io_manager import RedisIOManager
from .resources import RedisResource


def build_resources() -> dict:
    # The URL may hold a password: pass it as an EnvVar so Dagster shows the variable's name,
    # never its value. Unset, the resource uses the embedded server.
    url = dg.EnvVar("WANPERF_REDIS_URL") if os.environ.get("WANPERF_REDIS_URL") else None
    redis_resource = RedisResource(url=url)
    return {
        "redis": redis_resource,
        "io_manager": RedisIOManager(redis=redis_resource),
    }


def build_definitions() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
