"""Redis storage: key schema, Arrow codec, pipelined bulk I/O, sweep sessions, embedded server.

A plain library: no Dagster imports.
"""

from .bulk import (
    get_blobs,
    get_tables,
    put_blobs,
    put_tables,
    sites_by_age,
    stale_sites,
    touch_sites,
)
from .client import connect, redact_url, server_info
from .codec import decode_table, encode_table
from .embedded import EmbeddedRedis, EmbeddedRedisError, data_dir_from_env, resolve_redis_url
from .partitioning import compact_dictionaries, concat_partitions

__all__ = [
    "EmbeddedRedis",
    "EmbeddedRedisError",
    "compact_dictionaries",
    "concat_partitions",
    "connect",
    "data_dir_from_env",
    "decode_table",
    "encode_table",
    "get_blobs",
    "get_tables",
    "put_blobs",
    "put_tables",
    "redact_url",
    "resolve_redis_url",
    "server_info",
    "sites_by_age",
    "stale_sites",
    "touch_sites",
]
