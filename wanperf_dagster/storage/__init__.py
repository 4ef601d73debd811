"""The one storage API over the dataset registry: what is stored (`datasets`), how partition keys
read (`partition_keys`), and `AssetStore`, through which every read of stored data goes.

A plain library: no Dagster imports.
"""

from wanperf_dagster.store import AlertState, LockLostError
from wanperf_dagster.store.partitioning import compact_dictionaries, split_by_partition
from wanperf_dagster.store.samples import INVALID_VALUES

from .api import (
    FROM_REGISTRY,
    LOAD_BATCH,
    AssetStore,
    Loaded,
    PartitionNotFoundError,
    history_for,
    history_store,
    missing_error,
)
from .datasets import DATASETS, Dataset, Lifetime, Lifetimes, dataset, history_datasets
from .partition_keys import (
    SITE_KEY_SEP,
    SLUG_LENGTH,
    day_of,
    site_day_key,
    site_id_of,
    site_key,
    site_partition_keys,
    split_partition_key,
    split_site_day_key,
)

__all__ = [
    "DATASETS",
    "FROM_REGISTRY",
    "INVALID_VALUES",
    "LOAD_BATCH",
    "SITE_KEY_SEP",
    "SLUG_LENGTH",
    "AlertState",
    "AssetStore",
    "Dataset",
    "Lifetime",
    "Lifetimes",
    "Loaded",
    "LockLostError",
    "PartitionNotFoundError",
    "compact_dictionaries",
    "dataset",
    "day_of",
    "history_datasets",
    "history_for",
    "history_store",
    "missing_error",
    "site_day_key",
    "site_id_of",
    "site_key",
    "site_partition_keys",
    "split_by_partition",
    "split_partition_key",
    "split_site_day_key",
]
