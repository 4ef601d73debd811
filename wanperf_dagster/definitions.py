"""The code location: `dagster dev -w workspace.yaml` and `dagster definitions validate` load this."""

import warnings

import dagster as dg

# The definitions use Dagster APIs marked beta or superseded on purpose (code references, owners on
# sensors, the day-to-site-day partition mapping, the freshness-check sensor; see
# docs/architecture.md); their warnings would repeat in every process that loads the code location.
with warnings.catch_warnings():
    for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
        warnings.simplefilter("ignore", category)
    from wanperf_dagster.defs.definitions import build_definitions

    defs = build_definitions()
