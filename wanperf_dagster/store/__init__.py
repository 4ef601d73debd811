"""Redis storage: key schema, Arrow codec, pipelined bulk I/O, sweep sessions, locks, alert
state, embedded server. The only package that talks to Redis (the layer test holds it to that):
the rest of the project reads stored data through the storage API (`wanperf_dagster.storage`)
and writes through the `queue_*` and state functions here.

A plain library: no Dagster imports.
"""

from . import keys
from .alerts import AlertState
from .budget import RedisCallLedger
from .bulk import (
    forget_sites,
    get_blobs,
    get_tables,
    put_blobs,
    put_tables,
    retire_sites_not_in,
    sites_by_age,
    stale_sites,
    touch_sites,
)
from .client import Redis, RedisError, batch, connect, server_info
from .codec import DEFAULT_COMPRESSION, decode_table, encode_table
from .embedded import EmbeddedRedis, EmbeddedRedisError, resolve_redis_url
from .locks import Heartbeat, LockLostError, OrgLock, history_lock
from .partitioning import compact_dictionaries, concat_partitions

__all__ = [
    "DEFAULT_COMPRESSION",
    "AlertState",
    "EmbeddedRedis",
    "EmbeddedRedisError",
    "Heartbeat",
    "LockLostError",
    "OrgLock",
    "Redis",
    "RedisCallLedger",
    "RedisError",
    "batch",
    "compact_dictionaries",
    "concat_partitions",
    "connect",
    "decode_table",
    "encode_table",
    "forget_sites",
    "get_blobs",
    "get_tables",
    "history_lock",
    "keys",
    "put_blobs",
    "put_tables",
    "resolve_redis_url",
    "retire_sites_not_in",
    "server_info",
    "sites_by_age",
    "stale_sites",
    "touch_sites",
]
