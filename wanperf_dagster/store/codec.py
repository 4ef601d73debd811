"""Arrow IPC codec for stored tables: one compressed stream per value."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.ipc as ipc

DEFAULT_COMPRESSION = "zstd"


def encode_table(table: pa.Table, compression: str | None = DEFAULT_COMPRESSION) -> bytes:
    sink = pa.BufferOutputStream()
    # one thread: values are small (a site-day), so per-buffer thread hand-offs cost more than
    # they save; callers encode many partitions in parallel instead (see bulk.put_tables)
    options = ipc.IpcWriteOptions(compression=compression, use_threads=False)
    with ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode_table(blob: bytes) -> pa.Table:
    return ipc.open_stream(pa.py_buffer(blob)).read_all()
