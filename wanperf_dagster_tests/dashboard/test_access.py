"""Who sees what on the dashboard, over two orgs' day in a real Redis: a viewer of org A signs in
and sees A's sites, circuits, numbers, alerts and SLA rows, never B's (another org's site page is
403, not 404); an admin sees both and the MSP's rows. Every refusal (wrong password, expired or
forged session, a header not from the proxy, a form without its CSRF token, a viewer acting) is
refused, changes nothing and is counted in the log without the password."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from wanperf_dagster import alerts
from wanperf_dagster.dashboard import build_app
from wanperf_dagster.dashboard.access import (
    AccessError,
    Gate,
    Sessions,
    Users,
    hash_password,
    loopback,
)
from wanperf_dagster.settings import Settings

from .conftest import DAY0, MSP_PASSWORD

pytestmark = pytest.mark.storage

NOW = DAY0 + 86400 + 600


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def gate(users_file, clock):
    return Gate(
        Users.load(users_file),
        Sessions(b"s" * 48, 12),
        proxy_header="X-Forwarded-User",
        trusted_proxies=("10.9.0.0/16",),
        clock=clock,
    )


def app_client(msp_day, gate, clock, client_host="203.0.113.7"):
    app = build_app(Settings.from_env({}), msp_day.assets, clock=clock, gate=gate)
    return TestClient(app, base_url="http://noc.example", client=(client_host, 50000))


def sign_in(client, user: str, password: str = MSP_PASSWORD):
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post(
        "/login",
        data={"csrf": csrf, "user": user, "password": password, "next": "/"},
        follow_redirects=False,
    )


def names(msp_day, org: str) -> list[str]:
    return list(msp_day.sites[msp_day.sites["org_name"] == f"Org {org}"]["name"])


def circuits(msp_day, org: str) -> list[str]:
    org_id = msp_day.worlds[org].org.id
    ids = set(msp_day.sites[msp_day.sites["org_id"] == org_id]["site_id"])
    return list(
        msp_day.daily[msp_day.daily["site_id"].astype(str).isin(ids)]["circuit_id"].astype(str)
    )


def test_a_viewer_sees_only_their_org(msp_day, gate, clock):
    client = app_client(msp_day, gate, clock)
    first = client.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/login")
    assert client.get("/api/alerts").status_code == 401
    done = sign_in(client, "anna")
    assert done.status_code == 303
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    a, b = msp_day.worlds["A"].org.id, msp_day.worlds["B"].org.id
    pages = {
        "/": client.get("/").text,
        "/alerts": client.get("/alerts").text,
        "/search?q=-": client.get("/search", params={"q": "-"}).text,
        "/search?region=R0": client.get("/search", params={"region": "R0", "q": ""}).text,
        "/sla?month=2025-11": client.get("/sla", params={"month": "2025-11"}).text,
        "/sla.csv": client.get("/sla.csv", params={"month": "2025-11"}).text,
        "/sla/print": client.get("/sla/print", params={"month": "2025-11"}).text,
        "/api/alerts": client.get("/api/alerts").text,
        "/api/silences": client.get("/api/silences").text,
    }
    for site in msp_day.sites[msp_day.sites["org_id"] == a]["site_id"]:
        page = client.get(f"/site/{site}")
        assert page.status_code == 200
        pages[f"/site/{site}"] = page.text
    for url, text in pages.items():
        assert "anna" in text or url.startswith(("/api", "/sla.csv", "/sla/print")), url
        for other in [*names(msp_day, "B"), *circuits(msp_day, "B"), b, "Org B", "B down"]:
            assert other not in text, (url, other)
    seen = " ".join(pages.values())
    assert all(n in pages["/search?q=-"] for n in names(msp_day, "A"))  # and A's, every one
    assert msp_day.incidents["A"].circuit_id in pages["/alerts"]
    assert msp_day.incidents["A"].key in pages["/api/alerts"]
    org_of = dict(zip(msp_day.sites["site_id"], msp_day.sites["org_id"], strict=True))
    a_rows = msp_day.report[msp_day.report["site_id"].astype(str).map(org_of) == a]
    assert len(pages["/sla.csv"].strip().splitlines()) == 1 + len(a_rows) > 2  # all of A's
    assert "Acknowledge" not in pages["/alerts"] and 'id="read-only"' in pages["/alerts"]
    assert "Open: no sign-in" not in seen
    # another org's site by its address: refused, and nothing of it on the page
    for site in msp_day.sites[msp_day.sites["org_id"] == b]["site_id"]:
        page = client.get(f"/site/{site}")
        assert page.status_code == 403
        assert not any(n in page.text for n in names(msp_day, "B"))
    assert client.get("/site/no-such-site").status_code == 404
    # the SLA page of B's circuit: not in A's report
    b_circuit = msp_day.report[msp_day.report["site_id"].astype(str).map(org_of) == b]
    b_circuit = b_circuit["circuit_id"].iloc[0]
    assert (
        client.get("/sla/circuit", params={"month": "2025-11", "circuit": b_circuit}).status_code
        == 404
    )


def test_an_admin_sees_every_org_and_the_msp(msp_day, gate, clock):
    client = app_client(msp_day, gate, clock)
    assert sign_in(client, "root").status_code == 303
    text = client.get("/").text + client.get("/search", params={"q": "-"}).text
    assert all(n in text for n in names(msp_day, "A") + names(msp_day, "B"))
    body = client.get("/api/alerts").json()
    assert {i["org"] for i in body["open"]} == {w.org.id for w in msp_day.worlds.values()}
    assert "every org" in client.get("/").text


def test_refusals_are_refused_and_counted_without_the_password(msp_day, gate, clock, caplog):
    caplog.set_level(logging.WARNING, logger="wanperf_dagster.dashboard")
    client = app_client(msp_day, gate, clock)
    wrong = sign_in(client, "anna", "not the password at all")
    assert wrong.status_code == 401 and "wanperf_session" not in wrong.headers.get("set-cookie", "")
    assert sign_in(client, "nobody").status_code == 401  # an unknown user: the same answer
    # a sign-in form without its CSRF token
    assert client.post("/login", data={"user": "anna", "password": MSP_PASSWORD}).status_code == 403
    # a forged session cookie
    forged = app_client(msp_day, gate, clock)
    forged.cookies.set("wanperf_session", "eyJ1Ijoicm9vdCJ9.deadbeef")
    assert forged.get("/", follow_redirects=False).status_code == 303
    # the proxy's header from an address that is not the proxy's
    assert client.get("/", headers={"X-Forwarded-User": "root"}).status_code == 403
    # a viewer acting: refused, nothing changes
    assert sign_in(client, "anna").status_code == 303
    csrf = client.cookies["wanperf_csrf"]
    a = msp_day.worlds["A"].org.id
    down = msp_day.incidents["A"]
    act = client.post("/alerts/ack", data={"csrf": csrf, "org": a, "key": down.key, "by": "anna"})
    assert act.status_code == 403 and alerts.acknowledgements(msp_day.assets, a) == {}
    # a session past its hours: back to the login page
    clock.t += 13 * 3600
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/login")
    counts = gate.refused
    assert counts["login"] == 2 and counts["csrf"] == 1 and counts["forged-header"] == 1
    assert counts["session"] == 2  # the forged cookie, then the expired one
    logged = caplog.text
    assert "access refused" in logged and MSP_PASSWORD not in logged
    assert "not the password at all" not in logged


def test_the_proxy_header_from_the_proxy_and_an_admin_acting(msp_day, gate, clock):
    proxy = app_client(msp_day, gate, clock, client_host="10.9.3.4")
    b = msp_day.worlds["B"].org.id
    as_bert = {"X-Forwarded-User": "bert"}
    page = proxy.get("/", headers=as_bert)
    assert page.status_code == 200 and "bert" in page.text
    assert names(msp_day, "B")[0] in proxy.get("/search", params={"q": "-"}, headers=as_bert).text
    assert not any(n in page.text for n in names(msp_day, "A"))
    assert proxy.get("/", headers={"X-Forwarded-User": "mallory"}).status_code == 403
    # bert has no password: the login page does not let him in
    assert sign_in(app_client(msp_day, gate, clock), "bert").status_code == 401
    # an admin acknowledges B's alert, naming the org
    root = app_client(msp_day, gate, clock)
    assert sign_in(root, "root").status_code == 303
    csrf = root.cookies["wanperf_csrf"]
    down = msp_day.incidents["B"]
    done = root.post(
        "/alerts/ack",
        data={"csrf": csrf, "org": b, "key": down.key, "by": "root"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and "acknowledged" in done.headers["location"]
    assert alerts.acknowledgements(msp_day.assets, b)[down.key]["by"] == "root"
    # with two orgs, an action that names none is asked which
    asked = root.post("/api/alerts/ack", json={"key": down.key, "by": "root"})
    assert asked.status_code == 400 and "name the org" in asked.json()["error"]
    # signing out ends the session
    out = root.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert root.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_a_changed_password_ends_its_sessions(msp_day, gate, clock, users_file):
    client = app_client(msp_day, gate, clock)
    assert sign_in(client, "anna").status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 200
    users = Users.load(users_file)
    old = users.users["anna"]
    users.users["anna"] = type(old)(old.name, old.role, old.orgs, hash_password("a new passphrase"))
    users.save(users_file)
    gate._loaded = None  # the file's time may not have moved within the test's second
    assert client.get("/", follow_redirects=False).status_code == 303


def test_open_access_says_so_on_every_page(msp_day, clock):
    client = TestClient(
        build_app(Settings.from_env({}), msp_day.assets, clock=clock, gate=Gate(None))
    )
    for url in ("/", "/alerts", "/search?q=-"):
        assert "Open: no sign-in is configured" in client.get(url).text


def test_the_users_file_is_checked(tmp_path):
    path = tmp_path / "users.toml"
    for text, says in (
        ('[users.x]\nrole = "boss"\n', "role 'boss'"),
        ('[users.x]\nrole = "viewer"\n', "names the orgs"),
        ('[users.x]\nrole = "admin"\npassword = "hunter2-plain"\n', "not an argon2 hash"),
        ("[users.x\n", "cannot be read"),
    ):
        path.write_text(text)
        with pytest.raises(AccessError, match=re.escape(says)) as err:
            Users.load(path)
        assert "hunter2" not in str(err.value)
    with pytest.raises(AccessError, match="at least 10"):
        hash_password("short")
    assert loopback("127.0.0.1") and loopback("::1") and loopback("localhost")
    assert not loopback("0.0.0.0") and not loopback("10.0.0.1")


def test_the_cli_keeps_users_and_refuses_an_open_dashboard_off_loopback(tmp_path):
    wanperf = str(Path(sys.executable).parent / "wanperf")
    path = tmp_path / "users.toml"
    env = {"PATH": "/usr/bin:/bin", "WANPERF_DASHBOARD_USERS": str(path), "HOME": str(tmp_path)}
    added = subprocess.run(
        [wanperf, "users", "add", "ops", "--role", "viewer", "--org", "o-1", "--password-stdin"],
        input="a long enough password",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    assert "a long enough password" not in path.read_text()
    assert Users.load(path).check("ops", "a long enough password").orgs == {"o-1"}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    listed = subprocess.run([wanperf, "users", "list"], capture_output=True, text=True, env=env)
    assert "ops\tviewer\to-1\tpassword" in listed.stdout
    env.pop("WANPERF_DASHBOARD_USERS")
    refused = subprocess.run(
        [wanperf, "dashboard", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env={**env, "WANPERF_DATA_DIR": str(tmp_path)},
        timeout=60,
    )
    assert (
        refused.returncode != 0 and "refusing to serve the dashboard on 0.0.0.0" in refused.stderr
    )


def test_a_bad_session_goes_back_to_the_login_page_whatever_its_words(
    msp_day, gate, clock, monkeypatch
):
    """What the guard does with a refusal follows its kind, never its wording: a session refused
    for a reason that does not say "session" is still a session to drop, not a forgery."""
    monkeypatch.setattr(
        gate.sessions, "read", lambda cookie, now: (None, "a cookie from before the key rotated")
    )
    client = app_client(msp_day, gate, clock)
    client.cookies.set("wanperf_session", "anything.at-all")
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert gate.refused["session"] == 1
    assert client.get("/api/alerts").status_code == 401
