"""Dagster resources: thin wrappers that hand the cores their configured clients.

Secrets reach them as `EnvVar`s (see `definitions.py`): the UI shows the variable's name, never
its value.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import redis
from pydantic import PrivateAttr

from wanperf_dagster import sources, store
from wanperf_dagster.settings import get_settings, redact_url

from .storage import AssetStore


class RedisResource(dg.ConfigurableResource):
    """A pooled Redis client: `url` (from `WANPERF_REDIS_URL`) or, when unset, the embedded server
    of `data_dir` (default: `WANPERF_DATA_DIR`). The URL may carry a password, so it is only ever
    shown redacted."""

    url: str | None = None
    data_dir: str | None = None
    socket_timeout: float = 10.0
    connect_timeout: float = 5.0
    retries: int = 5
    max_connections: int = 32

    _client: redis.Redis | None = PrivateAttr(default=None)

    def get_client(self) -> redis.Redis:
        if self._client is None:
            url = store.resolve_redis_url(self.url, self.data_dir or get_settings().data_dir)
            self._client = store.connect(
                url,
                socket_timeout=self.socket_timeout,
                connect_timeout=self.connect_timeout,
                retries=self.retries,
                max_connections=self.max_connections,
            )
        return self._client

    def asset_store(self) -> AssetStore:
        """The stored asset values on this Redis and the settings' history tier (the one
        storage API)."""
        return AssetStore.from_settings(get_settings(), client=self.get_client())

    def health_check(self) -> dict[str, Any]:
        """Ping the server; raises with a clear message when it does not answer."""
        client = self.get_client()
        try:
            client.ping()
        except redis.RedisError as exc:
            where = redact_url(self.url) if self.url else "the embedded server"
            raise dg.Failure(f"Redis at {where} does not answer: {type(exc).__name__}") from None
        return store.server_info(client)

    def teardown_after_execution(self, context) -> None:
        if self._client is not None:
            self._client.close()
            self._client.connection_pool.disconnect()
            self._client = None


class MistApiResource(dg.ConfigurableResource):
    """The Mist API: tokens (`MIST_API_TOKEN`, one or more, comma-separated, via EnvVar), org and
    host; with no token, the built-in simulator in this process (same seed → same org and data)."""

    api_token: str | None = None
    org_id: str | None = None
    host: str | None = None
    simulator_sites: int = 200
    simulator_seed: int = 1
    read_timeout: float = 30.0
    retries: int = 4

    _client: object | None = PrivateAttr(default=None)

    @property
    def uses_simulator(self) -> bool:
        return not (self.api_token or "").strip()

    def get_client(self, budget: redis.Redis | None = None):
        """The client; with `budget` (the Redis every process shares), its calls count against
        each token's hourly budget in that Redis, so every process together stays within it."""
        if self._client is None:
            self._client = sources.mist_client(
                self.api_token,
                self.host,
                self.org_id,
                sim_sites=self.simulator_sites,
                sim_seed=self.simulator_seed,
                read_timeout=self.read_timeout,
                retries=self.retries,
                ledger=store.RedisCallLedger(budget) if budget is not None else None,
            )
        return self._client

    def source(self) -> str:
        return "simulator" if self.uses_simulator else (self.host or "api.mist.com")
