"""The client and the sweep against a hostile server: foreign `next` URLs, pagination loops and
runaways, huge and slow bodies, deep JSON, HTML, 429 storms in every `Retry-After` form, resets,
a rejected token. Nothing leaks the token, nothing loops, every failure is one clear error."""

from __future__ import annotations

import email.utils
import time

import pytest

from wanperf_dagster.mist import (
    MistAuthError,
    MistClient,
    MistError,
    MistRateLimited,
    MistRequestError,
    SweepConfig,
    SweepRunawayError,
    run_sweep,
)
from wanperf_dagster.store import samples as sample_store
from wanperf_dagster.store import sessions

from .conftest import SCALE
from .hostile import ORG, SITE, Answer, HostileServer, page, port_record

pytestmark = [pytest.mark.integration, pytest.mark.storage]

TOKEN = "tok-hostile-Secret-123"
NOW = 1_764_115_200 + 3 * 3600 + 5  # 2025-11-26 03:00:05 UTC
SEARCH = f"/api/v1/orgs/{ORG}/stats/ports/search"


@pytest.fixture
def servers():
    made: list[HostileServer] = []

    def make(respond) -> HostileServer:
        server = HostileServer(respond)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def client_for(server: HostileServer, slept: list | None = None, **kw) -> MistClient:
    kw.setdefault("retries", 2)
    kw.setdefault("backoff_factor", 0.01)
    kw.setdefault("read_timeout", 5)
    return MistClient(
        [TOKEN],
        server.url,
        ORG,
        clock=lambda: NOW,
        sleep=(slept.append if slept is not None else lambda s: None),
        **kw,
    )


def stored_samples(redis_client) -> int:
    day = sample_store.day_of(NOW)
    return len(sample_store.read_site_days(redis_client, [(day, SITE)]))


@pytest.mark.parametrize(
    "elsewhere",
    ["http://127.0.0.1:{other}", "https://127.0.0.1:{port}", "//127.0.0.1:{other}"],
    ids=["other-port", "other-scheme", "scheme-relative"],
)
def test_the_token_never_follows_next_to_another_origin(servers, redis_client, figures, elsewhere):
    other = servers(lambda *a: Answer(body=page([port_record(99)])))
    port = None

    def respond(path, query, headers, n):
        target = elsewhere.format(other=other.url.rsplit(":", 1)[1], port=port)
        return Answer(body=page([port_record(k) for k in range(3)], f"{target}{SEARCH}?p=2"))

    server = servers(respond)
    port = server.url.rsplit(":", 1)[1]
    with pytest.raises(MistRequestError, match="another origin") as err:
        run_sweep(client_for(server), redis_client, SweepConfig())
    assert TOKEN not in str(err.value)
    assert other.requests == [] and not other.saw_token()
    assert server.calls() == 1 and stored_samples(redis_client) == 3  # page 1 kept
    figures.update(calls=server.calls(), foreign_calls=len(other.requests), samples=3)


def test_a_next_pointing_back_at_a_page_is_a_loop(servers, redis_client, figures):
    server = servers(
        lambda path, q, h, n: Answer(body=page([port_record(1)], f"{SEARCH}?search_after=same"))
    )
    with pytest.raises(MistRequestError, match="pagination loop"):
        run_sweep(client_for(server), redis_client, SweepConfig())
    assert server.calls() == 2  # the first page, the cursor once; never the hour's budget
    figures.update(calls=server.calls())


def test_a_runaway_of_new_pages_stops_at_the_orgs_size(servers, redis_client, figures):
    """Every page has a new cursor, but the org has 5 ports: at most ceil(5 * 1.1 / 1000) + 2."""
    server = servers(
        lambda path, q, h, n: Answer(
            body=page([port_record(n)], f"{SEARCH}?search_after={n}", total=5)
        )
    )
    with pytest.raises(SweepRunawayError, match="more than 3 pages"):
        run_sweep(client_for(server), redis_client, SweepConfig())
    assert server.calls() == 4
    # resuming the saved cursor does not loop on: the cap lives in the session
    with pytest.raises(SweepRunawayError):
        run_sweep(client_for(server), redis_client, SweepConfig())
    figures.update(calls=server.calls())


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_huge_page_is_refused_not_read(servers, redis_client, figures, declared):
    mib = b"x" * 2**20
    body = mib * 3 if declared else iter([mib] * 3)
    server = servers(lambda *a: Answer(body=body))
    client = client_for(server, max_body_bytes=2**20)
    with pytest.raises(MistRequestError, match="1,048,576"):
        run_sweep(client, redis_client, SweepConfig())
    figures.update(calls=server.calls())


@pytest.mark.parametrize(
    "body",
    [b"[" * 200_000, b"<html><body>Service maintenance</body></html>", b'{"results": [{'],
    ids=["deep-json", "html-200", "truncated"],
)
def test_bodies_that_are_not_json_are_retried_then_one_error(servers, redis_client, figures, body):
    server = servers(lambda *a: Answer(body=body))
    with pytest.raises(MistRequestError, match="malformed JSON body 3 time") as err:
        run_sweep(client_for(server, retries=2), redis_client, SweepConfig())
    assert "Traceback" not in str(err.value) and "Recursion" not in str(err.value)
    assert server.calls() == 3
    figures.update(calls=server.calls())


def _http_date(seconds_ahead: float) -> str:
    return email.utils.formatdate(NOW + seconds_ahead, usegmt=True)


@pytest.mark.parametrize(
    ("retry_after", "at_least"),
    [(None, 1.0), ("0", 1.0), ("3", 3.0), (_http_date(30), 30.0), ("soon", 1.0)],
    ids=["absent", "zero", "seconds", "http-date", "garbage"],
)
def test_429_in_every_retry_after_form_waits_then_completes(
    servers, redis_client, figures, retry_after, at_least
):
    throttled = 3

    def respond(path, q, h, n):
        if n <= throttled:
            headers = {} if retry_after is None else {"Retry-After": retry_after}
            return Answer(status=429, body=b'{"detail": "Too Many Request"}', headers=headers)
        return Answer(body=page([port_record(k) for k in range(4)]))

    server = servers(respond)
    slept: list[float] = []
    session = run_sweep(client_for(server, slept), redis_client, SweepConfig())
    assert session.status == "finished" and session.samples == 4
    assert len(slept) == throttled and all(s >= at_least for s in slept)
    assert slept == sorted(slept) or retry_after  # the back-off grows when nothing is asked
    figures.update(calls=server.calls(), waited_s=round(sum(slept), 1))


def test_a_429_storm_ends_in_one_clear_error_within_the_cap(servers, redis_client, figures):
    server = servers(lambda *a: Answer(status=429, body=b"{}", headers={"Retry-After": "0"}))
    slept: list[float] = []
    client = client_for(server, slept, max_retry_after=60.0 * SCALE)
    with pytest.raises(MistRateLimited, match="kept answering 429"):
        run_sweep(client, redis_client, SweepConfig())
    assert sum(slept) <= 60.0 * SCALE and server.calls() <= 12 + SCALE
    assert sessions.current(redis_client, ORG).status == "interrupted"  # resumable later
    figures.update(calls=server.calls(), waited_s=round(sum(slept), 1))


def test_a_retry_after_beyond_the_cap_is_refused_at_once(servers, redis_client, figures):
    server = servers(lambda *a: Answer(status=429, body=b"{}", headers={"Retry-After": "86400"}))
    slept: list[float] = []
    with pytest.raises(MistRateLimited, match="asked for 86400 s"):
        run_sweep(client_for(server, slept), redis_client, SweepConfig())
    assert slept == [] and server.calls() == 1
    figures.update(calls=server.calls())


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_token_is_not_retried(servers, redis_client, figures, status):
    server = servers(lambda *a: Answer(status=status, body=b'{"detail": "Invalid token."}'))
    with pytest.raises(MistError) as err:
        run_sweep(client_for(server, retries=4), redis_client, SweepConfig())
    assert server.calls() == 1 and TOKEN not in str(err.value)
    if status == 401:
        assert isinstance(err.value, MistAuthError)
    figures.update(calls=server.calls())


def test_a_server_trickling_bytes_is_cut_at_the_deadline(servers, redis_client, figures):
    server = servers(lambda *a: Answer(body=iter([b" "] * 100), drip_seconds=0.3))
    t0 = time.monotonic()
    with pytest.raises(MistRequestError, match="took more than 1 s"):
        run_sweep(client_for(server, request_deadline=1.0, retries=0), redis_client, SweepConfig())
    elapsed = time.monotonic() - t0
    assert elapsed < 5
    figures.update(calls=server.calls(), elapsed_s=round(elapsed, 1))


def test_reset_connections_are_retried_then_one_error(servers, redis_client, figures):
    server = servers(lambda *a: Answer(reset=True))
    with pytest.raises(MistRequestError, match="failed after 3 attempts") as err:
        run_sweep(client_for(server, retries=2), redis_client, SweepConfig())
    assert "Traceback" not in str(err.value)
    assert server.calls() == 3
    figures.update(calls=server.calls())
