"""Acknowledge, silence and end a silence from the dashboard's page and its HTTP API, on a real
Redis: each reaches the alert state the evaluations follow, and a request without its CSRF token,
from another origin or (for the API) not JSON is refused, changes nothing and is counted."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from wanperf_dagster import alerts
from wanperf_dagster.dashboard import build_app
from wanperf_dagster.settings import Settings
from wanperf_dagster.storage import AssetStore

pytestmark = pytest.mark.storage

ORG = "org-actions"
T0 = 1_764_115_200
DOWN = alerts.Incident("down", "s1", "PARIS-1", "aa:ge-0/0/0", T0, 10.0, "down for 10 min")
HOOK = alerts.destinations(("http://receiver.invalid/hook",), ())


class Recorder:
    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def __call__(self, destination, event, incident, at, links, **kw):
        self.sent.append((event, incident.key))


@pytest.fixture
def storage(redis_client):
    storage = AssetStore(redis_client)
    alerts.dispatch(storage, ORG, [DOWN], HOOK, T0, sender=Recorder())  # open, told
    return storage


@pytest.fixture
def client(storage):
    app = build_app(Settings.from_env({}), storage, clock=lambda: T0 + 600, org_id=ORG)
    return TestClient(app, base_url="http://noc.example")


def _token(client) -> str:
    page = client.get("/alerts")
    assert page.status_code == 200
    return client.cookies["wanperf_csrf"]


def test_acknowledged_from_the_page_and_the_evaluation_stops_repeating(client, storage):
    csrf = _token(client)
    done = client.post(
        "/alerts/ack",
        data={"csrf": csrf, "key": DOWN.key, "by": "alice", "note": "ticket 7"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and "acknowledged" in done.headers["location"]
    assert alerts.acknowledgements(storage, ORG)[DOWN.key]["by"] == "alice"
    # the evaluations follow it: no repeat of an acknowledged incident
    recorder = Recorder()
    for k in range(1, 4):
        alerts.dispatch(
            storage, ORG, [DOWN], HOOK, T0 + 3600 * k, sender=recorder, repeat_every=3600
        )
    assert recorder.sent == []
    page = client.get(done.headers["location"]).text
    assert "acknowledged: down@aa:ge-0/0/0 by alice" in page
    # an incident not open: said on the page, nothing stored
    gone = client.post(
        "/alerts/ack",
        data={"csrf": csrf, "key": "down@zz", "by": "bob"},
        follow_redirects=True,
    )
    assert "no open incident" in gone.text and "down@zz" not in alerts.acknowledgements(
        storage, ORG
    )


def test_silenced_and_unsilenced_from_the_page(client, storage):
    csrf = _token(client)
    made = client.post(
        "/alerts/silence",
        data={"csrf": csrf, "site_id": "s1", "hours": "2", "reason": "ISP works", "by": "carol"},
        follow_redirects=True,
    )
    [silence] = alerts.silences(storage, ORG, at=T0 + 600)
    assert (silence.site_id, silence.end - silence.start, silence.by) == ("s1", 7200, "carol")
    assert "silenced: site s1 until" in made.text and silence.id in made.text
    assert 'id="silences"' in made.text and "ISP works" in made.text
    client.post("/alerts/unsilence", data={"csrf": csrf, "id": silence.id})
    assert alerts.silences(storage, ORG) == []
    bad = client.post(
        "/alerts/silence",
        data={"csrf": csrf, "hours": "0", "reason": "x", "by": "y"},
        follow_redirects=True,
    )
    assert "at most 744 hours" in bad.text and alerts.silences(storage, ORG) == []


def test_forged_requests_are_refused_change_nothing_and_are_counted(client, storage, caplog):
    csrf = _token(client)
    attempts = [
        client.post("/alerts/ack", data={"key": DOWN.key, "by": "mallory"}),  # no token
        client.post("/alerts/ack", data={"csrf": "guessed", "key": DOWN.key, "by": "mallory"}),
        client.post(  # the token, but posted from another site's page
            "/alerts/silence",
            data={"csrf": csrf, "reason": "x", "by": "mallory", "hours": "1"},
            headers={"Origin": "http://evil.example"},
        ),
        client.post("/api/alerts/ack", data={"key": DOWN.key, "by": "mallory"}),  # a form
        client.post(
            "/api/silences",
            content='{"reason": "x", "by": "m", "hours": 1}',
            headers={"Content-Type": "text/plain"},  # what a cross-site page can send
        ),
    ]
    with caplog.at_level(logging.WARNING, logger="wanperf_dagster.dashboard"):
        attempts.append(
            client.delete("/api/silences/abc", headers={"Origin": "http://evil.example"})
        )
    assert [r.status_code for r in attempts] == [403] * 6
    assert "no valid CSRF token" in attempts[0].text and "another origin" in attempts[2].text
    assert "application/json" in attempts[3].text
    assert alerts.acknowledgements(storage, ORG) == {} and alerts.silences(storage, ORG) == []
    assert "refused DELETE /api/silences/abc" in caplog.text and "(6 refused)" in caplog.text


def test_the_http_api_acknowledges_silences_and_lists(client, storage):
    listed = client.get("/api/alerts").json()
    assert [i["key"] for i in listed["open"]] == [DOWN.key] and listed["open"][0]["ack"] is None
    ack = client.post("/api/alerts/ack", json={"key": DOWN.key, "by": "dave", "note": "on it"})
    assert ack.status_code == 200 and ack.json()["done"] == f"{DOWN.key} by dave"
    assert client.get("/api/alerts").json()["open"][0]["ack"]["note"] == "on it"
    assert client.post("/api/alerts/ack", json={"key": "down@zz", "by": "d"}).status_code == 404
    assert client.post("/api/alerts/ack", json={"key": DOWN.key}).status_code == 400  # nobody
    made = client.post(
        "/api/silences", json={"kind": "down", "hours": 1.5, "reason": "planned", "by": "erin"}
    )
    assert made.status_code == 200
    [silence] = client.get("/api/silences").json()["silences"]
    assert (silence["kind"], silence["end"] - silence["start"]) == ("down", 5400)
    bad = client.post("/api/silences", json={"kind": "dwn", "hours": 1, "reason": "r", "by": "b"})
    assert bad.status_code == 400 and "unknown rule 'dwn'" in bad.json()["error"]
    assert client.delete(f"/api/silences/{silence['id']}").json() == {"ended": silence["id"]}
    assert client.delete(f"/api/silences/{silence['id']}").status_code == 404
    assert client.get("/api/silences").json()["silences"] == []


def test_the_page_filters_what_people_took_and_what_is_silenced_as_of_now(client, storage):
    """The evaluation's `wan_alerts` knows of neither: the page shows both as they are now."""
    import pyarrow as pa

    from wanperf_dagster.defs.status.assets import incidents_frame

    hot = alerts.Incident("congested", "s2", "LYON-2", "bb:ge-0/0/1", T0, 45.0, "hot 45 min")
    calm = alerts.Incident("loss", "s3", "NICE-3", "cc:ge-0/0/2", T0, 2.0, "loss 2 %")
    frame = incidents_frame([DOWN, hot, calm], [])
    storage.save("wan_alerts", {None: pa.Table.from_pandas(frame, preserve_index=False)}, 3600)
    alerts.acknowledge(storage, ORG, DOWN.key, "ann", "", T0 + 60)
    client.post("/api/silences", json={"site_id": "s2", "hours": 1, "reason": "r", "by": "b"})
    taken = client.get("/alerts", params={"status": "acknowledged"}).text
    table = taken.split('id="open"')[1].split("</table>")[0]
    assert "aa:ge-0/0/0" in table and "bb:ge-0/0/1" not in table and "cc:ge-0/0/2" not in table
    assert "Open, acknowledged" in taken
    quiet = client.get("/alerts", params={"status": "silenced"}).text
    table = quiet.split('id="open"')[1].split("</table>")[0]
    assert "bb:ge-0/0/1" in table and "aa:ge-0/0/0" not in table and "cc:ge-0/0/2" not in table
    every = client.get("/alerts").text.split('id="open"')[1].split("</table>")[0]
    assert all(c in every for c in ("aa:ge-0/0/0", "bb:ge-0/0/1", "cc:ge-0/0/2"))
    assert every.count("not acknowledged") == 1  # only the one nobody took nor silenced
