"""The SLA report's inputs: a bad contract file fails the run with every bad line named, and no
file at all reports every circuit without a contract."""

import dagster as dg
import pytest

from wanperf_dagster.dagster_io.resources import WanperfSettings
from wanperf_dagster.defs.reports.assets import _terms


def test_a_bad_sla_file_fails_the_run_naming_its_lines(tmp_path):
    bad = tmp_path / "sla.csv"
    bad.write_text("circuit_id,provider,availability_pct\nx:ge-0/0/0,,99\ny:ge-0/0/0,Lumen,1e9\n")
    with pytest.raises(dg.Failure) as err:
        _terms(WanperfSettings(sla_file=str(bad)))
    assert "line 2: provider missing" in err.value.description
    assert "line 3: '1e9' is not between 0 and 100" in err.value.description


def test_no_file_means_no_contract_and_no_window():
    contracts, maintenance = _terms(WanperfSettings())
    assert contracts.empty and maintenance.empty
    assert "circuit_id" in contracts.columns and "start" in maintenance.columns
