"""An incident's life through the outbox (real Redis): told, told again once a repeat interval
with its text as of then while nobody has taken it, acknowledged (by whom, when, a note: the
repeats stop, the recovery is still told), cleared; the next episode of the same key starts
unacknowledged. And `wanperf alerts --ack` from the shell."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from wanperf_dagster import alerts
from wanperf_dagster.settings import Settings
from wanperf_dagster.simulator import build_org
from wanperf_dagster.storage import AssetStore

pytestmark = pytest.mark.storage

T0 = 1_764_115_200
ORG = "org-lifecycle"
DOWN = alerts.Incident("down", "s1", "PARIS-1", "aa:ge-0/0/0", T0, 10.0, "down for 10 min")


class Recorder:
    def __init__(self):
        self.sent: list[tuple[str, str, str]] = []

    def __call__(self, destination, event, incident, at, links, **kw):
        self.sent.append((event, incident.key, incident.detail))


def _run(storage, recorder, at, incidents, org=ORG, **options):
    options = {"repeat_every": 3600} | options
    return alerts.dispatch(
        storage,
        org,
        incidents,
        alerts.destinations(("http://receiver.invalid/hook",), ()),
        at,
        sender=recorder,
        **options,
    )


def test_told_again_each_interval_until_acknowledged_then_recovered(redis_client):
    storage, recorder = AssetStore(redis_client), Recorder()
    # an evaluation every 10 minutes for 3 h 20 min, the text as of each
    for k in range(21):
        at = T0 + 600 * k
        now = replace(DOWN, detail=f"down for {10 + 10 * k} min")
        _run(storage, recorder, at, [now])
        if k == 14:  # at 2 h 20 min a person takes it
            record = alerts.acknowledge(storage, ORG, DOWN.key, "alice", "carrier ticket 123", at)
            assert record["by"] == "alice" and record["note"] == "carrier ticket 123"
    # the alert, then one repeat an hour (never two in an interval), none once acknowledged
    assert recorder.sent == [
        ("alert", DOWN.key, "down for 10 min"),
        ("repeat-1", DOWN.key, "down for 70 min"),
        ("repeat-2", DOWN.key, "down for 130 min"),
    ]
    assert alerts.acknowledgements(storage, ORG)[DOWN.key]["at"] == T0 + 600 * 14
    # cleared: its recovery is told, and the acknowledgement goes with it
    _run(storage, recorder, T0 + 600 * 21, [])
    assert recorder.sent[-1][:2] == ("recovered", DOWN.key)
    assert alerts.acknowledgements(storage, ORG) == {}
    # the same circuit down again later: a new episode, told, not acknowledged, repeated
    again = replace(DOWN, since=T0 + 86400)
    for k in range(8):
        _run(storage, recorder, T0 + 86400 + 600 * k, [again])
    events = [e for e, key, _ in recorder.sent[4:]]
    assert events == ["alert", "repeat-1"]


def test_only_an_open_incident_is_acknowledged_and_by_someone(redis_client):
    storage = AssetStore(redis_client)
    with pytest.raises(alerts.NotOpenError, match="no open incident 'down@zz:none'"):
        alerts.acknowledge(storage, ORG, "down@zz:none", "alice")
    _run(storage, Recorder(), T0, [DOWN])
    with pytest.raises(ValueError, match="needs who"):
        alerts.acknowledge(storage, ORG, DOWN.key, "  ")


def test_wanperf_alerts_ack_from_the_shell(redis_client, redis_url, tmp_path):
    settings = Settings.from_env({})
    org = build_org(seed=settings.sim_seed, n_sites=settings.sim_sites).id
    storage = AssetStore(redis_client)
    _run(storage, Recorder(), T0, [DOWN], org=org)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "WANPERF_"))}
    env.update(WANPERF_REDIS_URL=redis_url, WANPERF_DATA_DIR=str(tmp_path))
    wanperf = str(Path(sys.executable).parent / "wanperf")

    def shell(*args):
        return subprocess.run(
            [wanperf, "alerts", *args], env=env, capture_output=True, text=True, timeout=120
        )

    missing = shell("--ack", DOWN.key)
    assert missing.returncode != 0 and "--ack needs --by NAME" in missing.stderr
    wrong = shell("--ack", "down@zz:none", "--by", "bob")
    assert wrong.returncode != 0 and "no open incident 'down@zz:none'" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    done = shell("--ack", DOWN.key, "--by", "bob", "--note", "on it")
    assert done.returncode == 0, done.stderr
    assert f"acknowledged {DOWN.key} by bob" in done.stdout
    listed = shell()
    assert f"{DOWN.key}  PARIS-1  down for 10 min  [acknowledged by bob" in listed.stdout
    # a silence from the shell: set, listed, ended; refused without an end or with a bad one
    made = shell("--silence", "--site", "s1", "--hours", "2", "--reason", "fibre", "--by", "bob")
    assert made.returncode == 0, made.stderr
    silence_id = made.stdout.split()[1].rstrip(":")
    assert "site s1 until" in made.stdout and "(fibre)" in made.stdout
    assert silence_id in shell("--silences").stdout
    assert "no end" not in made.stdout
    for args, says in [
        (("--silence", "--reason", "x", "--by", "b"), "one of --hours N or --until TIME"),
        (("--silence", "--until", "tomorrow", "--reason", "x", "--by", "b"), "not an ISO time"),
        (("--silence", "--until", "2030-01-01T00:00", "--reason", "x", "--by", "b"), "time zone"),
        (("--silence", "--hours", "1", "--by", "b"), "needs a reason"),
    ]:
        refused = shell(*args)
        assert refused.returncode != 0 and says in refused.stderr, (args, refused.stderr)
    assert shell("--unsilence", silence_id).returncode == 0
    assert silence_id not in shell("--silences").stdout
    gone = shell("--unsilence", silence_id)
    assert gone.returncode != 0 and "no silence" in gone.stderr


def test_a_silence_records_but_does_not_tell_and_never_outlives_itself(redis_client):
    storage, recorder = AssetStore(redis_client), Recorder()
    other = replace(DOWN, site_id="s2", site_name="LYON-2", circuit_id="bb:ge-0/0/0")
    silence = alerts.add_silence(
        storage, ORG, start=T0, end=T0 + 3600, reason="fibre works", by="alice", site_id="s1"
    )
    assert silence.scope == "site s1"
    report = _run(storage, recorder, T0 + 30, [DOWN, other])
    # the silenced site's incident is recorded and not told; the other site's is
    assert [key for _, key, _ in recorder.sent] == [other.key]
    assert report.silenced == {DOWN.key: silence.id}
    stored = storage.alert_state(ORG).open_entries()
    assert stored[DOWN.key]["silenced_by"] == silence.id
    _run(storage, recorder, T0 + 1800, [DOWN, other])
    assert len(recorder.sent) == 1
    # the silence is over and the incident is not: told now
    _run(storage, recorder, T0 + 3600 + 30, [DOWN, other])
    assert [e for e, key, _ in recorder.sent if key == DOWN.key] == ["alert"]
    # one silenced from start to end is never told, so no recovery either
    quiet = replace(DOWN, site_id="s3", circuit_id="cc:ge-0/0/0", since=T0 + 4000)
    alerts.add_silence(
        storage,
        ORG,
        start=T0,
        end=T0 + 7200,
        reason="rebuild",
        by="bob",
        kind="down",
        circuit_id="cc:ge-0/0/0",
    )
    _run(storage, recorder, T0 + 4000, [DOWN, other, quiet])
    _run(storage, recorder, T0 + 4600, [DOWN, other])
    assert not [e for e in recorder.sent if e[1] == quiet.key]
    for bad, says in [
        ({"end": T0}, "after its start"),
        ({"reason": " "}, "needs a reason"),
        ({"kind": "sunspots"}, "no alert kind"),
    ]:
        terms = {"start": T0, "end": T0 + 60, "reason": "r", "by": "a"} | bad
        with pytest.raises(ValueError, match=says):
            alerts.add_silence(storage, ORG, **terms)
    assert [s.id for s in alerts.silences(storage, ORG, at=T0 + 5000)] != []
    assert alerts.remove_silence(storage, ORG, silence.id)
    assert not alerts.remove_silence(storage, ORG, silence.id)


def test_a_condition_flapping_around_its_threshold_is_told_once(redis_client):
    """Open, clear, open again, every other evaluation for two hours: with the recovery held 20
    minutes, one alert and, once it stays clear, one recovery (without: one of each per flap)."""
    for hold, alerts_told in ((1200, 1), (0, 7)):
        storage, recorder = AssetStore(redis_client), Recorder()
        org = f"org-flap-{hold}"
        for k in range(13):
            at = T0 + 600 * k
            incidents = [DOWN] if k % 2 == 0 else []
            first_seen = {i.key: i.since for i in alerts.open_alerts(storage, org)}
            incidents = [replace(i, since=first_seen.get(i.key, at)) for i in incidents]
            _run(storage, recorder, at, incidents, org, repeat_every=0, resolve_after=hold)
        for k in range(13, 17):  # then clear for good
            _run(storage, recorder, T0 + 600 * k, [], org, repeat_every=0, resolve_after=hold)
        events = [e for e, _, _ in recorder.sent]
        assert events.count("alert") == alerts_told, (hold, events)
        assert events.count("recovered") == alerts_told, (hold, events)
        [cleared] = alerts.alert_history(storage, org, 10)[:1]
        assert cleared["cleared_at"] == T0 + 600 * 13  # when it cleared, not when it was told


def test_closing_an_episode_keeps_an_acknowledgement_given_to_a_later_one(redis_client):
    """An evaluation that closes an episode removes its acknowledgement; one a person gave the
    same key's next episode between that evaluation's read and its close stays."""
    state = AssetStore(redis_client).alert_state(ORG)
    state.acknowledge(DOWN.key, {"by": "ann", "at": T0, "note": "", "episode": f"{DOWN.key}#{T0}"})
    later = {"by": "ben", "at": T0 + 900, "note": "", "episode": f"{DOWN.key}#{T0 + 600}"}
    record = {"kind": "down", "since": T0, "cleared_at": T0 + 300}
    state.close([(DOWN.key, record, [])])
    assert DOWN.key not in state.acks()  # its own: gone with it
    state.acknowledge(DOWN.key, later)
    state.close([(DOWN.key, record, [])])  # the old episode closed again (a late evaluation)
    assert state.acks()[DOWN.key]["by"] == "ben"
