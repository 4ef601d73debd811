"""The codec of stored tables: an Arrow IPC stream, compressed whole as one zstd frame; and the
parse of stored JSON values (raw samples and feed rows).

A stored value is usually small (a site-day: a few circuits), so Arrow's own per-buffer
compression does poorly on it: every column's buffers are padded to 64 bytes and compressed one
by one, and the schema (with pandas' metadata, ~7 KB for the KPI table) is not compressed at all.
Measured on a 3-circuit site-day of `circuit_kpis`: 19.0 KB per-buffer, 3.2 KB as one frame;
hourly 23.7 KB → 8.1 KB. A value written by the older per-buffer codec (a plain IPC stream) is
still read.
"""

from __future__ import annotations

import contextlib
import gc
import json
import struct
from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa
import pyarrow.ipc as ipc

DEFAULT_COMPRESSION = "zstd"
LEVEL = 3  # zstd's own default: 3-4 % smaller than Arrow's level 1 here, at the same speed
MAGIC = b"WPZ1"  # a whole-stream zstd frame follows: 8 bytes of uncompressed size, then the frame
_HEADER = struct.Struct("<4sQ")


def encode_table(table: pa.Table, compression: str | None = DEFAULT_COMPRESSION) -> bytes:
    sink = pa.BufferOutputStream()
    options = ipc.IpcWriteOptions(use_threads=False)  # callers encode many values in parallel
    with ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    stream = sink.getvalue()
    if compression is None:
        return stream.to_pybytes()
    level = LEVEL if compression == "zstd" else None
    frame = pa.Codec(compression, compression_level=level).compress(stream, asbytes=True)
    return _HEADER.pack(MAGIC, stream.size) + frame


def decode_table(blob: bytes) -> pa.Table:
    if blob[:4] == MAGIC:
        _, size = _HEADER.unpack_from(blob)
        stream = pa.decompress(
            memoryview(blob)[_HEADER.size :], decompressed_size=size, codec=DEFAULT_COMPRESSION
        )
        return ipc.open_stream(stream).read_all()
    return ipc.open_stream(pa.py_buffer(blob)).read_all()  # a plain (or per-buffer) stream


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while stored JSON becomes rows. The rows hold no cycles
    (reference counting frees them), but each is a tracked container, and with a batch of them
    alive every full collection scans them and every module object of a run worker again: that
    made a day's samples read 1.3x slower (`bench storage`, idle)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def decode_json_values(
    values: Sequence[bytes | str], accept: Callable[[object], bool]
) -> tuple[list, int]:
    """The stored JSON values parsed, and how many were unreadable (not JSON, or not what
    `accept` takes), dropped one by one so a bad value never fails the read of the others.

    One parse of the values joined as a JSON array while every value is whole (the usual case:
    `bench storage` measures it against a parse per value); value by value when that parse
    does not give one accepted row per value. A value that is whole on its own is parsed the
    same either way."""
    if not values:
        return [], 0
    try:
        if isinstance(values[0], bytes):
            joined: bytes | str = b"[" + b",".join(values) + b"]"
        else:
            joined = "[" + ",".join(values) + "]"
        parsed = json.loads(joined)
    except (TypeError, ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, list) and len(parsed) == len(values) and all(map(accept, parsed)):
        return parsed, 0
    return decode_each_json_value(values, accept)


def decode_each_json_value(
    values: Sequence[bytes | str], accept: Callable[[object], bool]
) -> tuple[list, int]:
    """`decode_json_values` one value at a time: what it means, and its fallback."""
    rows, unreadable = [], 0
    for value in values:
        try:
            row = json.loads(value)
        except (TypeError, ValueError, RecursionError):
            row = None
        if accept(row):
            rows.append(row)
        else:
            unreadable += 1
    return rows, unreadable
