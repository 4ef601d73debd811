"""Every setting the project reads from the environment, parsed and validated once.

`get_settings()` is the one place a process learns its configuration: a frozen `Settings` built
from the environment on first use. A bad value fails there, before anything is written, with one
line naming the variable, what it holds and what is allowed. Secrets (Mist tokens, a Redis URL that
may carry a password) are kept out of `repr` and out of every message; Dagster resources receive
them as `EnvVar`s (see `dagster_io.resources`), so the UI shows the variable's name, never its value.

Nothing else in the package reads `os.environ`, except the CLI when it prepares the environment of
the processes it starts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from wanperf_dagster.alert_routes import RouteError, check_targets, parse_routes

DEFAULT_DATA_DIR = ".wanperf"
RAW_SAMPLE_DAYS = 31  # the raw samples' lifetime: a site-day is recomputable this long
# `site_snapshots` in Redis: the dashboard's week of samples and the day before it (the history
# tier has every day, and a snapshot's raw samples are released once it is there)
SNAPSHOT_DAYS = 8
START_DATE_FILE = "start_date"  # the first day of the partitions, pinned by `wanperf dev`/`seed`
DEMO_LOOKBACK_DAYS = 3
INSIGHT_FEEDS = ("sle", "paths", "events", "devices")  # the feeds ingested with each sweep
# speed-ups over Dagster's own machinery, each patching a private part of it: off unless
# WANPERF_DAGSTER_PATCHES names them (docs/architecture.md says what each buys, `bench` measures it)
DAGSTER_PATCHES = ("event_log", "partition_metadata", "backfill_wake", "backfill_check")


class SettingsError(ValueError):
    """One or more settings are invalid; the message names each variable and what is allowed."""


@dataclass(frozen=True)
class Settings:
    """The project's configuration. Build it with `Settings.from_env()` or `get_settings()`."""

    mist_tokens: tuple[str, ...] = field(default=(), repr=False)
    mist_org_ids: tuple[str, ...] = ()  # MIST_ORG_ID: one org or several, comma-separated
    mist_msp_id: str | None = None  # MIST_MSP_ID: analyse the MSP's orgs (listed as it changes)
    mist_host: str | None = None
    poll_interval: int = 600
    insight_feeds: tuple[str, ...] = INSIGHT_FEEDS  # WAN insight feeds to ingest
    redis_url: str | None = field(default=None, repr=False)
    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR).resolve())
    start_date_setting: str | None = None  # WANPERF_START_DATE as given
    backfill_chunk: int = 500
    dagster_patches: tuple[str, ...] = ()  # opt-in speed-ups over Dagster's private parts
    # on stock Dagster, a run over more partitions than this leaves out per-partition metadata
    # (Dagster's public call lists the run's partitions again each time: O(sites) per call)
    partition_metadata_limit: int = 20
    backfill_wake_seconds: float = 2.0  # with backfill_wake: how often it looks for backfill work
    automation_interval: int = 30  # seconds between evaluations of the kpi_backfills automation
    rollup_ttl_days: int = 400  # the rollups' (days, weeks, months) lifetime in Redis
    run_retention_days: int = 14  # finished runs older than this may go (instance/retention.py)
    hot_days: int = 35  # site-day values in Redis (and day x site partitions); all in history
    history_url: str | None = None  # WANPERF_HISTORY_URL; None: <data_dir>/history
    history_endpoint: str | None = None  # an S3-compatible endpoint for s3:// history URLs
    dagster_pg_url: str | None = field(default=None, repr=False)  # the Postgres instance
    executor: str = "in_process"  # or "celery": steps on Celery workers
    celery_broker: str | None = field(default=None, repr=False)
    celery_backend: str | None = field(default=None, repr=False)
    celery_queue: str = "dagster"  # the queue the steps go to and the workers listen on
    # a worker's step process is replaced after a step that leaves it above this (0: never)
    celery_worker_max_mib: int = 768
    sim_sites: int = 200
    sim_seed: int = 1
    sim_msp: tuple[tuple[int, int], ...] = ()  # WANPERF_SIM_MSP: the simulator serves an MSP
    demo_days: float = 3.0
    # alerts: where they go (webhook URLs are secrets) and when they trip
    alert_webhooks: tuple[str, ...] = field(default=(), repr=False)
    alert_slack_webhooks: tuple[str, ...] = field(default=(), repr=False)
    alert_down_minutes: int = 10
    alert_congested_minutes: int = 30
    alert_flaps_per_hour: int = 3
    alert_region_sites: int = 5
    alert_repeat_minutes: int = 240  # an open, unacknowledged incident told again; 0: never
    alert_resolve_minutes: int = 20  # cleared that long before its recovery is told
    alert_quality_minutes: int = 10
    alert_loss_pct: float = 1.0
    alert_latency_ms: float = 150.0
    alert_baseline_minutes: int = 30  # off its hour-of-week baseline that long; 0: no such rule
    alert_baseline_sigmas: float = 4.0
    baseline_weeks: int = 4  # the weeks of hourly KPIs a baseline is learnt from
    baseline_min_weeks: int = 3  # fewer weeks seen: learning
    # more receivers (PagerDuty's routing keys and the SMTP password are secrets) and routes
    alert_pagerduty_keys: tuple[str, ...] = field(default=(), repr=False)
    alert_pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    alert_smtp_url: str | None = None  # smtp://[user@]host[:port] (STARTTLS) or smtps://
    alert_smtp_password: str = field(default="", repr=False)
    alert_smtp_ca_file: str | None = None
    alert_email_to: tuple[str, ...] = ()
    alert_email_from: str = ""
    alert_routes: str = ""  # `pagerduty #1: severity=critical; ...` (alerts.routing)
    # the NOC dashboard and the links between it and the Dagster UI
    dashboard_port: int = 8050
    dashboard_url: str = "http://127.0.0.1:8050"
    dagster_url: str = "http://127.0.0.1:3000"
    # who may see the dashboard (dashboard/access.py): a users file, or a trusted proxy's header
    dashboard_users: Path | None = None  # WANPERF_DASHBOARD_USERS (TOML, argon2 hashes)
    dashboard_proxy_header: str | None = None  # e.g. X-Forwarded-User (oauth2-proxy)
    dashboard_trusted_proxies: tuple[str, ...] = ()  # addresses or networks it is honoured from
    dashboard_secret: str = field(default="", repr=False)  # signs sessions; unset: a file's
    dashboard_session_hours: int = 12
    # carrier SLA reports: the circuits' contracts and the maintenance windows, files the user keeps
    sla_file: Path | None = None
    sla_maintenance_file: Path | None = None

    # derived -----------------------------------------------------------------------------------
    @property
    def uses_simulator(self) -> bool:
        """No Mist token: the built-in simulator answers the API."""
        return not self.mist_tokens

    @property
    def interval_minutes(self) -> int:
        return self.poll_interval // 60

    @property
    def mist_org_id(self) -> str | None:
        """The one org named, when exactly one is (and no MSP)."""
        return (
            self.mist_org_ids[0] if len(self.mist_org_ids) == 1 and not self.mist_msp_id else None
        )

    def alert_receivers(self) -> list[str]:
        """The alert receivers configured, by the names messages and routes give them."""
        return (
            [f"webhook #{n}" for n in range(1, len(self.alert_webhooks) + 1)]
            + [f"slack #{n}" for n in range(1, len(self.alert_slack_webhooks) + 1)]
            + [f"pagerduty #{n}" for n in range(1, len(self.alert_pagerduty_keys) + 1)]
            + (["email #1"] if self.alert_smtp_url else [])
        )

    def patched(self, patch: str) -> bool:
        """Whether a speed-up over Dagster's own machinery is turned on (`DAGSTER_PATCHES`)."""
        if patch not in DAGSTER_PATCHES:
            raise ValueError(f"no Dagster patch {patch!r} (known: {', '.join(DAGSTER_PATCHES)})")
        return patch in self.dagster_patches

    @property
    def rollup_ttl_seconds(self) -> int:
        return self.rollup_ttl_days * 86400

    def window_start(self, today: dt.date | None = None) -> str:
        """The first day of the `day x site` partitions: `WANPERF_START_DATE` when it is set
        (it pins them), else the later of the first day of history (`start_date`) and
        `WANPERF_HOT_DAYS` before today: the window moves forward each day, while a site-day can
        still be recomputed from its raw samples. Older days stay in the history tier and in the
        weeks and months."""
        if self.start_date_setting:
            return self.start_date_setting
        today = today or dt.datetime.now(dt.UTC).date()
        window = (today - dt.timedelta(days=self.hot_days)).isoformat()
        return max(self.start_date, window)

    @property
    def history_location(self) -> str:
        """Where the history tier lives: `WANPERF_HISTORY_URL`, else the data directory's."""
        return self.history_url or str(self.data_dir / "history")

    @property
    def start_date_file(self) -> Path:
        return self.data_dir / START_DATE_FILE

    @property
    def start_date(self) -> str:
        """The first day of the `day` partitions: `WANPERF_START_DATE`, else the date pinned in the
        data directory by the first `wanperf dev` or `wanperf seed`, else three days before today
        (what the demo replays). Reading it never writes anything."""
        if self.start_date_setting:
            return self.start_date_setting
        try:
            pinned = self.start_date_file.read_text().strip()
            dt.date.fromisoformat(pinned)
            return pinned
        except (FileNotFoundError, ValueError):
            return default_start_date()

    # building ----------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse and validate every variable; raises `SettingsError` listing each bad one."""
        env = os.environ if environ is None else environ
        parser = _Parser(env)
        tokens = parser.tokens("MIST_API_TOKEN")
        host = parser.mist_host()
        if host and not tokens:
            parser.fail(
                "MIST_HOST",
                f"is set ({host}) but MIST_API_TOKEN is not: set the token to reach that host, "
                "or unset MIST_HOST to use the built-in simulator",
            )
        if tokens and parser.text("WANPERF_SIM_MSP"):
            parser.fail(
                "WANPERF_SIM_MSP",
                "is set but so is MIST_API_TOKEN: the simulated MSP serves only when there is no"
                " token (use MIST_MSP_ID for a real MSP)",
            )
        if parser.text("MIST_MSP_ID") and not tokens:
            parser.fail(
                "MIST_MSP_ID",
                "is set but MIST_API_TOKEN is not: an MSP is read with its tokens (the simulator's"
                " MSP is WANPERF_SIM_MSP)",
            )
        settings = cls(
            mist_tokens=tokens,
            mist_org_ids=parser.org_ids("MIST_ORG_ID"),
            mist_msp_id=parser.org_id("MIST_MSP_ID", "an MSP id"),
            mist_host=host,
            poll_interval=parser.poll_interval(),
            insight_feeds=parser.subset("WANPERF_INSIGHT_FEEDS", INSIGHT_FEEDS, INSIGHT_FEEDS),
            redis_url=parser.redis_url(),
            data_dir=parser.directory("WANPERF_DATA_DIR", DEFAULT_DATA_DIR),
            start_date_setting=parser.date("WANPERF_START_DATE"),
            backfill_chunk=parser.integer("WANPERF_BACKFILL_CHUNK", 500, 1, 100_000),
            dagster_patches=parser.subset("WANPERF_DAGSTER_PATCHES", DAGSTER_PATCHES, ()),
            partition_metadata_limit=parser.integer(
                "WANPERF_PARTITION_METADATA_LIMIT", Settings.partition_metadata_limit, 0, 1_000_000
            ),
            backfill_wake_seconds=parser.number(
                "WANPERF_BACKFILL_WAKE_SECONDS", 2.0, 0, 30, zero_means="Dagster's own 30-s loop"
            ),
            automation_interval=parser.integer("WANPERF_AUTOMATION_INTERVAL", 30, 30, 3600),
            rollup_ttl_days=parser.integer(
                "WANPERF_ROLLUP_TTL_DAYS", Settings.rollup_ttl_days, 1, 3660
            ),
            hot_days=parser.integer("WANPERF_HOT_DAYS", Settings.hot_days, RAW_SAMPLE_DAYS, 400),
            run_retention_days=parser.integer(
                "WANPERF_RUN_RETENTION_DAYS", Settings.run_retention_days, 1, 3660
            ),
            history_url=parser.history_url(),
            history_endpoint=parser.endpoint("WANPERF_HISTORY_ENDPOINT"),
            dagster_pg_url=parser.postgres_url("WANPERF_DAGSTER_PG_URL"),
            executor=parser.choice("WANPERF_EXECUTOR", ("in_process", "celery"), "in_process"),
            celery_broker=parser.broker_url("WANPERF_CELERY_BROKER"),
            celery_backend=parser.broker_url("WANPERF_CELERY_BACKEND"),
            celery_queue=parser.queue_name("WANPERF_CELERY_QUEUE"),
            celery_worker_max_mib=parser.integer(
                "WANPERF_CELERY_WORKER_MAX_MIB", Settings.celery_worker_max_mib, 0, 1_048_576
            ),
            sim_sites=parser.integer("WANPERF_SIM_SITES", 200, 1, 100_000),
            sim_seed=parser.integer("WANPERF_SIM_SEED", 1, 0, 2**31 - 1),
            sim_msp=parser.sim_msp("WANPERF_SIM_MSP"),
            demo_days=parser.number("WANPERF_DEMO_DAYS", 3.0, 0.0, 31.0),
            alert_webhooks=parser.webhooks("WANPERF_ALERT_WEBHOOKS"),
            alert_slack_webhooks=parser.webhooks("WANPERF_ALERT_SLACK_WEBHOOKS"),
            alert_down_minutes=parser.integer(
                "WANPERF_ALERT_DOWN_MINUTES", Settings.alert_down_minutes, 1, 1440
            ),
            alert_congested_minutes=parser.integer(
                "WANPERF_ALERT_CONGESTED_MINUTES", Settings.alert_congested_minutes, 1, 1440
            ),
            alert_flaps_per_hour=parser.integer(
                "WANPERF_ALERT_FLAPS_PER_HOUR", Settings.alert_flaps_per_hour, 1, 1000
            ),
            alert_region_sites=parser.integer(
                "WANPERF_ALERT_REGION_SITES", Settings.alert_region_sites, 2, 1_000_000
            ),
            alert_repeat_minutes=parser.integer(
                "WANPERF_ALERT_REPEAT_MINUTES", Settings.alert_repeat_minutes, 0, 7 * 1440
            ),
            alert_resolve_minutes=parser.integer(
                "WANPERF_ALERT_RESOLVE_MINUTES", Settings.alert_resolve_minutes, 0, 1440
            ),
            alert_quality_minutes=parser.integer(
                "WANPERF_ALERT_QUALITY_MINUTES", Settings.alert_quality_minutes, 1, 1440
            ),
            alert_loss_pct=parser.number(
                "WANPERF_ALERT_LOSS_PCT", Settings.alert_loss_pct, 0.0, 100.0
            ),
            alert_latency_ms=parser.number(
                "WANPERF_ALERT_LATENCY_MS", Settings.alert_latency_ms, 1.0, 60_000.0
            ),
            alert_baseline_minutes=parser.integer(
                "WANPERF_ALERT_BASELINE_MINUTES", Settings.alert_baseline_minutes, 0, 1440
            ),
            alert_baseline_sigmas=parser.number(
                "WANPERF_ALERT_BASELINE_SIGMAS", Settings.alert_baseline_sigmas, 1.0, 50.0
            ),
            baseline_weeks=parser.integer("WANPERF_BASELINE_WEEKS", Settings.baseline_weeks, 1, 52),
            baseline_min_weeks=parser.integer(
                "WANPERF_BASELINE_MIN_WEEKS", Settings.baseline_min_weeks, 1, 52
            ),
            alert_pagerduty_keys=parser.tokens("WANPERF_ALERT_PAGERDUTY_KEYS"),
            alert_pagerduty_url=parser.endpoint("WANPERF_ALERT_PAGERDUTY_URL")
            or Settings.alert_pagerduty_url,
            alert_smtp_url=parser.smtp_url("WANPERF_ALERT_SMTP_URL"),
            alert_smtp_password=parser.text("WANPERF_ALERT_SMTP_PASSWORD"),
            alert_smtp_ca_file=parser.any_file("WANPERF_ALERT_SMTP_CA_FILE"),
            alert_email_to=parser.addresses("WANPERF_ALERT_EMAIL_TO"),
            alert_email_from=parser.text("WANPERF_ALERT_EMAIL_FROM"),
            alert_routes=parser.routes("WANPERF_ALERT_ROUTES"),
            dashboard_port=parser.integer(
                "WANPERF_DASHBOARD_PORT", Settings.dashboard_port, 1, 65535
            ),
            dashboard_url=parser.endpoint("WANPERF_DASHBOARD_URL") or "",
            dagster_url=parser.endpoint("WANPERF_DAGSTER_URL") or Settings.dagster_url,
            dashboard_users=parser.new_file("WANPERF_DASHBOARD_USERS"),
            dashboard_proxy_header=parser.header_name("WANPERF_DASHBOARD_PROXY_HEADER"),
            dashboard_trusted_proxies=parser.networks("WANPERF_DASHBOARD_TRUSTED_PROXIES"),
            dashboard_secret=parser.text("WANPERF_DASHBOARD_SECRET"),
            dashboard_session_hours=parser.integer("WANPERF_DASHBOARD_SESSION_HOURS", 12, 1, 720),
            sla_file=parser.readable_file("WANPERF_SLA_FILE"),
            sla_maintenance_file=parser.readable_file("WANPERF_SLA_MAINTENANCE_FILE"),
        )
        if not settings.dashboard_url:
            settings = dataclasses.replace(
                settings, dashboard_url=f"http://127.0.0.1:{settings.dashboard_port}"
            )
        if settings.dashboard_proxy_header and not settings.dashboard_trusted_proxies:
            parser.fail(
                "WANPERF_DASHBOARD_PROXY_HEADER",
                "is set but WANPERF_DASHBOARD_TRUSTED_PROXIES is not: the header is honoured only"
                " from the proxy's own addresses",
            )
        if settings.dashboard_proxy_header and not settings.dashboard_users:
            parser.fail(
                "WANPERF_DASHBOARD_PROXY_HEADER",
                "is set but WANPERF_DASHBOARD_USERS is not: the users file says each user's"
                " role and orgs",
            )
        if settings.dashboard_secret and len(settings.dashboard_secret) < 32:
            parser.fail("WANPERF_DASHBOARD_SECRET", "is shorter than 32 characters")
        if settings.alert_smtp_url and not settings.alert_email_to:
            parser.fail(
                "WANPERF_ALERT_SMTP_URL", "is set but WANPERF_ALERT_EMAIL_TO is not: who is told?"
            )
        if settings.alert_smtp_url and "@" not in settings.alert_email_from:
            parser.fail(
                "WANPERF_ALERT_EMAIL_FROM",
                "must be the sender's address (alerts@example.com) when WANPERF_ALERT_SMTP_URL is set",
            )
        if settings.baseline_min_weeks > settings.baseline_weeks:
            parser.fail(
                "WANPERF_BASELINE_MIN_WEEKS",
                f"={settings.baseline_min_weeks} is more than the weeks learnt from"
                f" (WANPERF_BASELINE_WEEKS={settings.baseline_weeks}): nothing would be learnt",
            )
        if settings.alert_routes:  # a route to a receiver that is not configured
            try:
                check_targets(parse_routes(settings.alert_routes), settings.alert_receivers())
            except RouteError as exc:
                parser.fail("WANPERF_ALERT_ROUTES", f"has a bad route: {exc}")
        if settings.executor == "celery" and not settings.celery_broker:
            parser.fail(
                "WANPERF_EXECUTOR",
                "=celery needs WANPERF_CELERY_BROKER (amqp://guest@host:5672// or redis://...)",
            )
        parser.raise_errors()
        return settings


def default_start_date(today: dt.date | None = None) -> str:
    today = today or dt.datetime.now(dt.UTC).date()
    return (today - dt.timedelta(days=DEMO_LOOKBACK_DAYS)).isoformat()


def parse_webhooks(name: str, text: str | None) -> tuple[str, ...]:
    """Comma-separated webhook URLs as `name` holds them (checked as `Settings.from_env` checks
    them; a bad one raises `SettingsError` naming its position, never the URL)."""
    parser = _Parser({name: text or ""})
    urls = parser.webhooks(name)
    parser.raise_errors()
    return urls


_FELL_BACK: set[str] = set()


def patch_unavailable(patch: str, why: str) -> None:
    """Say once per process that a Dagster patch turned on is not used: the installed Dagster's
    internals differ from what it patches, so Dagster's stock path runs instead."""
    if patch in _FELL_BACK:
        return
    _FELL_BACK.add(patch)
    logging.getLogger("wanperf_dagster").warning(
        "WANPERF_DAGSTER_PATCHES: %s is on, but this Dagster's internals differ (%s): using"
        " Dagster's stock path instead",
        patch,
        why,
    )


def sim_msp_orgs(raw: str) -> tuple[tuple[int, int], ...]:
    """The simulated MSP's orgs, (seed, sites) each, from `seed:sites,seed:sites`
    (WANPERF_SIM_MSP, and the Mist resource's `simulator_msp`); ValueError saying what is wrong."""
    orgs = []
    for part in raw.split(",") if raw.strip() else []:
        seed, sep, sites = part.strip().partition(":")
        if not (sep and seed.isdigit() and sites.isdigit() and 1 <= int(sites) <= 100_000):
            raise ValueError(f"={raw[:80]!r} is not seed:sites[,seed:sites...] (sites 1-100000)")
        orgs.append((int(seed), int(sites)))
    if len({seed for seed, _ in orgs}) != len(orgs):
        raise ValueError(f"={raw[:80]!r} names a seed twice (each org has its own)")
    return tuple(orgs)


@functools.cache
def get_settings() -> Settings:
    """This process's settings, read from the environment once (`get_settings.cache_clear()`
    makes the next call read it again, for tests and for the CLI after it changes its env)."""
    return Settings.from_env()


def pin_start_date(settings: Settings) -> str:
    """Fix the first day of the partitions in the data directory (done by `wanperf dev` and
    `wanperf seed`, never on import), so history does not move as days pass."""
    if settings.start_date_setting:
        return settings.start_date_setting
    path = settings.start_date_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(settings.start_date)
    return path.read_text().strip()


def current_dagster_home() -> Path | None:
    """`DAGSTER_HOME` as it is now: the CLI points it at the data directory for itself and its
    children after the settings were first read."""
    raw = (os.environ.get("DAGSTER_HOME") or "").strip()
    return Path(raw).resolve() if raw else None


def set_default_env(name: str, value: str) -> None:
    """Give a variable that Dagster itself reads a default, in this process and its children
    (the event log's batch size); an explicit setting wins."""
    os.environ.setdefault(name, value)


def child_environment(
    settings: Settings, python_path: tuple[str, ...] = (), **overrides: str
) -> dict[str, str]:
    """The environment for a process the CLI starts: this one's, with the data directory made
    absolute (children may run elsewhere), `python_path` put before any PYTHONPATH, and the
    given overrides."""
    env = dict(os.environ)
    env["WANPERF_DATA_DIR"] = str(settings.data_dir)
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join([*python_path, *filter(None, [env.get("PYTHONPATH")])])
    env.update(overrides)
    return env


def redact_url(url: str) -> str:
    """A URL safe for logs and messages: a password in the user-info part or in the query string
    (`?password=`, which redis-py honours) is replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}"
    query = re.sub(r"(?i)((?:^|&)(?:password|pass|pwd)=)[^&]*", r"\1***", parts.query)
    rebuilt = f"{parts.scheme}://{netloc}{parts.path}"
    return rebuilt + (f"?{query}" if query else "")


def _not_a_writable_directory(path: Path) -> str:
    """Why `path` cannot be (made) a directory this process writes to, or "" when it can: it
    is a file, or its nearest existing parent is not a directory or not writable, or it lies
    on a kernel filesystem (/proc, /sys) where nothing can be created."""
    if path.exists():
        if not path.is_dir():
            return "is not a directory"
        if not os.access(path, os.W_OK | os.X_OK):
            return "is not writable by this user"
        return ""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be created: {parent} is not a directory"
    top = parent.parts[1] if len(parent.parts) > 1 else ""
    if top in ("proc", "sys") or (top == "dev" and parent.parts[:3] != ("/", "dev", "shm")):
        return f"cannot be created: {parent} is a kernel filesystem"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: {parent} is not writable by this user"
    return ""


# parsing -------------------------------------------------------------------------------------------
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$")
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")


class _Parser:
    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.errors: list[str] = []

    def fail(self, name: str, message: str) -> None:
        self.errors.append(f"{name}{message}" if message.startswith("=") else f"{name} {message}")

    def raise_errors(self) -> None:
        if self.errors:
            raise SettingsError("; ".join(self.errors))

    def text(self, name: str) -> str:
        return (self.env.get(name) or "").strip()

    def split(self, name: str, raw: str, allowed: str):
        """The URL's parts, or None after one line saying it is not a URL (never the URL's
        password: what is shown is redacted)."""
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError as exc:
            shown = redact_url(raw) if "://" in raw else repr(raw[:80])
            self.fail(name, f"={shown} is not a valid URL: {exc} (allowed: {allowed})")
            return None
        return parts

    def tokens(self, name: str) -> tuple[str, ...]:
        """Comma-separated API tokens; none is shown in a message, each named by position."""
        raw = self.env.get(name) or ""
        if not raw.strip():
            return ()
        tokens = tuple(t.strip() for t in raw.split(",") if t.strip())
        if not tokens:
            self.fail(name, "holds no token, only commas and spaces (unset it for the simulator)")
            return ()
        for n, token in enumerate(tokens, 1):
            if not re.fullmatch(r"[\x21-\x7e]{1,512}", token):
                self.fail(
                    name,
                    f"token #{n} holds a space, a newline or another character a token cannot"
                    " have (tokens are not shown)",
                )
                return ()
        return tokens

    def org_id(self, name: str, what: str = "an org id") -> str | None:
        raw = self.text(name)
        if not raw:
            return None
        if not re.fullmatch(
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", raw
        ):
            self.fail(name, f"={raw[:80]!r} is not {what} (a UUID, as the Mist portal shows it)")
            return None
        return raw

    def org_ids(self, name: str) -> tuple[str, ...]:
        """One org id or several, comma-separated, each a UUID; duplicates dropped."""
        raw = self.text(name)
        ids = [p.strip() for p in (raw or "").split(",") if p.strip()]
        for n, org in enumerate(ids, 1):
            if not re.fullmatch(
                r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", org
            ):
                where = f"={org[:80]!r}" if len(ids) == 1 else f" #{n} ({org[:80]!r})"
                self.fail(name, f"{where} is not an org id (a UUID, as the Mist portal shows it)")
                return ()
        return tuple(dict.fromkeys(ids))

    def sim_msp(self, name: str) -> tuple[tuple[int, int], ...]:
        """`seed:sites,seed:sites`: the simulated MSP's orgs."""
        try:
            return sim_msp_orgs(self.text(name) or "")
        except ValueError as exc:
            self.fail(name, str(exc))
            return ()

    def directory(self, name: str, default: str) -> Path:
        """A directory the project can write to (it is created on first use, never here)."""
        path = Path(self.text(name) or default).resolve()
        problem = _not_a_writable_directory(path)
        if problem:
            self.fail(name, f"={str(path)!r} {problem}")
        return path

    def new_file(self, name: str) -> Path | None:
        """A file that may not exist yet, in a directory that does."""
        raw = self.text(name)
        if not raw:
            return None
        path = Path(raw).expanduser().resolve()
        if path.exists() and not path.is_file():
            self.fail(name, f"={str(path)!r} is not a file")
        elif not path.parent.is_dir():
            self.fail(name, f"={str(path)!r}: its directory does not exist")
        return path

    def header_name(self, name: str) -> str | None:
        raw = self.text(name)
        if raw and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", raw):
            self.fail(name, f"={raw[:80]!r} is not an HTTP header name (like X-Forwarded-User)")
            return None
        return raw or None

    def networks(self, name: str) -> tuple[str, ...]:
        """Addresses or networks (CIDR), comma-separated."""
        import ipaddress

        out = []
        for part in (p.strip() for p in self.text(name).split(",") if p.strip()):
            try:
                out.append(str(ipaddress.ip_network(part, strict=False)))
            except ValueError:
                self.fail(
                    name, f"={part[:80]!r} is not an address or network (10.0.0.5, 10.0.0.0/24)"
                )
                return ()
        return tuple(out)

    def any_file(self, name: str) -> str | None:
        raw = self.text(name)
        if not raw:
            return None
        path = Path(raw).expanduser().resolve()
        if not path.is_file():
            self.fail(name, f"={str(path)!r} is not a file")
        return str(path)

    def smtp_url(self, name: str) -> str | None:
        raw = self.text(name)
        if not raw:
            return None
        allowed = "smtp://[user@]host[:port] (STARTTLS, port 587) or smtps://[user@]host[:port]"
        parts = self.split(name, raw, allowed)
        if parts is None:
            return None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            self.fail(name, f"={redact_url(raw)} is not an SMTP URL (allowed: {allowed})")
            return None
        if parts.password:
            self.fail(
                name,
                f"={redact_url(raw)} carries a password: put it in WANPERF_ALERT_SMTP_PASSWORD",
            )
            return None
        return raw

    def addresses(self, name: str) -> tuple[str, ...]:
        found = tuple(a.strip() for a in self.text(name).split(",") if a.strip())
        for address in found:
            if not re.fullmatch(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+", address):
                self.fail(name, f"={address!r} is not an email address (name@example.com)")
                return ()
        return found

    def routes(self, name: str) -> str:
        raw = self.text(name)
        try:
            parse_routes(raw)
        except RouteError as exc:
            self.fail(name, f"has a bad route: {exc}")
            return ""
        return raw

    def readable_file(self, name: str) -> Path | None:
        """A file the user keeps (read when it is used, so an edit needs no restart)."""
        raw = self.text(name)
        if not raw:
            return None
        path = Path(raw).expanduser().resolve()
        if path.suffix.lower() not in (".csv", ".yaml", ".yml"):
            self.fail(name, f"={str(path)!r} is not a .csv, .yaml or .yml file")
        elif not path.is_file():
            self.fail(name, f"={str(path)!r} is not a file")
        return path

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.fail(name, f"={raw!r} is not a whole number (allowed: {low} to {high})")
            return default
        if not low <= value <= high:
            self.fail(name, f"={value} is out of range (allowed: {low} to {high})")
            return default
        return value

    def number(
        self, name: str, default: float, low: float, high: float, zero_means: str | None = None
    ) -> float:
        """A number above `low`, up to `high`; with `zero_means`, 0 is allowed too and says that."""
        raw = self.text(name)
        if not raw:
            return default
        allowed = (
            f"allowed: 0 ({zero_means}), or above 0 up to {high:g}"
            if zero_means
            else f"allowed: above {low:g}, up to {high:g}"
        )
        try:
            value = float(raw)
        except ValueError:
            self.fail(name, f"={raw!r} is not a number ({allowed})")
            return default
        if not (low < value <= high or (zero_means and value == 0)):
            self.fail(name, f"={raw} is out of range ({allowed})")
            return default
        return value

    def poll_interval(self) -> int:
        name = "WANPERF_POLL_INTERVAL"
        allowed = "whole seconds, at least 60, dividing an hour: 60, 120, 180, 240, 300, 360, 600, 720, 900, 1200, 1800, 3600"
        raw = self.text(name)
        if not raw:
            return 600
        try:
            value = int(raw)
        except ValueError:
            self.fail(name, f"={raw!r} is not a whole number of seconds (allowed: {allowed})")
            return 600
        # whole minutes too: the KPI engine counts minutes per sample
        if value < 60 or 3600 % value or value % 60:
            self.fail(name, f"={value} is not allowed ({allowed})")
            return 600
        return value

    def date(self, name: str) -> str | None:
        raw = self.text(name)
        if not raw:
            return None
        try:
            value = dt.date.fromisoformat(raw)
        except ValueError:
            self.fail(name, f"={raw!r} is not a date (allowed: YYYY-MM-DD, e.g. 2026-01-31)")
            return None
        if value > dt.datetime.now(dt.UTC).date():
            self.fail(name, f"={raw} is in the future (allowed: today or earlier)")
            return None
        return value.isoformat()

    def mist_host(self) -> str | None:
        name = "MIST_HOST"
        raw = self.text(name).rstrip("/")
        if not raw:
            return None
        allowed = (
            "a region host such as api.eu.mist.com, or a base URL such as http://127.0.0.1:8765"
        )
        if raw.startswith(("http://", "https://")):
            parts = self.split(name, raw, allowed)
            if parts is None:
                return None
            if parts.username or parts.password:
                self.fail(
                    name,
                    f"={redact_url(raw)} carries a user name or password (allowed: {allowed};"
                    " the token goes in MIST_API_TOKEN)",
                )
                return None
            if not parts.hostname or parts.query:
                self.fail(name, f"={redact_url(raw)} is not a plain base URL (allowed: {allowed})")
                return None
            return raw
        if "://" in raw or not _HOST_RE.match(raw):
            shown = redact_url(raw) if "://" in raw else repr(raw[:80])
            self.fail(name, f"={shown} is not a host name or http(s) URL (allowed: {allowed})")
            return None
        return raw

    def subset(
        self, name: str, allowed: tuple[str, ...], default: tuple[str, ...]
    ) -> tuple[str, ...]:
        """A comma-separated subset of `allowed` ("none" or "-" for none), in allowed order."""
        raw = self.text(name).lower()
        if not raw:
            return default
        if raw in ("none", "-"):
            return ()
        if raw == "all":
            return allowed
        given = {v.strip() for v in raw.split(",") if v.strip()}
        unknown = sorted(given - set(allowed))
        if unknown:
            self.fail(
                name,
                f"={raw!r}: {', '.join(unknown)} not known (allowed: any of"
                f" {', '.join(allowed)}, comma-separated, all, or none)",
            )
            return default
        return tuple(v for v in allowed if v in given)

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        raw = self.text(name).lower()
        if not raw:
            return default
        if raw not in allowed:
            self.fail(name, f"={raw!r} is not one of {', '.join(allowed)}")
            return default
        return raw

    def postgres_url(self, name: str) -> str | None:
        raw = self.text(name)
        if not raw:
            return None
        parts = self.split(name, raw, "postgresql://user[:password]@host[:port]/database")
        if parts is None:
            return None
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
            self.fail(
                name,
                f"={redact_url(raw)} is not a Postgres URL"
                " (allowed: postgresql://user[:password]@host[:port]/database)",
            )
            return None
        return raw

    def queue_name(self, name: str) -> str:
        raw = self.text(name)
        if not raw:
            return "dagster"
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", raw):
            self.fail(name, f"={raw!r} is not a queue name (letters, digits, _ . -; at most 128)")
            return "dagster"
        return raw

    def webhooks(self, name: str) -> tuple[str, ...]:
        urls = tuple(u.strip() for u in self.text(name).split(",") if u.strip())
        for n, url in enumerate(urls, 1):
            try:
                parts = urlsplit(url)
                parts.port  # noqa: B018 - raises on a port that is not a number
            except ValueError:
                self.fail(name, f"=<URL #{n}> is not a valid URL (the URLs are not shown)")
                return ()
            if parts.scheme not in ("http", "https") or not parts.hostname:
                # the URL is a secret (a Slack webhook carries its token): name it by position
                self.fail(name, f"=<URL #{n}> is not an http(s) URL (the URLs are not shown)")
                return ()
        return urls

    def broker_url(self, name: str) -> str | None:
        raw = self.text(name)
        if not raw:
            return None
        parts = self.split(name, raw, "amqp://, pyamqp://, redis://")
        if parts is None:
            return None
        scheme = parts.scheme
        if scheme not in ("amqp", "amqps", "pyamqp", "redis", "rediss"):
            self.fail(
                name,
                f"={redact_url(raw)} is not a broker URL (allowed: amqp://, pyamqp://, redis://)",
            )
            return None
        return raw

    def history_url(self) -> str | None:
        name = "WANPERF_HISTORY_URL"
        raw = self.text(name)
        if not raw:
            return None
        allowed = "a directory, file:///path, or s3://bucket/prefix"
        parts = self.split(name, raw, allowed) if "://" in raw else None
        if "://" in raw and parts is None:
            return None
        scheme = parts.scheme if parts is not None else ""
        raw = raw if raw.endswith("://") else raw.rstrip("/")
        if scheme not in ("", "file", "s3"):
            self.fail(name, f"={redact_url(raw)} has scheme {scheme!r} (allowed: {allowed})")
            return None
        if scheme == "s3" and not urlsplit(raw).netloc:
            self.fail(name, f"={raw!r} names no bucket (allowed: {allowed})")
            return None
        if scheme in ("", "file"):
            local = Path(urlsplit(raw).path if scheme == "file" else raw).resolve()
            problem = _not_a_writable_directory(local)
            if problem:
                self.fail(name, f"={str(local)!r} {problem}")
                return None
        return raw

    def endpoint(self, name: str) -> str | None:
        raw = self.text(name).rstrip("/")
        if not raw:
            return None
        parts = self.split(name, raw, "an http(s) URL, e.g. http://127.0.0.1:9000")
        if parts is None:
            return None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = redact_url(raw) if "://" in raw else repr(raw)
            self.fail(name, f"={shown} is not an http(s) URL (e.g. http://127.0.0.1:9000)")
            return None
        if parts.username or parts.password:
            self.fail(
                name,
                f"={redact_url(raw)} carries a user name or password: it is shown in links and"
                " sent in alerts (credentials go in their own variables)",
            )
            return None
        return raw

    def redis_url(self) -> str | None:
        name = "WANPERF_REDIS_URL"
        raw = self.text(name)
        if not raw:
            return None
        shown = redact_url(raw)
        allowed = (
            "redis://[:password@]host:port/db, rediss:// for TLS, unix:///path.sock, or"
            " redis+cluster://[:password@]host:port for a Redis Cluster"
        )
        try:
            parts = urlsplit(raw)
            port = parts.port
        except ValueError:
            self.fail(name, f"={shown} is not a valid URL (allowed: {allowed})")
            return None
        if parts.scheme not in REDIS_SCHEMES:
            self.fail(name, f"={shown} has scheme {parts.scheme or 'none'!r} (allowed: {allowed})")
            return None
        if parts.scheme == "unix":
            if not parts.path:
                self.fail(name, f"={shown} names no socket path (allowed: {allowed})")
                return None
            return raw
        if not parts.hostname:
            self.fail(name, f"={shown} names no host (allowed: {allowed})")
            return None
        db = parts.path.lstrip("/")
        if db and not db.isdigit():
            self.fail(name, f"={shown}: database {db!r} is not a number (allowed: {allowed})")
            return None
        if parts.scheme.endswith("+cluster") and db not in ("", "0"):
            self.fail(name, f"={shown}: a Redis Cluster has only database 0")
            return None
        if port == 0:
            self.fail(name, f"={shown}: port 0 (allowed: {allowed})")
            return None
        return raw
