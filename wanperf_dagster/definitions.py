"""The code location: `dagster dev -w workspace.yaml` and `dagster definitions validate` load this."""

from wanperf_dagster.defs.definitions import build_definitions

defs = build_definitions()
