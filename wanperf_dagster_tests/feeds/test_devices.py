"""The devices feed as pure functions: a gateway's status record read (or refused), and its day
from the samples: connected, disconnected and unknown minutes, offline periods, restarts."""

import pandas as pd
import pytest

from wanperf_dagster.feeds.devices.fetch import gateway_status, status_sample
from wanperf_dagster.feeds.devices.kpis import GATEWAY_DAY_COLUMNS, gateway_days

D0 = 1_764_115_200  # 2025-11-26 00:00 UTC
MAC = "5c5b35000001"


def _samples(statuses, uptimes=None, start_slot=0, mac=MAC):
    n = len(statuses)
    uptimes = uptimes or [None] * n
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(
                [D0 + (start_slot + k) * 600 for k in range(n)], unit="s", utc=True
            ),
            "site_id": "site-1",
            "mac": mac,
            "status": statuses,
            "uptime": uptimes,
            "last_seen": None,
        }
    )


def test_a_whole_day_read_has_no_unknown_and_counts_its_offline_periods():
    statuses = ["connected"] * 144
    statuses[10:13] = ["disconnected"] * 3  # 30 minutes dark
    statuses[50] = "disconnected"  # a 10-minute blip: a second period
    [row] = gateway_days(_samples(statuses), 10).to_dict("records")
    assert row["samples"] == 144 and row["unknown_minutes"] == 0
    assert row["disconnected_minutes"] == 40 and row["connected_minutes"] == 1400
    assert row["offline_periods"] == 2 and row["longest_offline_minutes"] == 30
    assert row["availability_pct"] == pytest.approx(1400 / 1440 * 100)
    assert row["last_status"] == "connected"


def test_slots_nobody_read_are_unknown_never_connected():
    # the first 72 slots read, the rest of the day silent (the collector was down)
    [row] = gateway_days(_samples(["connected"] * 72), 10).to_dict("records")
    assert row["connected_minutes"] == 720 and row["unknown_minutes"] == 720
    assert row["availability_pct"] == 100.0  # of the time read; the unknown half stays unknown
    # today at 06:00, after 36 slots read: nothing unknown yet
    [today] = gateway_days(_samples(["connected"] * 36), 10, now=D0 + 6 * 3600).to_dict("records")
    assert today["unknown_minutes"] == 0


def test_a_restart_is_the_uptime_going_back_between_connected_slots():
    uptimes = [1000.0 + 600 * k for k in range(6)] + [None, 300.0, 900.0, 1500.0]
    statuses = ["connected"] * 6 + ["disconnected"] + ["connected"] * 3
    [row] = gateway_days(_samples(statuses, uptimes), 10).to_dict("records")
    assert row["reboots"] == 1 and row["offline_periods"] == 1
    # the same day without the restart: the uptime only grows
    steady = [1000.0 + 600 * k for k in range(10)]
    [calm] = gateway_days(_samples(["connected"] * 10, steady), 10).to_dict("records")
    assert calm["reboots"] == 0


def test_a_slot_read_twice_counts_once():
    once = _samples(["connected"] * 3 + ["disconnected"])
    [row] = gateway_days(pd.concat([once, once.iloc[[3]]]), 10).to_dict("records")
    assert row["samples"] == 4 and row["disconnected_minutes"] == 10


def test_gateways_and_days_are_kept_apart():
    two = pd.concat(
        [
            _samples(["connected"] * 2),
            _samples(["disconnected"] * 2, mac="5c5b35000002"),
            _samples(["connected"], start_slot=144),  # the next day
        ]
    )
    out = gateway_days(two, 10)
    assert len(out) == 3
    assert list(out.columns) == GATEWAY_DAY_COLUMNS
    assert (
        out.set_index(["mac", "day"]).loc[("5c5b35000002", out["day"].min()), "offline_periods"]
        == 1
    )


def test_no_samples_is_an_empty_frame_with_every_column():
    out = gateway_days(_samples([]), 10)
    assert out.empty and list(out.columns) == GATEWAY_DAY_COLUMNS


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ("not a dict", "not an object"),
        ({"mac": "5C:5B", "site_id": "s", "status": "connected"}, "malformed mac"),
        ({"mac": MAC, "status": "connected"}, "missing"),
        ({"mac": MAC, "site_id": "s", "status": "rebooting"}, "neither connected"),
    ],
)
def test_a_status_record_the_server_got_wrong_is_refused(record, why):
    rows, ports, reason = gateway_status(record, D0)
    assert why in reason and rows == [] and ports == []


def test_a_disconnected_gateway_says_since_when_and_its_old_uptime_is_not_trusted():
    rec = {
        "mac": MAC,
        "site_id": "s",
        "status": "disconnected",
        "last_seen": D0 - 1800,
        "uptime": 99999,
        "if_stat": {"ge-0/0/0.0": {"port_id": "ge-0/0/0", "port_usage": "wan"}},
    }
    rows, ports, reason = gateway_status(rec, D0)
    assert reason == "" and ports == ["ge-0/0/0"]
    assert [r["type"] for r in rows] == ["GW_STATUS", "GW_LAST_SEEN"]
    assert rows[1]["ts"] == D0 - 1800
    sample = status_sample(rec, D0)
    assert sample["status"] == "disconnected" and sample["uptime"] is None
    # a last_seen in the future or over a week old is not believed
    rows, _, _ = gateway_status({**rec, "last_seen": D0 + 60}, D0)
    assert [r["type"] for r in rows] == ["GW_STATUS"]
    assert status_sample({**rec, "status": "connected", "uptime": -5}, D0)["uptime"] is None


def test_a_gateway_its_site_had_but_nobody_read_is_a_row_of_unknown():
    day = pd.Timestamp(D0, unit="s").date()
    expected = pd.DataFrame(
        {"day": [day, day], "site_id": ["site-1", "site-1"], "mac": [MAC, "5c5b35000009"]}
    )
    out = gateway_days(_samples(["connected"] * 144), 10, expected=expected).set_index("mac")
    assert len(out) == 2 and out.loc[MAC, "unknown_minutes"] == 0
    dark = out.loc["5c5b35000009"]
    assert dark["samples"] == 0 and dark["unknown_minutes"] == 1440
    assert dark["connected_minutes"] == 0 and pd.isna(dark["availability_pct"])
    assert dark["last_status"] is None
    # and with no samples at all
    [alone] = gateway_days(_samples([]), 10, expected=expected.iloc[[1]]).to_dict("records")
    assert alone["unknown_minutes"] == 1440 and alone["offline_periods"] == 0
