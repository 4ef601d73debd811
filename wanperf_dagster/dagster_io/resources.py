"""Dagster resources: thin wrappers that hand the cores their configured clients.

Secrets reach them as `EnvVar`s (see `definitions.py`): the UI shows the variable's name, never
its value.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from wanperf_dagster import alerts, sources, store
from wanperf_dagster.settings import (
    INSIGHT_FEEDS,
    RAW_SAMPLE_DAYS,
    Settings,
    parse_webhooks,
    redact_url,
    sim_msp_orgs,
)
from wanperf_dagster.storage import AssetStore, Lifetimes, history_store


class RedisResource(dg.ConfigurableResource):
    """The stored data: a pooled Redis client on `url` (from `WANPERF_REDIS_URL`) or, when unset,
    the embedded server of `data_dir`, the history tier at `history_location`, and the lifetimes
    of the hot window and the rollups, all from the settings (`definitions.build_resources`).
    The URL may carry a password, so it is only ever shown redacted."""

    data_dir: str | None = None  # needed when `url` is not set (the embedded server's)
    url: str | None = None
    history_location: str | None = None  # None: <data_dir>/history
    history_endpoint: str | None = None
    hot_days: int = Settings.hot_days
    rollup_ttl_days: int = Settings.rollup_ttl_days
    socket_timeout: float = 10.0
    connect_timeout: float = 5.0
    retries: int = 5
    max_connections: int = 32
    # a run rides out a Redis restart of this many seconds (connections refused) instead of
    # failing its step and leaving its site-days to be requested again
    restart_wait: float = 60.0

    _client: store.Redis | None = PrivateAttr(default=None)

    def get_client(self) -> store.Redis:
        """The client, for the writers of `store/` (the sweep, the ingestion, the budget)."""
        if self._client is None:
            if not self.url and not self.data_dir:
                raise dg.Failure(
                    "RedisResource needs a `url` or the `data_dir` of the embedded server"
                )
            url = store.resolve_redis_url(self.url, self.data_dir or "")
            self._client = store.connect(
                url,
                socket_timeout=self.socket_timeout,
                connect_timeout=self.connect_timeout,
                retries=self.retries,
                max_connections=self.max_connections,
                restart_wait=self.restart_wait,
            )
        return self._client

    def asset_store(self) -> AssetStore:
        """The one storage API over this Redis and the history tier."""
        client = self.get_client()
        location = self.history_location or (self.data_dir and f"{self.data_dir}/history")
        return AssetStore(
            client,
            history=history_store(location, self.history_endpoint, client) if location else None,
            lifetimes=Lifetimes(
                raw=RAW_SAMPLE_DAYS * 86400,
                hot=self.hot_days * 86400,
                long=self.rollup_ttl_days * 86400,
            ),
        )

    def health_check(self) -> dict[str, Any]:
        """Ask the server who it is; raises with a clear message when it does not answer."""
        try:
            return store.server_info(self.get_client())
        except store.RedisError as exc:
            where = redact_url(self.url) if self.url else "the embedded server"
            raise dg.Failure(f"Redis at {where} does not answer: {type(exc).__name__}") from None

    def teardown_after_execution(self, context) -> None:
        if self._client is not None:
            self._client.close()
            # a client given its pool does not close it; a cluster's client closes its nodes'
            pool = getattr(self._client, "connection_pool", None)
            if pool is not None:
                pool.disconnect()
            self._client = None


class MistApiResource(dg.ConfigurableResource):
    """The Mist API: tokens (`MIST_API_TOKEN`, one or more, comma-separated, via EnvVar), the
    orgs (`org_id`: one or several, comma-separated; or `msp_id`: an MSP's orgs as it lists them)
    and host; with no token, the built-in simulator in this process (same seed → same org and
    data), or its MSP of `simulator_msp` (seed:sites,...)."""

    api_token: str | None = None
    org_id: str | None = None
    msp_id: str | None = None
    host: str | None = None
    simulator_sites: int = 200
    simulator_seed: int = 1
    simulator_msp: str | None = None
    read_timeout: float = 30.0
    retries: int = 4

    _clients: list | None = PrivateAttr(default=None)

    @property
    def uses_simulator(self) -> bool:
        return not (self.api_token or "").strip()

    def get_org_clients(self, budget: store.Redis | None = None) -> list:
        """A client per org to analyse, found once a run (`mist.orgs`); with `budget` (the Redis
        every process shares), their calls count against each token's hourly budget there, so
        every process and every org together stay within it."""
        if self._clients is None:
            msp = sim_msp_orgs(self.simulator_msp or "")
            self._clients = sources.org_clients(
                self.api_token,
                self.host,
                tuple(o.strip() for o in (self.org_id or "").split(",") if o.strip()),
                self.msp_id,
                sim_sites=self.simulator_sites,
                sim_seed=self.simulator_seed,
                sim_msp=msp,
                read_timeout=self.read_timeout,
                retries=self.retries,
                ledger=store.RedisCallLedger(budget) if budget is not None else None,
            )
        return self._clients

    def get_client(self, budget: store.Redis | None = None):
        """The client of the one org analysed (an MSP's callers use `get_org_clients`)."""
        clients = self.get_org_clients(budget)
        if len(clients) != 1:
            raise dg.Failure(f"{len(clients)} orgs are analysed here, not one")
        return clients[0]

    def clock(self) -> float:
        """Now, as the API's clock has it (the simulator's may be simulated), asking it nothing."""
        if self.uses_simulator:
            return sources.in_process_simulator(
                self.simulator_sites,
                self.simulator_seed,
                msp=sim_msp_orgs(self.simulator_msp or ""),
            ).sim.clock.now()
        return time.time()

    def source(self) -> str:
        return "simulator" if self.uses_simulator else (self.host or "api.mist.com")


def known_orgs(redis: RedisResource, mist: MistApiResource) -> list[str]:
    """The orgs of the latest inventory (a tick asks the API nothing); before the first, the
    orgs the API names."""
    sites = redis.asset_store().latest("mist_sites")
    if sites is not None and "org_id" in sites.column_names:
        return sorted(set(sites.column("org_id").to_pylist()))
    return [c.org_id for c in mist.get_org_clients(budget=redis.get_client())]


_SAME_AS_SETTINGS = (
    "poll_interval",
    "partition_metadata_limit",
    "dashboard_url",
    "dagster_url",
    "alert_down_minutes",
    "alert_congested_minutes",
    "alert_flaps_per_hour",
    "alert_region_sites",
    "alert_repeat_minutes",
    "alert_resolve_minutes",
    "alert_quality_minutes",
    "alert_loss_pct",
    "alert_latency_ms",
    "alert_baseline_minutes",
    "alert_baseline_sigmas",
    "baseline_weeks",
    "baseline_min_weeks",
    "alert_pagerduty_url",
    "alert_smtp_url",
    "alert_smtp_ca_file",
    "alert_email_from",
    "alert_routes",
)


class WanperfSettings(dg.ConfigurableResource):
    """The settings assets, sensors and checks use as they run: read from the environment once,
    when the code location loads (`definitions.build_resources`), and shown on the resource's
    page in the UI; the webhook URLs, which carry tokens, as `EnvVar`s (their names shown)."""

    poll_interval: int = Settings.poll_interval
    insight_feeds: list[str] = Field(default_factory=lambda: list(INSIGHT_FEEDS))
    dashboard_url: str = Settings.dashboard_url
    dagster_url: str = Settings.dagster_url
    alert_down_minutes: int = Settings.alert_down_minutes
    alert_congested_minutes: int = Settings.alert_congested_minutes
    alert_flaps_per_hour: int = Settings.alert_flaps_per_hour
    alert_region_sites: int = Settings.alert_region_sites
    alert_repeat_minutes: int = Settings.alert_repeat_minutes
    alert_resolve_minutes: int = Settings.alert_resolve_minutes
    alert_quality_minutes: int = Settings.alert_quality_minutes
    alert_loss_pct: float = Settings.alert_loss_pct
    alert_latency_ms: float = Settings.alert_latency_ms
    alert_baseline_minutes: int = Settings.alert_baseline_minutes
    alert_baseline_sigmas: float = Settings.alert_baseline_sigmas
    baseline_weeks: int = Settings.baseline_weeks
    baseline_min_weeks: int = Settings.baseline_min_weeks
    alert_webhooks: str | None = None
    alert_slack_webhooks: str | None = None
    alert_pagerduty_keys: str | None = None  # an EnvVar: routing keys open incidents
    alert_pagerduty_url: str = Settings.alert_pagerduty_url
    alert_smtp_url: str | None = None
    alert_smtp_password: str | None = None  # an EnvVar
    alert_smtp_ca_file: str | None = None
    alert_email_to: list[str] = Field(default_factory=list)
    alert_email_from: str = ""
    alert_routes: str = ""
    dagster_patches: list[str] = Field(default_factory=list)
    partition_metadata_limit: int = Settings.partition_metadata_limit
    sla_file: str | None = None
    sla_maintenance_file: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WanperfSettings:
        # the same names, the same values; the secrets as the variables that hold them
        same = {name: getattr(settings, name) for name in _SAME_AS_SETTINGS}
        return cls(
            **same,
            insight_feeds=list(settings.insight_feeds),
            dagster_patches=list(settings.dagster_patches),
            alert_webhooks=dg.EnvVar("WANPERF_ALERT_WEBHOOKS") if settings.alert_webhooks else None,
            alert_slack_webhooks=dg.EnvVar("WANPERF_ALERT_SLACK_WEBHOOKS")
            if settings.alert_slack_webhooks
            else None,
            alert_pagerduty_keys=dg.EnvVar("WANPERF_ALERT_PAGERDUTY_KEYS")
            if settings.alert_pagerduty_keys
            else None,
            alert_smtp_password=dg.EnvVar("WANPERF_ALERT_SMTP_PASSWORD")
            if settings.alert_smtp_password
            else None,
            alert_email_to=list(settings.alert_email_to),
            sla_file=str(settings.sla_file) if settings.sla_file else None,
            sla_maintenance_file=str(settings.sla_maintenance_file)
            if settings.sla_maintenance_file
            else None,
        )

    @property
    def interval_minutes(self) -> int:
        """The sample interval: one sweep every poll interval."""
        return self.poll_interval // 60

    def patched(self, patch: str) -> bool:
        return patch in self.dagster_patches

    def alert_rules(self) -> alerts.AlertRules:
        return alerts.AlertRules(
            down_minutes=self.alert_down_minutes,
            congested_minutes=self.alert_congested_minutes,
            flaps_per_hour=self.alert_flaps_per_hour,
            region_sites=self.alert_region_sites,
            quality_minutes=self.alert_quality_minutes,
            loss_pct=self.alert_loss_pct,
            latency_ms=self.alert_latency_ms,
            baseline_minutes=self.alert_baseline_minutes,
            baseline_sigmas=self.alert_baseline_sigmas,
        )

    def alert_destinations(self) -> list[alerts.Destination]:
        keys = tuple(k.strip() for k in (self.alert_pagerduty_keys or "").split(",") if k.strip())
        return alerts.destinations_from(
            dataclasses.replace(
                Settings(),
                **{name: getattr(self, name) for name in _SAME_AS_SETTINGS},
                alert_webhooks=parse_webhooks("WANPERF_ALERT_WEBHOOKS", self.alert_webhooks),
                alert_slack_webhooks=parse_webhooks(
                    "WANPERF_ALERT_SLACK_WEBHOOKS", self.alert_slack_webhooks
                ),
                alert_pagerduty_keys=keys,
                alert_smtp_password=self.alert_smtp_password or "",
                alert_email_to=tuple(self.alert_email_to),
            )
        )

    def incident_links(self, incident: alerts.Incident) -> dict[str, str]:
        return alerts.incident_links(self.dashboard_url, self.dagster_url, incident)
