"""The user's SLA and maintenance files: read as written, every bad line named at once."""

import pandas as pd
import pytest

from wanperf_dagster.sla import SlaFileError, load_contracts, load_maintenance

CSV = """circuit_id,provider,reference,bandwidth_mbps,availability_pct,credit_pct_per_0_1,credit_cap_pct
aa:ge-0/0/0,Lumen,LX-1001,1000,99.9,5,50
aa:ge-0/0/1,Verizon,,,99.5,,
"""


def test_a_csv_file_is_read_with_its_optional_fields_empty(tmp_path):
    path = tmp_path / "sla.csv"
    path.write_text(CSV)
    contracts = load_contracts(path).set_index("circuit_id")
    lumen = contracts.loc["aa:ge-0/0/0"]
    assert (lumen["provider"], lumen["reference"], lumen["bandwidth_mbps"]) == (
        "Lumen",
        "LX-1001",
        1000,
    )
    assert lumen["availability_pct"] == 99.9 and lumen["credit_cap_pct"] == 50
    verizon = contracts.loc["aa:ge-0/0/1"]
    assert pd.isna(verizon["reference"]) and verizon["credit_pct_per_0_1"] == 0.0


def test_a_yaml_file_holds_the_same(tmp_path):
    path = tmp_path / "sla.yaml"
    path.write_text(
        "- {circuit_id: 'aa:ge-0/0/0', provider: Lumen, availability_pct: 99.9}\n"
        "- {circuit_id: 'bb:lte0', provider: T-Mobile, availability_pct: 99, latency_ms: 80,"
        " loss_pct: 1}\n"
    )
    contracts = load_contracts(path)
    assert list(contracts["provider"]) == ["Lumen", "T-Mobile"]
    assert contracts.loc[1, "latency_ms"] == 80 and contracts.loc[1, "loss_pct"] == 1
    assert pd.isna(contracts.loc[0, "latency_ms"])  # no target: not checked
    path.write_text("- {circuit_id: x, provider: P, availability_pct: 99, loss_pct: 150}\n")
    with pytest.raises(SlaFileError, match="line 1: 150 is not between 0 and 100"):
        load_contracts(path)


def test_every_bad_line_is_named_in_one_error(tmp_path):
    path = tmp_path / "sla.csv"
    path.write_text(
        CSV
        + "aa:ge-0/0/2,,,,99.9,,\n"  # line 4: no provider
        + "aa:ge-0/0/3,Lumen,,,101,,\n"  # line 5: over 100 %
        + "aa:ge-0/0/0,Lumen,,,99,,\n"  # line 6: twice
        + "aa:ge-0/0/4,Lumen,,fast,99,,\n"  # line 7: not a number
    )
    with pytest.raises(SlaFileError) as err:
        load_contracts(path)
    message = str(err.value)
    assert "line 4: provider missing" in message
    assert "line 5: '101' is not between 0 and 100" in message
    assert "line 6: circuit aa:ge-0/0/0 is already on line 2" in message
    assert "line 7: could not convert" in message or "line 7:" in message
    assert "\n" not in message and "line 2" not in message.split("already on line 2")[0]


def test_a_file_that_is_not_there_or_not_yaml_says_so(tmp_path):
    with pytest.raises(SlaFileError, match="cannot be read"):
        load_contracts(tmp_path / "missing.csv")
    bad = tmp_path / "sla.yaml"
    bad.write_text("circuit_id: [unclosed\n")
    with pytest.raises(SlaFileError, match="not YAML"):
        load_contracts(bad)
    bad.write_text("circuit_id: x\n")
    with pytest.raises(SlaFileError, match="a YAML list"):
        load_contracts(bad)


def test_maintenance_windows_need_a_time_zone_and_an_end_after_the_start(tmp_path):
    path = tmp_path / "maintenance.csv"
    path.write_text(
        "circuit_id,start,end,reason\n"
        "aa:ge-0/0/0,2025-11-26T02:00:00Z,2025-11-26T04:00:00Z,fibre splice\n"
        "aa:ge-0/0/0,2025-11-26T02:00:00,2025-11-26T04:00:00Z,\n"
        "aa:ge-0/0/1,2025-11-26T05:00:00Z,2025-11-26T04:00:00Z,\n"
    )
    with pytest.raises(SlaFileError) as err:
        load_maintenance(path)
    assert "line 3: '2025-11-26T02:00:00' has no time zone" in str(err.value)
    assert "line 4: its end is not after its start" in str(err.value)
    path.write_text(
        "circuit_id,start,end,reason\naa:ge-0/0/0,2025-11-26T02:00:00Z,2025-11-26T04:00:00+00:00,splice\n"
    )
    [window] = load_maintenance(path).to_dict("records")
    assert window["end"] - window["start"] == 7200 and window["reason"] == "splice"


def test_a_business_hours_window_is_read_and_a_bad_one_named(tmp_path):
    path = tmp_path / "sla.csv"
    path.write_text(
        "circuit_id,provider,availability_pct,window,timezone\n"
        "aa:ge-0/0/0,Lumen,99.9,Mon-Fri 08:00-18:00,Europe/Paris\n"
        "aa:ge-0/0/1,Lumen,99.9,,\n"
    )
    contracts = load_contracts(path).set_index("circuit_id")
    assert contracts.loc["aa:ge-0/0/0", "window"] == "Mon,Tue,Wed,Thu,Fri 08:00-18:00"
    assert contracts.loc["aa:ge-0/0/0", "timezone"] == "Europe/Paris"
    assert contracts.loc["aa:ge-0/0/1", "window"] == "calendar month"
    path.write_text(
        "circuit_id,provider,availability_pct,window,timezone\n"
        "aa:ge-0/0/0,Lumen,99.9,Mon-Fri 08:00-18:00,Paris\n"
        "aa:ge-0/0/1,Lumen,99.9,nights,UTC\n"
    )
    with pytest.raises(SlaFileError) as err:
        load_contracts(path)
    assert "line 2: timezone 'Paris' is not an IANA time zone" in str(err.value)
    assert "line 3: window 'nights' is not like" in str(err.value)
