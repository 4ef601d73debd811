"""Alert delivery under faults: evaluations killed with SIGKILL mid-send and run again at once, a
receiver that hangs and one that trickles beside a healthy one, and hostile names in Slack.

Every message is recorded as its receiver takes it (the outbox, `alerts.state`): a killed
evaluation's next one sends only what is left, within a second of the kill (the dead run's lock
lapses in seconds), and a message a kill left in flight is sent again with the same idempotency
key, so a receiver that dedupes on it sees each message once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from harness.receivers import Receiver
from wanperf_dagster import alerts
from wanperf_dagster.kpi import KpiConfig
from wanperf_dagster.mist.records import Sample
from wanperf_dagster.storage import AssetStore
from wanperf_dagster.store import samples as sample_store
from wanperf_dagster.store.bulk import touch_sites

from .conftest import SCALE

pytestmark = [pytest.mark.storage, pytest.mark.integration]

PROJECT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT / "wanperf_dagster_tests" / "alerts" / "scripts" / "evaluate.py"
ORG = "0a1e0000-0000-4000-8000-00000000a1e7"
T0 = 1_764_115_200 + 10 * 3600  # 2025-11-26 10:00 UTC


def _store(r, sites: list[str], t: int, up: bool) -> None:
    """One sample of each site's single circuit at slot t (up or down), as the sweep stores it."""
    pipe = r.pipeline(transaction=False)
    batch = []
    for k, site in enumerate(sites):
        mac = f"5c5b35{k:06x}"
        values = [
            float(t),
            mac,
            "ge-0/0/0",
            up,
            100,
            1_000_000 if up else 0,
            500_000 if up else 0,
            10_000 * t,
            5_000 * t,
            100,
            50,
            0,
            0,
            2.0,
            20.0,
            0.0,
            1_700_000_000.0,
        ]
        batch.append(Sample(site, f"{mac}:ge-0/0/0", values))
    sample_store.queue_samples(pipe, t, batch, 86400)
    touch_sites(pipe, ORG, {s: float(t) for s in sites})
    pipe.execute()


def _sites(n: int) -> list[str]:
    return [str(uuid.UUID(int=0xA1E7_0000 + k, version=4)) for k in range(n)]


def _evaluate(env: dict, now: int, sites: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(now), ORG, *sites],
        env=env,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_evaluations_send_each_message_once(redis_url, redis_client, figures):
    """15 incidents x 2 receivers (one message at a time each, 0.3 s to answer), alerts then
    recoveries; each evaluation killed with SIGKILL at a random point once its sending is under
    way, then run again at once, ten times a phase; then run to the end."""
    sites = _sites(15)
    hooks = [Receiver(pause=0.3), Receiver(pause=0.3)]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "WANPERF_ALERT"))},
        "WANPERF_REDIS_URL": redis_url,
        "WANPERF_ALERT_WEBHOOKS": ",".join(h.url for h in hooks),
        "WANPERF_TEST_DISPATCH_OPTIONS": json.dumps({"lock_ttl": 1.0, "workers": 2}),
    }
    rng = random.Random(27)
    kills, runs, waits = 0, 0, []

    def received() -> int:
        return sum(len(h.received) for h in hooks)

    try:
        for up in (False, True):  # the alerts, then the recoveries
            for k in range(3):
                _store(redis_client, sites, T0 + (k - 2) * 600 + (1800 if up else 0), up)
            now = T0 + (1800 if up else 0) + 30
            phase_kills = 0
            while True:
                before, started = received(), time.monotonic()
                proc = _evaluate(env, now, sites)
                runs += 1
                if phase_kills < 10 * SCALE:
                    # once its sending is under way, anywhere in it
                    while received() == before and proc.poll() is None:
                        time.sleep(0.01)
                    time.sleep(rng.uniform(0.0, 0.5))
                    if proc.poll() is None:
                        os.kill(proc.pid, signal.SIGKILL)
                        proc.wait()
                        kills += 1
                        phase_kills += 1
                        continue
                out, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, err[-3000:]
                waits.append(time.monotonic() - started)
                report = json.loads(out.strip().splitlines()[-1])
                if report["pending"] == 0:
                    break
        expected = {
            (f"down@{f'5c5b35{k:06x}'}:ge-0/0/0", event)
            for k in range(len(sites))
            for event in ("alert", "recovered")
        }
        for hook in hooks:
            got = [(r["body"]["key"], r["body"]["event"]) for r in hook.received]
            by_key: dict[str, set] = {}
            for r in hook.received:
                by_key.setdefault(r["key"], set()).add((r["body"]["key"], r["body"]["event"]))
            # none lost, and a receiver that dedupes on the key sees each message once
            assert set(got) == expected
            assert len(by_key) == len(expected) and all(len(v) == 1 for v in by_key.values())
            assert all(r["key"] == r["body"]["idempotency_key"] for r in hook.received)
            # only what a kill left in flight was sent again (one a destination per kill)
            again = len(got) - len(expected)
            assert again <= kills, again
        figures.update(
            kills=kills,
            evaluations=runs,
            messages=2 * len(expected),
            sent_again=received() - 2 * len(expected),
            slowest_completed_run_s=round(max(waits), 1),
        )
        # a run after a kill starts within a second or two: the dead run's lock lapses at once
        assert max(waits) < 30
        assert kills == 20 * SCALE
    finally:
        for hook in hooks:
            hook.close()


def test_a_hanging_and_a_trickling_receiver_cost_their_deadline_not_the_healthy_one(
    redis_client, figures
):
    """Beside a receiver that never answers and one that answers a byte every 2 s, the healthy
    one gets each of 11 messages once, within its deadline; the evaluation ends within its own;
    the next evaluation sends the healthy one nothing again."""
    sites = _sites(11)
    hanging, trickling, healthy = Receiver("hanging"), Receiver("trickling"), Receiver()
    destinations = alerts.destinations((hanging.url, trickling.url, healthy.url), ())
    try:
        for k in range(3):
            _store(redis_client, sites, T0 + (k - 2) * 600, False)
        samples = sample_store.read_site_days(
            redis_client, [(sample_store.day_of(T0), s) for s in sites]
        )
        incidents = alerts.open_incidents(
            samples, 10, alerts.AlertRules(), KpiConfig(), now=T0 + 30
        )
        assert len(incidents) == 11
        started = time.monotonic()
        report = alerts.dispatch(
            AssetStore(redis_client),
            ORG,
            incidents,
            destinations,
            T0 + 30,
            send_deadline=3.0,
            run_deadline=12.0,
            workers=4,
            sleep=lambda s: None,
        )
        took = time.monotonic() - started
        assert took < 12.0 + 3.0 + 1.0, took  # the run's deadline, and one send's at most
        assert sorted(r["body"]["key"] for r in healthy.received) == sorted(
            i.key for i in incidents
        )
        first = min(r["at"] for r in healthy.received)
        assert max(r["at"] for r in healthy.received) - first < 3.0  # none waited on the others
        assert report.sent == 11 and not report.lock_lost
        assert any("no answer within 3 s" in e for e in report.errors)
        # the next evaluation: nothing again for the healthy one
        again = alerts.dispatch(
            AssetStore(redis_client),
            ORG,
            incidents,
            destinations,
            T0 + 630,
            send_deadline=3.0,
            run_deadline=12.0,
            workers=4,
            sleep=lambda s: None,
        )
        assert len(healthy.received) == 11 and again.sent == 0
        figures.update(
            evaluation_s=round(took, 1),
            healthy_received=len(healthy.received),
            hanging_received=len(hanging.received),
            trickling_received=len(trickling.received),
        )
    finally:
        for hook in (hanging, trickling, healthy):
            hook.close()


HOSTILE = [
    "<!channel> store",
    "<!here>",
    "<https://evil.example/ack|Click to ack>",
    "R&D <b>bold</b>",
    "*urgent* _now_ ~struck~ `code`",
    "<@U024BE7LH>",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_slack_text_from_the_source_is_inert(name):
    incident = alerts.Incident("down", "s1", name, f"aa:{name}"[:30], T0, 10.0, f"down ({name})")
    for event in ("alert", "recovered"):
        text = alerts.slack_message(event, incident, T0, {"dashboard": "http://noc/site/s1"})[
            "text"
        ]
        body, links = text.split("\n", 1)
        # no control sequence of Slack's survives: no <!...>, no <@...>, no <url|label> of theirs
        assert "<!" not in body and "<@" not in body and "<http" not in body
        # a URL from the source shows as text, never as a link with a label of its choosing
        assert links == "<http://noc/site/s1|dashboard>"
        for raw in ("<", ">"):
            assert raw not in body.replace(":red_circle:", "").replace(":large_green_circle:", "")


def _until_sent(env: dict, now: int, sites: list[str]) -> None:
    """Evaluations at `now`, each to its end, until nothing is left to send."""
    for _ in range(20):
        proc = _evaluate(env, now, sites)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        if json.loads(out.strip().splitlines()[-1])["pending"] == 0:
            return
    raise AssertionError("still messages left after 20 evaluations")


def test_acks_and_silences_made_while_evaluations_are_killed_are_kept_and_followed(
    redis_url, redis_client, figures
):
    """12 incidents; while evaluations are killed mid-send and run again (8 kills), a person
    acknowledges 4 of them and silences 4 sites. Nothing they did is lost, and the evaluation an
    hour later (the repeat interval) follows all of it: a repeat for each incident neither
    acknowledged nor silenced, none for the others, and still no message twice to a receiver
    that dedupes."""
    sites = _sites(12)
    keys = [f"down@5c5b35{k:06x}:ge-0/0/0" for k in range(len(sites))]
    hook = Receiver(pause=0.2)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "WANPERF_ALERT"))},
        "WANPERF_REDIS_URL": redis_url,
        "WANPERF_ALERT_WEBHOOKS": hook.url,
        "WANPERF_TEST_DISPATCH_OPTIONS": json.dumps(
            {"lock_ttl": 1.0, "workers": 1, "repeat_every": 3600}
        ),
    }
    storage = AssetStore(redis_client)
    acked, silenced = keys[:4], sites[4:8]
    done: list[str] = []
    stop = threading.Event()

    def person() -> None:  # what the dashboard or the CLI does, meanwhile
        rng = random.Random(5)
        todo = [("ack", k) for k in acked] + [("silence", s) for s in silenced]
        rng.shuffle(todo)
        while todo and not stop.is_set():
            what, target = todo[0]
            try:
                if what == "ack":
                    alerts.acknowledge(storage, ORG, target, "ann", "on it", T0 + 60)
                else:
                    alerts.add_silence(
                        storage,
                        ORG,
                        start=T0,
                        end=T0 + 6 * 3600,
                        reason="works",
                        by="bo",
                        site_id=target,
                    )
                done.append(f"{what}:{target}")
                todo.pop(0)
            except alerts.NotOpenError:  # not recorded open yet: the first evaluation does it
                pass
            time.sleep(rng.uniform(0.02, 0.2))

    rng = random.Random(31)
    kills = 0
    helper = threading.Thread(target=person, daemon=True)
    try:
        for k in range(3):
            _store(redis_client, sites, T0 + (k - 2) * 600, False)
        helper.start()
        while kills < 8 * SCALE or helper.is_alive():
            before = len(hook.received)
            proc = _evaluate(env, T0 + 30, sites)
            while len(hook.received) == before and proc.poll() is None:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.4))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                kills += 1
            else:
                proc.communicate(timeout=60)
            assert kills < 60, "the person's changes did not land"
        helper.join(timeout=10)
        _until_sent(env, T0 + 30, sites)  # what the last kill left
        assert sorted(done) == sorted(
            [f"ack:{k}" for k in acked] + [f"silence:{s}" for s in silenced]
        )
        # an hour on: evaluated to the end
        for k in range(3):
            _store(redis_client, sites, T0 + 3600 + (k - 2) * 600, False)
        _until_sent(env, T0 + 3600 + 30, sites)
    finally:
        stop.set()
        hook.close()
    # nothing the person did was lost
    assert set(alerts.acknowledgements(storage, ORG)) == set(acked)
    assert {s.site_id for s in alerts.silences(storage, ORG)} == set(silenced)
    told: dict[str, set[str]] = {}
    per_key: dict[str, int] = {}
    for r in hook.received:
        told.setdefault(r["body"]["key"], set()).add(r["body"]["event"])
        per_key[r["key"]] = per_key.get(r["key"], 0) + 1
    free = [key for k, key in enumerate(keys) if key not in acked and sites[k] not in silenced]
    for key in free:
        assert told[key] == {"alert", "repeat-1"}, key
    for key in acked:
        assert "repeat-1" not in told.get(key, set()), key
    for k in range(4, 8):
        assert "repeat-1" not in told.get(keys[k], set()), keys[k]
    # again only what a kill left in flight: at most one a kill
    assert sum(per_key.values()) - len(per_key) <= kills
    figures.update(kills_with_people=kills, messages_with_people=len(per_key))
