"""The settings module: every variable parsed and validated once, one line per bad value naming
the variable and what is allowed, secrets never shown, nothing written on reading."""

import datetime as dt

import pytest

from wanperf_dagster.settings import (
    Settings,
    SettingsError,
    default_start_date,
    pin_start_date,
    redact_url,
)


def test_defaults_are_the_embedded_demo(tmp_path):
    s = Settings.from_env({"WANPERF_DATA_DIR": str(tmp_path)})
    assert s.uses_simulator and s.poll_interval == 600 and s.interval_minutes == 10
    assert s.redis_url is None and s.data_dir == tmp_path.resolve()
    assert (s.backfill_chunk, s.rollup_ttl_days, s.sim_sites, s.sim_seed) == (500, 400, 200, 1)
    assert s.insight_feeds == ("sle", "paths", "events", "devices")
    assert s.hot_days == 35 and s.history_location == str(tmp_path.resolve() / "history")
    assert (s.backfill_wake_seconds, s.automation_interval) == (2.0, 30)
    assert s.dagster_patches == () and not s.patched("event_log")  # stock Dagster
    assert s.partition_metadata_limit == 20
    assert (
        Settings.from_env({"WANPERF_PARTITION_METADATA_LIMIT": "0"}).partition_metadata_limit == 0
    )
    assert Settings.from_env({"WANPERF_DAGSTER_PATCHES": "all"}).dagster_patches == (
        "event_log",
        "partition_metadata",
        "backfill_wake",
        "backfill_check",
    )
    assert s.start_date == default_start_date()
    assert not any(tmp_path.iterdir())  # reading the start date wrote nothing


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("WANPERF_POLL_INTERVAL", "7", "at least 60"),
        ("WANPERF_POLL_INTERVAL", "-600", "at least 60"),
        ("WANPERF_POLL_INTERVAL", "0", "at least 60"),
        ("WANPERF_POLL_INTERVAL", "420", "dividing an hour"),
        ("WANPERF_POLL_INTERVAL", "90", "dividing an hour"),
        ("WANPERF_POLL_INTERVAL", "ten", "not a whole number"),
        ("WANPERF_START_DATE", "garbage", "YYYY-MM-DD"),
        ("WANPERF_START_DATE", "2999-01-01", "in the future"),
        ("WANPERF_BACKFILL_CHUNK", "0", "allowed: 1 to"),
        ("WANPERF_BACKFILL_CHUNK", "many", "not a whole number"),
        ("WANPERF_ROLLUP_TTL_DAYS", "-1", "allowed: 1 to"),
        ("WANPERF_BACKFILL_WAKE_SECONDS", "-1", "allowed: 0 (Dagster's own 30-s loop), or"),
        ("WANPERF_BACKFILL_WAKE_SECONDS", "31", "up to 30"),
        ("WANPERF_BACKFILL_WAKE_SECONDS", "nan", "out of range"),
        ("WANPERF_BACKFILL_WAKE_SECONDS", "soon", "not a number"),
        ("WANPERF_AUTOMATION_INTERVAL", "5", "allowed: 30 to 3600"),
        ("WANPERF_PARTITION_METADATA_LIMIT", "-1", "allowed: 0 to"),
        ("WANPERF_PARTITION_METADATA_LIMIT", "all", "not a whole number"),
        ("WANPERF_HOT_DAYS", "30", "allowed: 31 to 400"),
        ("WANPERF_HISTORY_URL", "ftp://h/x", "scheme 'ftp'"),
        ("WANPERF_HISTORY_URL", "s3://", "names no bucket"),
        ("WANPERF_HISTORY_ENDPOINT", "127.0.0.1:9000", "not an http(s) URL"),
        ("WANPERF_SIM_SITES", "1e9", "not a whole number"),
        ("WANPERF_SIM_SEED", "-5", "allowed: 0 to"),
        ("WANPERF_DEMO_DAYS", "0", "above 0"),
        ("WANPERF_DEMO_DAYS", "lots", "not a number"),
        ("WANPERF_REDIS_URL", "http://h:1/0", "scheme 'http'"),
        ("WANPERF_REDIS_URL", "localhost:6379", "scheme"),
        ("WANPERF_REDIS_URL", "redis://:pw@h:99999/0", "not a valid URL"),
        ("WANPERF_REDIS_URL", "redis://:pw@h:1/zero", "database 'zero'"),
        ("WANPERF_REDIS_URL", "redis:///0", "names no host"),
        ("WANPERF_INSIGHT_FEEDS", "sle,wifi", "wifi not known"),
        ("MIST_HOST", "api eu mist com", "not a host name"),
        ("MIST_HOST", "ftp://api.mist.com", "not a host name"),
        ("MIST_HOST", "https://u:p@api.mist.com", "carries a user name or password"),
        # the fault campaign's cases (#27): each one line, none a traceback, no secret shown
        ("MIST_HOST", "http://admin:pw@127.0.0.1:8765", "carries a user name or password"),
        ("MIST_HOST", "http://[::1", "not a valid URL"),
        ("MIST_HOST", "https://api.mist.com?org=1", "not a plain base URL"),
        ("MIST_HOST", "ftp://u:pw@api.mist.com", "not a host name"),
        ("MIST_API_TOKEN", " , ,", "holds no token"),
        ("MIST_API_TOKEN", "tok-secret-123\nline", "token #1"),
        ("MIST_API_TOKEN", "good-token,tok-secret-123 x", "token #2"),
        ("MIST_ORG_ID", "not-an-id", "not an org id"),
        ("MIST_ORG_ID", "1234", "not an org id"),
        (
            "MIST_ORG_ID",
            "9e3d0c1a-5b7f-4e2a-8c6d-1f0a2b3c4d5e,nope",
            "#2 ('nope') is not an org id",
        ),
        ("MIST_MSP_ID", "msp-1", "not an MSP id"),
        ("WANPERF_SIM_MSP", "1:10,2", "not seed:sites"),
        ("WANPERF_SIM_MSP", "1:10,1:20", "names a seed twice"),
        ("WANPERF_SIM_MSP", "1:0", "not seed:sites"),
        ("WANPERF_DATA_DIR", "/dev/null/sub", "cannot be created"),
        ("WANPERF_DATA_DIR", "/proc/1/nope", "kernel filesystem"),
        ("WANPERF_DATA_DIR", "/etc/hostname", "is not a directory"),
        ("WANPERF_HISTORY_URL", "/proc/1/nope", "kernel filesystem"),
        ("WANPERF_HISTORY_URL", "file:///dev/null/x", "cannot be created"),
        ("WANPERF_HISTORY_URL", "s3://[bad", "not a valid URL"),
        ("WANPERF_DAGSTER_PG_URL", "postgresql://[::1", "not a valid URL"),
        ("WANPERF_DAGSTER_PG_URL", "postgresql://u:pw@h:abc/db", "not a valid URL"),
        ("WANPERF_DAGSTER_PG_URL", "mysql://u@h/db", "not a Postgres URL"),
        ("WANPERF_DAGSTER_PG_URL", "postgresql:///db", "not a Postgres URL"),
        ("WANPERF_CELERY_BROKER", "amqp://u:pw@[bad", "not a valid URL"),
        ("WANPERF_CELERY_BROKER", "http://u:pw@broker", "not a broker URL"),
        ("WANPERF_CELERY_BACKEND", "kafka://broker", "not a broker URL"),
        ("WANPERF_CELERY_QUEUE", "a queue", "not a queue name"),
        ("WANPERF_EXECUTOR", "k8s", "not one of"),
        ("WANPERF_EXECUTOR", "celery", "needs WANPERF_CELERY_BROKER"),
        ("WANPERF_ALERT_WEBHOOKS", "http://[::1", "not a valid URL"),
        ("WANPERF_ALERT_WEBHOOKS", "ftp://hooks.example/pw", "not an http(s) URL"),
        ("WANPERF_ALERT_SLACK_WEBHOOKS", "hooks.slack.com/services/T/B/tok-secret-123", "URL #1"),
        ("WANPERF_ALERT_DOWN_MINUTES", "0", "allowed: 1 to 1440"),
        ("WANPERF_ALERT_DOWN_MINUTES", "ten", "not a whole number"),
        ("WANPERF_ALERT_DOWN_MINUTES", "2000", "allowed: 1 to 1440"),
        ("WANPERF_ALERT_CONGESTED_MINUTES", "-5", "allowed: 1 to 1440"),
        ("WANPERF_ALERT_FLAPS_PER_HOUR", "0", "allowed: 1 to 1000"),
        ("WANPERF_ALERT_QUALITY_MINUTES", "1441", "allowed: 1 to 1440"),
        ("WANPERF_ALERT_LOSS_PCT", "101", "up to 100"),
        ("WANPERF_ALERT_LOSS_PCT", "some", "not a number"),
        ("WANPERF_ALERT_LATENCY_MS", "0", "above 1"),
        ("WANPERF_DASHBOARD_PORT", "0", "allowed: 1 to 65535"),
        ("WANPERF_DASHBOARD_PORT", "70000", "allowed: 1 to 65535"),
        ("WANPERF_DASHBOARD_PORT", "http", "not a whole number"),
        ("WANPERF_DASHBOARD_URL", "http://user:pw@noc.example:8050", "user name or password"),
        ("WANPERF_DASHBOARD_URL", "noc.example", "not an http(s) URL"),
        ("WANPERF_DASHBOARD_URL", "http://[noc", "not a valid URL"),
        ("WANPERF_DAGSTER_URL", "ftp://dagster.example", "not an http(s) URL"),
        ("WANPERF_HISTORY_ENDPOINT", "http://key:pw@minio:9000", "user name or password"),
        ("WANPERF_REDIS_URL", "redis+cluster://h:1/3", "only database 0"),
        ("WANPERF_REDIS_URL", "redis://:pw@h:0", "port 0"),
        ("WANPERF_REDIS_URL", "unix://", "names no socket path"),
        ("WANPERF_POLL_INTERVAL", "600.5", "not a whole number"),
        ("WANPERF_HOT_DAYS", "401", "allowed: 31 to 400"),
        ("WANPERF_ROLLUP_TTL_DAYS", "99999", "allowed: 1 to 3660"),
        ("WANPERF_SIM_SITES", "0", "allowed: 1 to"),
        ("WANPERF_DEMO_DAYS", "32", "up to 31"),
        ("WANPERF_INSIGHT_FEEDS", "everything", "everything not known"),
        ("WANPERF_DAGSTER_PATCHES", "event_log,turbo", "turbo not known"),
        ("WANPERF_START_DATE", "2026-02-30", "YYYY-MM-DD"),
        ("WANPERF_BACKFILL_CHUNK", "100001", "allowed: 1 to 100000"),
        ("WANPERF_AUTOMATION_INTERVAL", "3601", "allowed: 30 to 3600"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(name, value, says):
    env = {name: value}
    if name in ("MIST_HOST", "MIST_MSP_ID"):
        env["MIST_API_TOKEN"] = "tok-secret-123"
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    message = str(err.value)
    assert message.startswith(name) and says in message and "\n" not in message
    assert "pw@" not in message and "tok-secret-123" not in message and ":pw" not in message


CRASHED = [  # what printed a traceback, a password, or ran on silently before (#27)
    {"MIST_API_TOKEN": "tok", "MIST_HOST": "http://admin:pw@127.0.0.1:8765"},
    {"WANPERF_DATA_DIR": "/dev/null/sub"},
    {"WANPERF_DATA_DIR": "/proc/1/nope"},
    {"WANPERF_HISTORY_URL": "/proc/1/nope"},
    {"WANPERF_DAGSTER_PG_URL": "postgresql://u:pw@[::1/db"},
    {"WANPERF_CELERY_BROKER": "amqp://[bad"},
    {"WANPERF_ALERT_WEBHOOKS": "http://[::1"},
    {"MIST_API_TOKEN": " , ,"},
]


@pytest.mark.parametrize("env", CRASHED, ids=lambda e: ",".join(e))
def test_wanperf_says_one_line_and_stops(env, tmp_path):
    """`wanperf status` (which opens Redis, the data directory and the client) and the code
    location's load: exit 2 / a clean error with the variable named, no traceback, no
    password."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    base = {k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "WANPERF_"))}
    base["WANPERF_DATA_DIR"] = str(tmp_path)
    full = {**base, **env}
    wanperf = Path(sys.executable).parent / "wanperf"
    out = subprocess.run(
        [str(wanperf), "status"], env=full, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wanperf: "), out.stderr
    assert next(iter(env)) in lines[0] or "WANPERF_DATA_DIR" in lines[0]
    assert "Traceback" not in out.stderr and "pw" not in out.stderr
    # importing the code location reads no setting; loading it (what `dagster dev` does) fails
    script = "import wanperf_dagster.definitions as d\nprint('imported', flush=True)\nd.defs()"
    load = subprocess.run(
        [sys.executable, "-c", script], env=full, capture_output=True, text=True, timeout=120
    )
    assert load.stdout.strip() == "imported", load.stderr[-2000:]
    assert load.returncode != 0 and "pw@" not in load.stderr and ":pw" not in load.stderr


def test_the_backfill_wake_can_be_turned_off_and_tuned():
    assert Settings.from_env({"WANPERF_BACKFILL_WAKE_SECONDS": "0"}).backfill_wake_seconds == 0
    assert Settings.from_env({"WANPERF_BACKFILL_WAKE_SECONDS": "0.5"}).backfill_wake_seconds == 0.5
    assert Settings.from_env({"WANPERF_AUTOMATION_INTERVAL": "120"}).automation_interval == 120


def test_every_bad_value_is_reported_at_once():
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"WANPERF_POLL_INTERVAL": "7", "WANPERF_SIM_SITES": "x"})
    assert "WANPERF_POLL_INTERVAL" in str(err.value) and "WANPERF_SIM_SITES" in str(err.value)


def test_a_host_without_a_token_is_an_error_not_the_simulator():
    with pytest.raises(SettingsError, match=r"MIST_HOST is set .* but MIST_API_TOKEN is not"):
        Settings.from_env({"MIST_HOST": "api.eu.mist.com"})


def test_accepted_values():
    s = Settings.from_env(
        {
            "MIST_API_TOKEN": " tok-a , tok-b ,",
            "MIST_HOST": "http://127.0.0.1:8765/",
            "MIST_ORG_ID": "9e3d0c1a-5b7f-4e2a-8c6d-1f0a2b3c4d5e",
            "WANPERF_POLL_INTERVAL": "300",
            "WANPERF_REDIS_URL": "rediss://:pw@redis.example:6380/3",
            "WANPERF_START_DATE": "2026-01-31",
            "WANPERF_DEMO_DAYS": "0.5",
            "WANPERF_INSIGHT_FEEDS": "events, sle",
        }
    )
    assert s.insight_feeds == ("sle", "events")
    assert Settings.from_env({"WANPERF_INSIGHT_FEEDS": "none"}).insight_feeds == ()
    assert s.mist_tokens == ("tok-a", "tok-b") and not s.uses_simulator
    assert (
        s.mist_host == "http://127.0.0.1:8765"
        and s.mist_org_id == "9e3d0c1a-5b7f-4e2a-8c6d-1f0a2b3c4d5e"
    )
    assert s.interval_minutes == 5 and s.start_date == "2026-01-31" and s.demo_days == 0.5
    assert s.redis_url == "rediss://:pw@redis.example:6380/3"
    assert "pw" not in repr(s) and "tok-a" not in repr(s)
    for host in ("api.eu.mist.com", "api.mist.com:443"):
        assert Settings.from_env({"MIST_HOST": host, "MIST_API_TOKEN": "t"}).mist_host == host


def test_several_orgs_or_an_msp():
    a, b = "9e3d0c1a-5b7f-4e2a-8c6d-1f0a2b3c4d5e", "0a1e0000-0000-4000-8000-000000000001"
    s = Settings.from_env({"MIST_API_TOKEN": "t", "MIST_ORG_ID": f"{a}, {b},{a}"})
    assert s.mist_org_ids == (a, b) and s.mist_org_id is None  # several: no single org
    s = Settings.from_env({"MIST_API_TOKEN": "t", "MIST_MSP_ID": b})
    assert s.mist_msp_id == b and s.mist_org_ids == () and s.mist_org_id is None
    assert Settings.from_env({"WANPERF_SIM_MSP": "3:1000, 4:20"}).sim_msp == ((3, 1000), (4, 20))
    for env, says in (
        ({"MIST_MSP_ID": b}, "MIST_MSP_ID is set but MIST_API_TOKEN is not"),
        ({"MIST_API_TOKEN": "tok-secret-123", "WANPERF_SIM_MSP": "1:5"}, "so is MIST_API_TOKEN"),
    ):
        with pytest.raises(SettingsError, match=says) as err:
            Settings.from_env(env)
        assert "tok-secret-123" not in str(err.value)


def test_the_start_date_is_pinned_only_when_asked(tmp_path):
    s = Settings.from_env({"WANPERF_DATA_DIR": str(tmp_path)})
    assert not s.start_date_file.exists()
    pinned = pin_start_date(s)
    assert pinned == default_start_date() and s.start_date_file.read_text() == pinned
    s.start_date_file.write_text("2026-01-02")  # later days read what was pinned
    assert s.start_date == "2026-01-02" and pin_start_date(s) == "2026-01-02"
    explicit = Settings.from_env(
        {"WANPERF_DATA_DIR": str(tmp_path), "WANPERF_START_DATE": "2026-03-04"}
    )
    assert explicit.start_date == "2026-03-04"


def test_default_start_date_is_three_days_back():
    assert default_start_date(dt.date(2026, 11, 27)) == "2026-11-24"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("rediss://user:pw@h:1/2", "rediss://user:***@h:1/2"),
        ("redis://127.0.0.1:6379/15", "redis://127.0.0.1:6379/15"),
        ("redis://h/12?password=s3cret", "redis://h/12?password=***"),
        (
            "redis://h/1?socket_timeout=5&password=s3cret&x=1",
            "redis://h/1?socket_timeout=5&password=***&x=1",
        ),
        ("redis://user@h:1/0", "redis://user:***@h:1/0"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url)


def test_the_day_partitions_are_the_hot_window(tmp_path):
    """Unpinned, the day partitions start WANPERF_HOT_DAYS before today, or at the first day of
    history when that is later; WANPERF_START_DATE pins them."""
    today = dt.date(2026, 11, 27)
    s = Settings.from_env({"WANPERF_DATA_DIR": str(tmp_path)})
    s.start_date_file.parent.mkdir(parents=True, exist_ok=True)
    s.start_date_file.write_text("2026-01-10")  # pinned by the first `make run`, long ago
    assert s.start_date == "2026-01-10"
    assert s.window_start(today) == "2026-10-23"  # 35 days back: the window moves
    s.start_date_file.write_text("2026-11-24")  # a recent first run: nothing older exists
    assert s.window_start(today) == "2026-11-24"
    longer = Settings.from_env({"WANPERF_DATA_DIR": str(tmp_path), "WANPERF_HOT_DAYS": "60"})
    longer.start_date_file.write_text("2026-01-10")
    assert longer.window_start(today) == "2026-09-28"
    pinned = Settings.from_env({"WANPERF_START_DATE": "2025-11-01"})
    assert pinned.window_start(today) == "2025-11-01"


def test_each_default_duration_is_the_settings_one():
    """The poll interval, hot window and rollup lifetime have one default, settings.py's: the
    resources, the sweep's and the ingestion's configs and the lifetimes take it from there."""
    from wanperf_dagster.dagster_io.resources import (
        _SAME_AS_SETTINGS,
        RedisResource,
        WanperfSettings,
    )
    from wanperf_dagster.feeds import InsightsConfig
    from wanperf_dagster.mist import SweepConfig
    from wanperf_dagster.storage import Lifetimes

    defaults = Settings.from_env({})
    resource = WanperfSettings()
    for name in _SAME_AS_SETTINGS:  # the alert thresholds and links too
        assert getattr(resource, name) == getattr(defaults, name), name
    assert SweepConfig().interval_seconds == InsightsConfig().interval_seconds == 600
    assert defaults.poll_interval == 600
    redis = RedisResource()
    assert (redis.hot_days, redis.rollup_ttl_days) == (defaults.hot_days, defaults.rollup_ttl_days)
    assert Lifetimes() == Lifetimes.from_settings(defaults)


def test_a_celery_workers_step_process_is_replaced_above_its_memory_bound(monkeypatch):
    """The worker's config module (what `wanperf worker` writes) hands Celery the bound in KiB,
    768 MiB unless set; 0 never replaces it."""
    from wanperf_dagster.cli.worker import CELERY_CONFIG_MODULE
    from wanperf_dagster.settings import get_settings

    monkeypatch.setenv("WANPERF_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
    for value, expected in ((None, 768 * 1024), ("2048", 2048 * 1024), ("0", None)):
        if value is None:
            monkeypatch.delenv("WANPERF_CELERY_WORKER_MAX_MIB", raising=False)
        else:
            monkeypatch.setenv("WANPERF_CELERY_WORKER_MAX_MIB", value)
        get_settings.cache_clear()
        config: dict = {}
        exec(CELERY_CONFIG_MODULE, config)
        assert config["worker_max_memory_per_child"] == expected
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="WANPERF_CELERY_WORKER_MAX_MIB"):
        Settings.from_env({"WANPERF_CELERY_WORKER_MAX_MIB": "-1"})
