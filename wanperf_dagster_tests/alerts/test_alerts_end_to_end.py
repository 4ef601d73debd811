"""Alerts against the simulator with incidents injected (a circuit taken down, a congestion burst,
a flapping port), swept every 10 minutes over real HTTP, each evaluation in a process of its own
(a restart between every alert and its recovery), three real webhook receivers: generic JSON,
Slack's format refusing its first message, and one that always answers 500.

Exactly one alert and one recovery per incident where the message was taken, its first instant
within one interval of the injection; the refused Slack message retried; the broken receiver's
messages tried, then in the dead-letter list that `wanperf alerts --dead-letters` prints; no
webhook URL anywhere in what was sent or printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from wanperf_dagster.mist import SweepConfig, run_sweep
from wanperf_dagster.settings import get_settings
from wanperf_dagster.storage import AssetStore
from wanperf_dagster_tests.mist.conftest import TOKEN, make_client

pytestmark = [pytest.mark.storage, pytest.mark.integration]

INTERVAL_S = 600
PROJECT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "scripts" / "evaluate.py"


class Receiver:
    """A webhook on a loopback port that records what it is sent (and can fail on demand)."""

    def __init__(self, fail_next: int = 0, always_fail: bool = False):
        self.bodies: list[dict] = []
        self.requests = 0
        self.fail_next = fail_next
        self.always_fail = always_fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests += 1
                if receiver.always_fail or receiver.fail_next > 0:
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


@pytest.fixture
def receivers():
    made = {
        "json": Receiver(),
        "slack": Receiver(fail_next=1),
        "broken": Receiver(always_fail=True),
    }
    yield made
    for r in made.values():
        r.close()


def _three_circuits(sim):
    """One WAN circuit at each of three sites that have a single WAN circuit (no failover)."""
    wan = sim.org.wan_port_indices()
    by_site: dict[int, list[int]] = {}
    for port in wan.tolist():
        by_site.setdefault(int(sim.org.arrays["site"][port]), []).append(port)
    single = [ports[0] for ports in by_site.values() if len(ports) == 1][:3]
    assert len(single) == 3
    return [(sim.org.circuit_id(p), sim.org.sites[sim.org.arrays["site"][p]]) for p in single]


def _events(receiver: Receiver, key: str) -> list[str]:
    circuit = key.split("@", 1)[1]
    out = []
    for body in receiver.bodies:
        if body.get("key") == key:
            out.append(body["event"])
        elif "text" in body and circuit in body["text"] and key.split("@")[0] in _slack_kind(body):
            out.append("recovered" if body["text"].startswith(":large_green") else "alert")
    return out


def _slack_kind(body: dict) -> str:
    titles = {
        "circuit down": "down",
        "circuit congested": "congested",
        "circuit flapping": "flapping",
    }
    return next((kind for title, kind in titles.items() if title in body["text"]), "")


def test_injected_incidents_alert_once_and_recover_once(
    sim, redis_client, redis_url, receivers, tmp_path
):
    (down_c, down_site), (busy_c, busy_site), (flap_c, flap_site) = _three_circuits(sim)
    t0 = (int(sim.clock.now()) // INTERVAL_S + 1) * INTERVAL_S
    sim.inject(down_c, "down", t0 + 1800, t0 + 4200)  # 40 minutes down
    sim.inject(busy_c, "congest", t0 + 1200, t0 + 4800)  # an hour at 96 %
    sim.inject(flap_c, "flap", t0 + 600, t0 + 4200)  # bounces every 5 minutes for an hour
    sites = [down_site, busy_site, flap_site]
    inventory = pd.DataFrame(
        {"site_id": [s.id for s in sites], "name": [s.name for s in sites], "region": ["EU"] * 3}
    )
    AssetStore.from_settings(get_settings(), client=redis_client).save(
        "mist_sites", {None: pa.Table.from_pandas(inventory)}, None
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "WANPERF_ALERT"))},
        "WANPERF_REDIS_URL": redis_url,
        "WANPERF_ALERT_WEBHOOKS": f"{receivers['json'].url},{receivers['broken'].url}",
        "WANPERF_ALERT_SLACK_WEBHOOKS": receivers["slack"].url,
    }
    client = make_client(sim)
    reports = []
    for slot in range(t0, t0 + 8400 + 1, INTERVAL_S):  # until an hour after the flapping ends
        sim.clock.set(slot + 30)
        run_sweep(client, redis_client, SweepConfig())
        out = subprocess.run(
            [sys.executable, str(SCRIPT), str(slot + 30), sim.org.id, *(s.id for s in sites)],
            env=env,
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        reports.append((slot, json.loads(out.stdout.strip().splitlines()[-1])))

    keys = {
        "down": f"down@{down_c}",
        "congested": f"congested@{busy_c}",
        "flapping": f"flapping@{flap_c}",
    }
    injected = {"down": t0 + 1800, "congested": t0 + 1200, "flapping": t0 + 600}
    for kind, key in keys.items():
        # exactly one alert and one recovery to each receiver that takes messages
        assert _events(receivers["json"], key) == ["alert", "recovered"], (kind, reports)
        assert _events(receivers["slack"], key) == ["alert", "recovered"], kind
        alert = next(b for b in receivers["json"].bodies if b["key"] == key)
        if kind != "flapping":  # a flapping incident is dated from the start of its hour
            assert 0 <= alert["since"] - injected[kind] < INTERVAL_S, kind
        opened_at = next(slot for slot, r in reports if key in r["opened"])
        cleared_at = next(slot for slot, r in reports if key in r["recovered"])
        assert opened_at < cleared_at
    # the rules' minutes, a sample standing for its 10-minute slot: down opens at the first
    # down sample (10 minutes), congestion at the third busy one (30 minutes)
    down_open = next(s for s, r in reports if keys["down"] in r["opened"])
    assert 0 <= down_open - injected["down"] < INTERVAL_S
    # the alert said how long then, the recovery how long it lasted: four down samples
    said = [b["detail"] for b in receivers["json"].bodies if b["key"] == keys["down"]]
    assert said == ["down for 10 min", "down for 40 min"]
    busy_open = next(s for s, r in reports if keys["congested"] in r["opened"])
    assert 2 * INTERVAL_S <= busy_open - injected["congested"] < 3 * INTERVAL_S

    # every receiver that took messages saw alert and recovery alternate for every key
    for name in ("json",):
        by_key: dict[str, list[str]] = {}
        for body in receivers[name].bodies:
            by_key.setdefault(body["key"], []).append(body["event"])
        for key, events in by_key.items():
            assert events[::2] == ["alert"] * len(events[::2]), key
            assert events[1::2] == ["recovered"] * len(events[1::2]), key

    # Slack refused one message: it was retried at once, so nothing was undelivered for it
    assert receivers["slack"].requests == len(receivers["slack"].bodies) + 1
    # the broken receiver: each message tried 3 times in each of 3 evaluations, then dead-lettered
    assert all(e.startswith("webhook #2: HTTP 500") for _, r in reports for e in r["errors"])
    dead = sum(r["dead_lettered"] for _, r in reports)
    assert dead >= 6  # at least the alert and the recovery of each injected incident
    assert receivers["broken"].requests == dead * 3 * 3

    cli = subprocess.run(
        [str(Path(sys.executable).parent / "wanperf"), "alerts", "--dead-letters", "-n", "1000"],
        env={**env, "MIST_API_TOKEN": TOKEN, "MIST_HOST": sim.url},
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert f"{dead} dead letter(s)" in cli.stdout
    assert cli.stdout.count("(webhook #2: HTTP 500, 9 tries)") == dead
    for key in keys.values():
        assert key.split("@", 1)[1] in cli.stdout
    history = subprocess.run(
        [str(Path(sys.executable).parent / "wanperf"), "alerts", "--history"],
        env={**env, "MIST_API_TOKEN": TOKEN, "MIST_HOST": sim.url},
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    for key in keys.values():
        assert key.split("@", 1)[1] in history.stdout
    # no webhook URL in anything sent or printed
    sent = json.dumps([r.bodies for r in receivers.values()])
    assert "SECRET-PATH" not in sent + cli.stdout + cli.stderr + history.stdout
