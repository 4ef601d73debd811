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
    assert s.insight_feeds == ("sle", "paths", "events")
    assert s.hot_days == 35 and s.history_location == str(tmp_path.resolve() / "history")
    assert (s.backfill_wake_seconds, s.automation_interval) == (2.0, 30)
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
        ("MIST_HOST", "https://u:p@api.mist.com", "not a plain base URL"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(name, value, says):
    env = {name: value}
    if name == "MIST_HOST":
        env["MIST_API_TOKEN"] = "tok-secret-123"
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    message = str(err.value)
    assert message.startswith(name) and says in message and "\n" not in message
    assert "pw@" not in message and "tok-secret-123" not in message


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
            "MIST_ORG_ID": "org-1",
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
    assert s.mist_host == "http://127.0.0.1:8765" and s.mist_org_id == "org-1"
    assert s.interval_minutes == 5 and s.start_date == "2026-01-31" and s.demo_days == 0.5
    assert s.redis_url == "rediss://:pw@redis.example:6380/3"
    assert "pw" not in repr(s) and "tok-a" not in repr(s)
    for host in ("api.eu.mist.com", "api.mist.com:443"):
        assert Settings.from_env({"MIST_HOST": host, "MIST_API_TOKEN": "t"}).mist_host == host


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
