"""Redis storage: key schema, Arrow codec, pipelined bulk I/O, sweep sessions, embedded server.

A plain library: no Dagster imports.
"""

from . import keys
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
from .client import connect, server_info
from .codec import DEFAULT_COMPRESSION, decode_table, encode_table
from .embedded import EmbeddedRedis, EmbeddedRedisError, resolve_redis_url
from .partitioning import compact_dictionaries, concat_partitions

__all__ = [
    "DEFAULT_COMPRESSION",
    "EmbeddedRedis",
    "EmbeddedRedisError",
    "RedisCallLedger",
    "compact_dictionaries",
    "concat_partitions",
    "connect",
    "decode_table",
    "encode_table",
    "forget_sites",
    "get_blobs",
    "get_tables",
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
