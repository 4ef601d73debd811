"""Alerts: incidents from the freshest samples (`rules`), told once to receivers (`notify`) with the
open ones kept in Redis (`state`). No Dagster here: the `wan_alerts` asset runs it after a sweep."""

from wanperf_dagster.alert_routes import Route, RouteError, severity

from .evaluate import evaluate
from .grouping import Grouped, group, incidents_now
from .notify import (
    Destination,
    NotifyError,
    covering,
    destinations,
    destinations_from,
    incident_links,
    message,
    slack_escape,
    slack_message,
)
from .rules import KINDS, LOOKBACK_S, AlertRules, Incident, epoch_seconds, open_incidents
from .silences import Silence, add_silence, remove_silence, silences
from .state import (
    AlertsLockedError,
    DispatchReport,
    NotOpenError,
    acknowledge,
    acknowledgements,
    alert_history,
    dead_letters,
    dispatch,
    open_alerts,
)

__all__ = [
    "KINDS",
    "LOOKBACK_S",
    "AlertRules",
    "AlertsLockedError",
    "Destination",
    "DispatchReport",
    "Grouped",
    "Incident",
    "NotOpenError",
    "NotifyError",
    "Route",
    "RouteError",
    "Silence",
    "acknowledge",
    "acknowledgements",
    "add_silence",
    "alert_history",
    "covering",
    "dead_letters",
    "destinations",
    "destinations_from",
    "dispatch",
    "epoch_seconds",
    "evaluate",
    "group",
    "incident_links",
    "incidents_now",
    "message",
    "open_alerts",
    "open_incidents",
    "remove_silence",
    "severity",
    "silences",
    "slack_escape",
    "slack_message",
]
