"""The soak's list of defects names everything it found wrong, not only what grows: a week whose
report said `defects: none` above two circuit-days off the truth and a lost alert (2026-12-05)."""

from bench.soak import _defects, _incident_key

CLEAN_TRUTH = {
    "beyond_tolerance": [],
    "site_days_missing": 0,
    "circuits_missing": 0,
    "circuits_made_up": 0,
}
CLEAN_ALERTS = {"lost": [], "repeated": 0}
LEVEL = {"daemon MiB": {"second_half_per_day": 1.5}}


def test_a_clean_week_has_no_defects():
    assert _defects(LEVEL, CLEAN_TRUTH, CLEAN_ALERTS) == []


def test_truth_alerts_and_growth_are_each_a_defect():
    truth = {
        **CLEAN_TRUTH,
        "beyond_tolerance": [{"day": "2026-11-28", "circuit_id": "s1:ge-0/0/0"}],
        "circuits_missing": 2,
    }
    alerts = {"lost": ["gateway_offline@s2"], "repeated": 3}
    growth = {"daemon MiB": {"second_half_per_day": 30.0}, "redis MiB": {"second_half_per_day": 99}}
    found = _defects(growth, truth, alerts)
    assert found == [
        "daemon MiB grows 30.0 a day over the second half",
        "circuit-day beyond the truth's tolerance: 2026-11-28 s1:ge-0/0/0",
        "circuits missing: 2",
        "notification lost: gateway_offline@s2",
        "notifications received twice: 3",
    ]


def test_circuit_days_beyond_the_listed_twenty_are_counted():
    listed = [{"day": "2026-11-28", "circuit_id": f"s{i}:ge-0/0/0"} for i in range(20)]
    truth = {**CLEAN_TRUTH, "beyond_tolerance": listed, "beyond_tolerance_count": 57}
    found = _defects(LEVEL, truth, CLEAN_ALERTS)
    assert len(found) == 21 and found[-1] == "and 37 more circuit-days beyond the truth's tolerance"


def test_a_circuit_listed_on_another_clock_is_a_defect():
    """The daemon's own sweep, on this machine's clock, wrote into the simulated week once: the
    register then hid a gateway dark at the start (2026-12-05)."""
    truth = {**CLEAN_TRUTH, "circuits_listed_after_the_end": 4}
    assert _defects(LEVEL, truth, CLEAN_ALERTS) == ["circuits listed after the end: 4"]


def test_a_lost_notification_is_found_in_the_alert_history_by_its_key():
    """The history keeps an incident's fields, not its key: the evidence of a lost one finds
    its records by the key they make."""
    gateway = {"kind": "gateway_offline", "site_id": "s1", "gateway": "5c5b351c18d7"}
    circuit = {"kind": "down", "site_id": "s1", "gateway": None, "circuit_id": "m:ge-0/0/1"}
    assert _incident_key(gateway) == "gateway_offline@5c5b351c18d7"
    assert _incident_key(circuit) == "down@m:ge-0/0/1"
