"""Alerts against the simulator's ground truth over real HTTP: sweeps every 10 minutes across a
circuit's outage, the rules and the dispatcher after each, two real webhook receivers (generic
JSON and Slack's format). One alert per incident and destination, its first instant within one
interval of the truth, one recovery when it clears, nothing sent twice after a restart (a new
connection, as a new process has), and a receiver that fails is retried for what it missed."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from wanperf_dagster import alerts
from wanperf_dagster.kpi import KpiConfig
from wanperf_dagster.mist import SweepConfig, run_sweep
from wanperf_dagster.store import connect
from wanperf_dagster.store import samples as sample_store
from wanperf_dagster_tests.mist.conftest import make_client

pytestmark = [pytest.mark.storage, pytest.mark.integration]

INTERVAL_S = 600
ORG = "org-alerts-test"


class Receiver:
    """A webhook on a loopback port that records what it is sent (and can fail on demand)."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(500)
                else:
                    receiver.bodies.append(body)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook/SECRET-PATH"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def _outage(sim):
    """The longest outage (15+ minutes) in the simulated day that starts after 02:00 and ends
    before 20:00: its circuit, first down minute and first minute up again (epoch s)."""
    day0 = int(sim.clock.now() // 86400 * 86400)
    truth = sim.truth(start=day0, minutes=1440)
    best = None
    for circuit, rows in truth.groupby("circuit_id", sort=True):
        down = rows["up"].eq(False).to_numpy()
        ts = (rows["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s")
        ts = ts.to_numpy()
        edges = np.flatnonzero(np.diff(np.r_[0, down.astype(int), 0]))
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            inside = ts[start] > day0 + 7200 and ts[end - 1] < day0 + 72000
            if inside and (best is None or end - start > best[0]):
                best = (end - start, circuit, int(ts[start]), int(ts[end - 1]) + 60)
    assert best and best[0] >= 15, "no outage of 15+ minutes in the simulated day"
    return best[1:]


@pytest.fixture
def receivers():
    made = [Receiver(), Receiver()]
    yield made
    for r in made:
        r.close()


def test_one_alert_and_one_recovery_per_incident(sim, redis_client, redis_url, receivers):
    circuit, start, end = _outage(sim)
    site = next(s for s in sim.org.sites if circuit in {c for c in _circuits(sim, s.id)})
    config = KpiConfig(site_names={s.id: s.name for s in sim.org.sites})
    generic, slack = receivers
    dests = alerts.destinations((generic.url,), (slack.url,))
    client = make_client(sim)
    rules = alerts.AlertRules(down_minutes=10)
    slot0 = (start // INTERVAL_S - 3) * INTERVAL_S
    slots = list(range(slot0, (end // INTERVAL_S + 4) * INTERVAL_S, INTERVAL_S))
    first_alert_at = None
    errors = []
    slack.fail_next = 1  # Slack refuses the first message it is sent
    for n, slot in enumerate(slots):
        sim.clock.set(slot + 30)
        run_sweep(client, redis_client, SweepConfig())
        now = int(sim.clock.now())
        day = sample_store.day_of(now)
        frame = sample_store.read_site_days(redis_client, [(day, site.id)])
        incidents = alerts.open_incidents(frame, INTERVAL_S // 60, rules, config, now=now)
        if n == len(slots) // 2:
            redis_client = connect(redis_url)  # a restart: only Redis remembers
        report = alerts.dispatch(redis_client, ORG, incidents, dests, at=now)
        errors += report.errors
        if any(i.key == f"down@{circuit}" for i in report.opened) and first_alert_at is None:
            first_alert_at = now
    assert errors == ["slack #1: HTTP 500"]  # named by position, never by URL

    def events(receiver, key):
        return [
            b
            for b in receiver.bodies
            if (b.get("key") == key) or (key.split("@", 1)[1] in b.get("text", ""))
        ]

    key = f"down@{circuit}"
    alerts_sent = [b for b in generic.bodies if b["key"] == key]
    assert [b["event"] for b in alerts_sent] == ["alert", "recovered"], generic.bodies
    alert = alerts_sent[0]
    assert alert["site_name"] == site.name and alert["kind"] == "down"
    # its first instant is the first sample that saw it down: within one interval of the truth
    assert 0 <= alert["since"] - start < INTERVAL_S
    assert alerts_sent[1]["at"] - end < INTERVAL_S + 60
    assert first_alert_at is not None and first_alert_at - start <= 2 * INTERVAL_S
    # Slack got the same pair, in its own format, despite its one failure
    slack_lines = [b["text"] for b in events(slack, key)]
    assert len(slack_lines) == 2, slack.bodies
    assert slack_lines[0].startswith(":red_circle: *circuit down*") and site.name in slack_lines[0]
    assert slack_lines[1].startswith(":large_green_circle: *recovered: circuit down*")
    # nothing was ever sent twice to one receiver, and nothing is left open for this circuit
    for receiver in receivers:
        seen = [json.dumps(b, sort_keys=True) for b in receiver.bodies]
        assert len(seen) == len(set(seen))
    assert key not in {i.key for i in alerts.open_alerts(redis_client, ORG)}
    # no webhook URL in what was sent
    assert all("SECRET-PATH" not in json.dumps(b) for r in receivers for b in r.bodies)


def _circuits(sim, site_id):
    truth = sim.truth(site_id=site_id, minutes=1)
    return set(truth["circuit_id"])
