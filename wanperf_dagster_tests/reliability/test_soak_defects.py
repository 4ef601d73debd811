"""The soak's list of defects names everything it found wrong, not only what grows: a week whose
report said `defects: none` above two circuit-days off the truth and a lost alert (2026-12-05)."""

from bench.soak import _defects, _incident_key, settled_rss_mib

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


def test_the_driver_counts_by_its_settled_memory_not_a_reading_inside_a_slot():
    """A reading taken from the backfill's thread lands inside whatever slot the main thread
    runs, and swung 403 to 454 MiB in a week (2026-12-05): the settled reading is what counts."""
    swinging = {"driver MiB": {"second_half_per_day": 8.06}}
    assert _defects({**LEVEL, **swinging}, CLEAN_TRUTH, CLEAN_ALERTS) == []
    growing = {"driver settled MiB": {"second_half_per_day": 9.5}}
    assert _defects({**LEVEL, **growing}, CLEAN_TRUTH, CLEAN_ALERTS) == [
        "driver settled MiB grows 9.5 a day over the second half"
    ]


def test_the_settled_reading_leaves_out_what_only_a_reference_cycle_still_holds():
    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other, a.payload = b, a, bytearray(200 * 1024 * 1024)
    a.payload[::4096] = b"x" * len(a.payload[::4096])  # touched: resident, not only reserved
    holding = settled_rss_mib()
    del a, b  # unreachable now, but freed only by a collection
    assert settled_rss_mib() < holding - 150
