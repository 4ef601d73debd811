"""The Mist API client: requests with pooling, bounded transport retries, a per-token call budget.

- Transport failures (5xx, timeouts, resets) are retried by urllib3's `Retry` with exponential
  backoff and jitter; every attempt is charged to the token's budget.
- HTTP 429: wait with bounded exponential back-off, at least what `Retry-After` asks (seconds or
  an HTTP date), then try again; the whole wait is capped, and a server asking for more is an
  error saying so. 401 and 403 are never retried.
- Nothing the server sends is trusted: a URL (a `next`) is only followed on the configured origin
  (scheme, host, port), so the token never leaves it; a body is read up to a size cap and a
  deadline; malformed, truncated or absurdly nested JSON is retried, then an error.
- No call is sent that the budget does not allow: before a request the client reserves room for
  the request and all its possible retries on one token, and gives back what it did not use. The
  budget is a `CallLedger`: this process's memory by default, or one shared by every process
  (`store.budget.RedisCallLedger`: one atomic script in Redis), so sweeps, refreshes, sensors,
  the CLI and workers together stay within each token's hourly calls.
- Errors say what failed and what to do; they never contain a token.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

DEFAULT_HOST = "api.mist.com"
RATE_LIMIT_PER_HOUR = 5000


class MistError(Exception):
    """Base of the client's errors; messages are safe to log (no secrets)."""


class MistAuthError(MistError):
    """The token was rejected (401)."""


class MistPermissionError(MistError):
    """The token may not read this org or site (403)."""


class MistNotFoundError(MistError):
    """The endpoint or object does not exist (404)."""


class MistBudgetExhausted(MistError):
    """Every token has used its calls for the current window."""

    def __init__(self, message: str, resets_at: float):
        super().__init__(message)
        self.resets_at = resets_at


class MistRateLimited(MistBudgetExhausted):
    """The server kept answering 429 for longer than the client waits."""


class MistRequestError(MistError):
    """A request failed after its retries (5xx, timeouts, resets, malformed bodies)."""

    def __init__(self, message: str, endpoint: str, attempts: int, status: int | None = None):
        super().__init__(message)
        self.endpoint, self.attempts, self.status = endpoint, attempts, status


def base_url_for(host: str | None) -> str:
    """`MIST_HOST` is a region host (`api.eu.mist.com`) or a full base URL (`http://127.0.0.1:8765`)."""
    host = (host or DEFAULT_HOST).strip().rstrip("/")
    if host.startswith(("http://", "https://")):
        return host
    return f"https://{host}"


class CallLedger(Protocol):
    """Calls reserved per token and hourly window. `token` is a fingerprint, never the token."""

    def reserve(self, token: str, window: int, calls: int, limit: int) -> bool:
        """Reserve `calls` if the window's count stays within `limit`; False (nothing taken)
        otherwise."""

    def release(self, token: str, window: int, calls: int) -> None:
        """Give back reserved calls that were not made."""

    def used(self, token: str, window: int) -> int:
        """Calls made or reserved in the window."""

    def at_least(self, token: str, window: int, used: int) -> None:
        """Raise the window's count to `used` (the server's own count) if it is below."""


class LocalCallLedger:
    """The budget in this process's memory: right for one process per token."""

    def __init__(self):
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def reserve(self, token: str, window: int, calls: int, limit: int) -> bool:
        with self._lock:
            used = self._counts.get((token, window), 0)
            if used + calls > limit:
                return False
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            self._counts[(token, window)] = used + calls
            return True

    def release(self, token: str, window: int, calls: int) -> None:
        with self._lock:
            key = (token, window)
            if key in self._counts:
                self._counts[key] = max(self._counts[key] - calls, 0)

    def used(self, token: str, window: int) -> int:
        with self._lock:
            return self._counts.get((token, window), 0)

    def at_least(self, token: str, window: int, used: int) -> None:
        with self._lock:
            key = (token, window)
            self._counts[key] = max(self._counts.get(key, 0), used)


def token_fingerprint(token: str) -> str:
    """A stable name for a token that does not reveal it (for shared budget keys)."""
    return hashlib.sha256(f"wanperf-budget:{token}".encode()).hexdigest()[:20]


@dataclass
class TokenBudget:
    """One token's place in the ledger: its hourly limit (the clock hour; unverified upstream)."""

    index: int
    limit: int
    fingerprint: str

    @property
    def label(self) -> str:
        return f"token #{self.index + 1}"  # never the token itself


@dataclass
class Response:
    body: Any
    headers: dict
    attempts: int


class MistClient:
    """A Mist API session for one org (or none yet), rotating over one or more tokens."""

    def __init__(
        self,
        tokens: Sequence[str],
        host: str | None = None,
        org_id: str | None = None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        retries: int = 4,
        backoff_factor: float = 0.5,
        backoff_max: float = 30.0,
        rate_limit: int = RATE_LIMIT_PER_HOUR,
        max_retry_after: float = 300.0,
        backoff_429: float = 1.0,
        backoff_429_max: float = 60.0,
        max_body_bytes: int = 64 * 2**20,
        request_deadline: float = 120.0,
        wait_for_budget: float = 0.0,
        ledger: CallLedger | None = None,
        pool_size: int = 8,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        org_name: str = "",
    ):
        tokens = [t.strip() for t in tokens if t and t.strip()]
        if not tokens:
            raise MistAuthError(
                "no Mist API token: set MIST_API_TOKEN (one or more, comma-separated)"
            )
        self._tokens = tokens
        self.base_url = base_url_for(host)
        self.org_id = org_id
        self.org_name = org_name  # as the API names the org, when it said
        self.timeout = (connect_timeout, read_timeout)
        self.retries = retries
        self.max_retry_after = max_retry_after
        self.backoff_429, self.backoff_429_max = backoff_429, backoff_429_max
        self.max_body_bytes = max_body_bytes
        self.request_deadline = request_deadline
        self.wait_for_budget = wait_for_budget
        self.clock, self.sleep = clock, sleep
        self.ledger = ledger or LocalCallLedger()
        self.budgets = [
            TokenBudget(i, rate_limit, token_fingerprint(t)) for i, t in enumerate(tokens)
        ]
        self._next_token = 0
        self._lock = threading.Lock()
        self.calls = 0
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=retries,
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            backoff_factor=backoff_factor,
            backoff_max=backoff_max,
            backoff_jitter=backoff_factor,
            respect_retry_after_header=False,
            raise_on_status=False,
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {"Accept": "application/json", "User-Agent": "wanperf-dagster/0.1"}
        )

    def __repr__(self) -> str:  # no tokens
        return f"MistClient(base_url={self.base_url!r}, org_id={self.org_id!r}, tokens={len(self._tokens)})"

    def close(self) -> None:
        self.session.close()

    # budget ---------------------------------------------------------------------------------
    def _window(self) -> int:
        return int(self.clock() // 3600)

    def budget_left(self) -> int:
        window = self._window()
        return sum(max(b.limit - self.ledger.used(b.fingerprint, window), 0) for b in self.budgets)

    def resets_at(self) -> float:
        return (self._window() + 1) * 3600.0

    def _take_token(self, need: int) -> tuple[TokenBudget, int]:
        """The next token with room for `need` calls, reserved (round robin), and the window."""
        window = self._window()
        with self._lock:
            n = len(self.budgets)
            start = self._next_token
        for k in range(n):
            b = self.budgets[(start + k) % n]
            if self.ledger.reserve(b.fingerprint, window, need, b.limit):
                with self._lock:
                    self._next_token = (b.index + 1) % n
                return b, window
        reset = self.resets_at()
        raise MistBudgetExhausted(
            f"all {n} Mist API token(s) have used their {self.budgets[0].limit} calls for this hour;"
            f" the budget returns at {time.strftime('%H:%M', time.gmtime(reset))} UTC"
            " (add tokens to MIST_API_TOKEN, comma-separated, for more)",
            reset,
        )

    def sync_budget(self) -> None:
        """Take each token's used calls from `GET /api/v1/self/usage` (costs one call per token):
        the ledger's count is raised to the server's where the server counted more (calls made
        by something that does not share this ledger)."""
        for b in self.budgets:
            try:
                reserved, window = self._reserve_on(b, 1)
            except MistBudgetExhausted:
                continue
            try:
                r = self._send(b, window, reserved, "/api/v1/self/usage", None)
            except MistError:
                continue
            body = r.body if isinstance(r.body, dict) else {}
            limit, requests_made = body.get("request_limit"), body.get("requests")
            if _plain_count(limit) and limit > 0:
                b.limit = limit
            if _plain_count(requests_made):
                self.ledger.at_least(b.fingerprint, window, requests_made)

    def _reserve_on(self, budget: TokenBudget, calls: int) -> tuple[int, int]:
        window = self._window()
        if not self.ledger.reserve(budget.fingerprint, window, calls, budget.limit):
            raise MistBudgetExhausted(
                f"{budget.label} has used its {budget.limit} calls for this hour",
                self.resets_at(),
            )
        return calls, window

    # requests -------------------------------------------------------------------------------
    def url(self, path_or_url: str) -> str:
        """The full URL of a path, or an absolute URL on the configured origin; any other origin
        (a `next` from a hostile or misconfigured server) is refused, so the token never leaves."""
        if len(path_or_url) > MAX_URL_LENGTH:
            raise MistRequestError(
                f"refusing a URL of {len(path_or_url):,} characters from the server",
                "GET ?",
                0,
            )
        if "://" in path_or_url or path_or_url.startswith("//"):
            if _origin(path_or_url) != _origin(self.base_url):
                raise MistRequestError(
                    f"refusing to follow a URL to another origin ({_shown_origin(path_or_url)});"
                    f" only {_shown_origin(self.base_url)} (MIST_HOST) is called with the token",
                    "GET ?",
                    0,
                )
            return path_or_url
        return urljoin(self.base_url + "/", path_or_url.lstrip("/"))

    def get(self, path_or_url: str, params: dict | None = None) -> Response:
        """GET with budget, retries and 429 handling; returns the decoded JSON body.

        On 429, wait with exponential back-off (`backoff_429` doubling up to `backoff_429_max`,
        with jitter), at least as long as `Retry-After` asks, and try again, up to
        `max_retry_after` seconds of waiting in all; then `MistRateLimited`. When every token has
        spent its budget, wait for the window to reset if that is within `wait_for_budget`
        seconds, else raise `MistBudgetExhausted` saying when the budget returns.
        """
        waited = 0.0
        throttled = 0
        endpoint = self._endpoint(path_or_url)
        while True:
            try:
                budget, window = self._take_token(1 + self.retries)
            except MistBudgetExhausted as exc:
                wait = exc.resets_at - self.clock()
                if wait > self.wait_for_budget:
                    raise
                log.warning("Mist call budget spent: waiting %.0f s for it to reset", wait)
                self.sleep(max(wait, 0.0) + 1.0)
                continue
            try:
                return self._send(budget, window, 1 + self.retries, path_or_url, params)
            except _RateLimited as rl:
                throttled += 1
                backoff = min(self.backoff_429 * 2 ** (throttled - 1), self.backoff_429_max)
                backoff *= 1 + random.random() * 0.25
                wait = max(backoff, rl.retry_after or 0.0)
                if waited + wait > self.max_retry_after:
                    asked = (
                        f" (Retry-After asked for {rl.retry_after:.0f} s)" if rl.retry_after else ""
                    )
                    raise MistRateLimited(
                        f"Mist kept answering 429 (rate limited) on {endpoint}: {throttled} times,"
                        f" {waited:.0f} s waited{asked}; a sweep waits at most"
                        f" {self.max_retry_after:.0f} s. Try again later, or add tokens to"
                        " MIST_API_TOKEN (comma-separated)",
                        self.clock() + (rl.retry_after or self.backoff_429_max),
                    ) from None
                log.warning(
                    "Mist rate limit (429) on %s with %s: waiting %.1f s (429 #%d)",
                    endpoint,
                    budget.label,
                    wait,
                    throttled,
                )
                self.sleep(wait)
                waited += wait

    def _endpoint(self, path_or_url: str) -> str:
        path = urlsplit(self.url(path_or_url)).path
        return f"GET {path}"

    def _send(
        self,
        budget: TokenBudget,
        window: int,
        reserved: int,
        path_or_url: str,
        params: dict | None,
    ) -> Response:
        """One request (and urllib3's retries) on `reserved` calls already reserved in the
        ledger: the calls made are charged, the rest given back; a request cut short by an
        exception keeps its whole reservation (it may have reached the server)."""
        try:
            url = self.url(path_or_url)
        except MistError:
            self.ledger.release(budget.fingerprint, window, reserved)
            raise
        endpoint = self._endpoint(path_or_url)
        headers = {"Authorization": f"Token {self._tokens[budget.index]}"}
        body_attempts = 0
        while True:
            if not reserved:  # a retry of a malformed body needs a reservation of its own
                try:
                    reserved, window = self._reserve_on(budget, 1 + self.retries)
                except MistBudgetExhausted:
                    raise MistRequestError(
                        f"{endpoint} returned a malformed JSON body {body_attempts} time(s) and"
                        f" {budget.label} has no calls left this hour to try again",
                        endpoint,
                        body_attempts,
                    ) from None
            started = time.monotonic()
            try:
                resp = self.session.get(
                    url, params=params, headers=headers, timeout=self.timeout, stream=True
                )
            except requests.exceptions.RetryError as exc:
                reserved = self._settle(budget, window, reserved, 1 + self.retries)
                raise MistRequestError(
                    f"{endpoint} failed after {1 + self.retries} attempts: server errors"
                    f" ({_reason(exc)}) from {self.base_url}",
                    endpoint,
                    1 + self.retries,
                ) from None
            except requests.exceptions.RequestException as exc:
                reserved = self._settle(budget, window, reserved, 1 + self.retries)
                raise MistRequestError(
                    f"{endpoint} failed after {1 + self.retries} attempts: {_reason(exc)}"
                    f" reaching {self.base_url} (check MIST_HOST, the org's region, and the"
                    " network)",
                    endpoint,
                    1 + self.retries,
                ) from None
            with resp:
                history = getattr(getattr(resp.raw, "retries", None), "history", ()) or ()
                attempts = 1 + len(history)
                reserved = self._settle(budget, window, reserved, attempts)
                status = resp.status_code
                if status == 429:
                    raise _RateLimited(_retry_after(resp.headers.get("Retry-After"), self.clock()))
                if status == 401:
                    raise MistAuthError(
                        f"Mist rejected {budget.label} of MIST_API_TOKEN (HTTP 401 on {endpoint}):"
                        " check the token, and MIST_HOST for the org's region"
                    )
                if status == 403:
                    raise MistPermissionError(
                        f"{budget.label} may not read this resource (HTTP 403 on {endpoint}):"
                        " check MIST_ORG_ID and the token's privileges"
                    )
                if status == 404:
                    raise MistNotFoundError(
                        f"{endpoint}: not found (HTTP 404); check MIST_ORG_ID and MIST_HOST"
                    )
                content = self._read_body(resp, endpoint, started)
            if status >= 400:
                raise MistRequestError(
                    f"{endpoint} failed with HTTP {status} after {attempts} attempt{'s' if attempts != 1 else ''}{_detail(content)}",
                    endpoint,
                    attempts,
                    status,
                )
            try:
                body = json.loads(content)
            except (ValueError, RecursionError):
                # a cut, garbled or absurdly nested body: retried like a transport error, within
                # the same bound
                body_attempts += 1
                if body_attempts > self.retries:
                    raise MistRequestError(
                        f"{endpoint} returned a malformed JSON body {body_attempts} time(s) "
                        f"({len(content):,} bytes); giving up",
                        endpoint,
                        body_attempts,
                        status,
                    ) from None
                self.sleep(min(0.2 * 2**body_attempts, 5.0))
                continue
            return Response(body=body, headers=dict(resp.headers), attempts=attempts)

    def _read_body(self, resp: requests.Response, endpoint: str, started: float) -> bytes:
        """The body, read up to `max_body_bytes` and within `request_deadline` seconds of the
        request (a read timeout bounds each read, not a server that trickles bytes)."""
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise MistRequestError(
                f"{endpoint} announced a body of {int(declared):,} bytes, over the"
                f" {self.max_body_bytes:,}-byte limit; refusing it",
                endpoint,
                1,
                resp.status_code,
            )
        chunks, size = [], 0
        try:
            for chunk in resp.iter_content(chunk_size=256 * 1024):
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise MistRequestError(
                        f"{endpoint} sent more than {self.max_body_bytes:,} bytes; refusing it",
                        endpoint,
                        1,
                        resp.status_code,
                    )
                if time.monotonic() - started > self.request_deadline:
                    raise MistRequestError(
                        f"{endpoint} took more than {self.request_deadline:.0f} s to send its"
                        " body; giving up",
                        endpoint,
                        1,
                        resp.status_code,
                    )
                chunks.append(chunk)
        except requests.exceptions.RequestException as exc:
            raise MistRequestError(
                f"{endpoint} failed while reading the body: {_reason(exc)}",
                endpoint,
                1,
                resp.status_code,
            ) from None
        return b"".join(chunks)

    def _settle(self, budget: TokenBudget, window: int, reserved: int, made: int) -> int:
        """Charge the calls made out of a reservation and give back the rest; returns what is
        still reserved (nothing)."""
        made = min(made, reserved)
        if reserved > made:
            self.ledger.release(budget.fingerprint, window, reserved - made)
        with self._lock:
            self.calls += made
        return 0

    # paging ---------------------------------------------------------------------------------
    def iter_search(
        self, path: str, params: dict | None = None, start_url: str | None = None
    ) -> Iterator[tuple[dict, str | None]]:
        """Pages of a `next`-style search: (body, next URL or None).

        `next` is requested verbatim until it is absent or null; a short page never stops it.
        """
        url, query = (start_url, None) if start_url else (path, params)
        fetched: set[str] = set()
        while url:
            full = self.url(url)
            if query is None:
                if full in fetched:
                    raise MistRequestError(
                        f"{self._endpoint(url)}: pagination loop: `next` points back to a page"
                        f" already fetched ({len(fetched)} pages in); stopping",
                        self._endpoint(url),
                        0,
                    )
                fetched.add(full)
            body = self.get(url, query).body
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise MistRequestError(
                    f"{self._endpoint(url)} returned no `results` list (got {type(body).__name__})",
                    self._endpoint(url),
                    1,
                )
            nxt = body.get("next") or None
            yield body, nxt
            url, query = nxt, None

    def iter_pages(
        self, path: str, params: dict | None = None, limit: int = 1000
    ) -> Iterator[list]:
        """Pages of a page/limit endpoint, until `X-Page-Total` is reached or a page is empty."""
        page = 1
        while True:
            r = self.get(path, {**(params or {}), "limit": limit, "page": page})
            items = r.body if isinstance(r.body, list) else []
            if items:
                yield items
            total = r.headers.get("X-Page-Total")
            if not items or (total is not None and page * limit >= int(total)):
                return
            page += 1

    # org --------------------------------------------------------------------------------------
    def whoami(self) -> dict:
        return self.get("/api/v1/self").body

    def resolve_org_id(self) -> str:
        """MIST_ORG_ID, or the one org the token can read (found through /api/v1/self)."""
        if self.org_id:
            return self.org_id
        orgs = sorted(
            {p.get("org_id") for p in self.whoami().get("privileges", []) if p.get("org_id")}
        )
        if len(orgs) != 1:
            raise MistPermissionError(
                f"the token reads {len(orgs)} orgs; set MIST_ORG_ID to the one to analyse"
                + (f" (one of: {', '.join(orgs)})" if orgs else "")
            )
        self.org_id = orgs[0]
        return self.org_id


class _RateLimited(Exception):
    def __init__(self, retry_after: float | None):
        self.retry_after = retry_after


MAX_URL_LENGTH = 8192


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url if "://" in url else f"https:{url}")
    scheme = (parts.scheme or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme, 0)


def _shown_origin(url: str) -> str:
    scheme, host, port = _origin(url)
    return f"{scheme}://{host[:80]}:{port}"


def _plain_count(value: object) -> bool:
    """A count the server sent that can be believed: an int (not a bool), 0 to 10 million."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**7


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP date; None when
    absent or unreadable (never negative, never more than a day)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), 86400.0)


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "Read timed out" in text or isinstance(exc, requests.exceptions.ReadTimeout):
        return "read timed out"
    if "timed out" in text:
        return "timed out"
    if "too many 5" in text or "ResponseError" in text:
        m = re.search(r"too many (\d{3}) error responses", text)
        return f"HTTP {m.group(1)}" if m else "server errors"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection failed or reset"
    return type(exc).__name__


def _detail(content: bytes) -> str:
    """The `detail` of a JSON error body, shortened; nothing when there is none."""
    try:
        detail = json.loads(content[:4096]).get("detail")
    except (ValueError, RecursionError, AttributeError):
        return ""
    return f": {str(detail)[:200]}" if detail else ""


def split_tokens(value: str | None) -> list[str]:
    """`MIST_API_TOKEN`'s value: one or more tokens, comma-separated."""
    return [t.strip() for t in (value or "").split(",") if t.strip()]
