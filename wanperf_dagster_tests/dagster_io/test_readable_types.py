"""The column types the UI shows: what a person reads, whatever Arrow's encoding."""

import pyarrow as pa
import pytest

from wanperf_dagster.dagster_io.metadata import readable_type


@pytest.mark.parametrize(
    ("arrow_type", "shown"),
    [
        (pa.large_string(), "string"),
        (pa.dictionary(pa.int8(), pa.string()), "string"),
        (pa.dictionary(pa.int8(), pa.string(), ordered=True), "category"),
        (pa.int32(), "int"),
        (pa.float32(), "float"),
        (pa.bool_(), "bool"),
        (pa.timestamp("ms", "UTC"), "timestamp"),
        (pa.date32(), "date"),
        (pa.null(), "string"),
        (pa.list_(pa.int64()), "list<item: int64>"),
    ],
)
def test_each_arrow_type_reads_as_a_person_names_it(arrow_type, shown):
    assert readable_type(arrow_type) == shown
