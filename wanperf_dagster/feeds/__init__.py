"""The feeds, a folder each: ports, SLE, VPN paths, events and the gateways' status. A feed's
folder holds its fetch and normalisation (`fetch.py`), its KPI maths (`kpis.py`) and its
Dagster definitions (`assets.py`); how it is stored is its line in the dataset registry
(`storage/datasets.py`). What the feeds share sits below: the Mist client and the sweep (`mist/`),
Redis (`store/`), the circuits' KPI engine (`kpi/`).

Only `assets.py` imports Dagster (import-linter holds `fetch.py` and `kpis.py` to it).
"""

from .fetching import InsightsConfig, InsightsLockedError, InsightsResult
from .ingest import run_insights

__all__ = ["InsightsConfig", "InsightsLockedError", "InsightsResult", "run_insights"]
