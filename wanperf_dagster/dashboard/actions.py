"""What a person does to alerts from the dashboard and its HTTP API: acknowledge an incident,
silence a site, circuit or rule for a while, end a silence. Each goes to the alert state in
Redis (`alerts.acknowledge`, `alerts.add_silence`, `alerts.remove_silence`): the next evaluation
follows it, and a restart of the dashboard or of anything else keeps it.

Every state-changing request is checked before it changes anything:
- a form from the page carries the CSRF token its page was served with, equal to the
  `wanperf_csrf` cookie (SameSite=Strict, HttpOnly): a page of another site cannot post one;
- an API call is JSON (`Content-Type: application/json`), which a page of another site cannot
  send without a preflight this server never grants; DELETE is preflighted by every browser;
- a request that says where it comes from (`Origin`) must come from this server;
- the person (`request.state.viewer`, `access.Gate`) may act (an admin) on that org.
A refused request changes nothing, answers 403 with the reason, and is logged and counted.

With several orgs, an action names its org (`org`); with one, it is that one."""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from wanperf_dagster import alerts
from wanperf_dagster.storage import AssetStore

CSRF_COOKIE = "wanperf_csrf"
LOG = logging.getLogger("wanperf_dagster.dashboard")


class Refused(Exception):
    """A request refused before it changed anything (403, the reason)."""


class AlertActions:
    def __init__(
        self,
        storage: AssetStore,
        orgs: Callable[[], list[str]],
        clock: Callable[[], float],
    ):
        self.storage, self.orgs, self.clock = storage, orgs, clock
        self.refused = 0  # requests refused (CSRF, origin, content type, role), since start

    def org_id(self) -> str:
        """The one org (a deployment of several names it in each action)."""
        return self.orgs()[0]

    def _org(self, request: Request, form: dict[str, str]) -> str:
        """The org the action is on: named, or the only one; the viewer must be an admin of it."""
        known = self.orgs()
        org = form.get("org", "").strip() or (known[0] if len(known) == 1 else "")
        if not org:
            raise ValueError(f"name the org (org): one of {', '.join(known)}")
        viewer = getattr(request.state, "viewer", None)
        if viewer is not None and not (viewer.may_act and viewer.sees(org)):
            raise Refused(f"{viewer.name} ({viewer.role}) may not act on org {org}")
        if org not in known:
            raise ValueError(f"no org {org} here")
        return org

    def _visible(self, request: Request) -> list[str]:
        viewer = getattr(request.state, "viewer", None)
        return [o for o in self.orgs() if viewer is None or viewer.sees(o)]

    # the token the pages carry ------------------------------------------------------------------
    @staticmethod
    def token(request: Request) -> str:
        """The browser's CSRF token: its cookie's, or a new one (`set_token` sends it)."""
        return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)

    @staticmethod
    def set_token(response: Response, request: Request, token: str) -> Response:
        if request.cookies.get(CSRF_COOKIE) != token:
            response.set_cookie(
                CSRF_COOKIE,
                token,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                path="/",
            )
        return response

    # the checks -------------------------------------------------------------------------------
    def _same_origin(self, request: Request) -> None:
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
            raise Refused(f"a request from another origin ({origin})")

    async def _form(self, request: Request) -> dict[str, str]:
        self._same_origin(request)
        form = {k: str(v) for k, v in (await request.form()).items()}
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie, form.get("csrf", "")):
            raise Refused("no valid CSRF token (reload the page and try again)")
        return form

    async def _json(self, request: Request) -> dict:
        self._same_origin(request)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise Refused("the API takes application/json")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise Refused("the body is not JSON") from None
        if not isinstance(body, dict):
            raise Refused("the body is not a JSON object")
        return body

    def _refuse(self, request: Request, why: str) -> Response:
        self.refused += 1
        client = request.client.host if request.client else "?"
        LOG.warning(
            "refused %s %s from %s: %s (%d refused)",
            request.method,
            request.url.path,
            client,
            why,
            self.refused,
        )
        return PlainTextResponse(f"refused: {why}", status_code=403)

    # the page's forms -------------------------------------------------------------------------
    async def ack_form(self, request: Request) -> Response:
        return await self._from_form(request, self._ack, "acknowledged")

    async def silence_form(self, request: Request) -> Response:
        return await self._from_form(request, self._silence, "silenced")

    async def unsilence_form(self, request: Request) -> Response:
        return await self._from_form(request, self._unsilence, "silence ended")

    async def _from_form(self, request: Request, action, done: str) -> Response:
        try:
            form = await self._form(request)
            org = self._org(request, form)
        except Refused as exc:
            return self._refuse(request, str(exc))
        except ValueError as exc:
            return RedirectResponse("/alerts?" + urlencode({"error": str(exc)}), status_code=303)
        try:
            said = action(org, form)
        except (ValueError, KeyError) as exc:
            message = str(exc).strip("'\"")
            return RedirectResponse("/alerts?" + urlencode({"error": message}), status_code=303)
        return RedirectResponse("/alerts?" + urlencode({"done": f"{done}: {said}"}), 303)

    # the API ----------------------------------------------------------------------------------
    def api_alerts(self, request: Request) -> Response:
        orgs, found = self._visible(request), []
        for org in orgs:
            acks = alerts.acknowledgements(self.storage, org)
            for incident in alerts.open_alerts(self.storage, org):
                found.append(
                    {
                        **asdict(incident),
                        "org": org,
                        "key": incident.key,
                        "ack": acks.get(incident.key),
                    }
                )
        return JSONResponse(
            {"org": orgs[0] if len(orgs) == 1 else None, "orgs": orgs, "open": found}
        )

    def api_silences(self, request: Request) -> Response:
        orgs, found = self._visible(request), []
        for org in orgs:
            found += [
                {**asdict(s), "org": org}
                for s in alerts.silences(self.storage, org, at=int(self.clock()))
            ]
        return JSONResponse(
            {"org": orgs[0] if len(orgs) == 1 else None, "orgs": orgs, "silences": found}
        )

    async def api_ack(self, request: Request) -> Response:
        return await self._from_json(request, self._ack)

    async def api_silence(self, request: Request) -> Response:
        return await self._from_json(request, self._silence)

    async def api_unsilence(self, request: Request) -> Response:
        try:
            self._same_origin(request)
            org = self._org(request, dict(request.query_params))
        except Refused as exc:
            return self._refuse(request, str(exc))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        silence_id = request.path_params["silence_id"]
        if not alerts.remove_silence(self.storage, org, silence_id):
            return JSONResponse({"error": f"no silence {silence_id}"}, status_code=404)
        return JSONResponse({"ended": silence_id})

    async def _from_json(self, request: Request, action) -> Response:
        try:
            body = await self._json(request)
            form = {k: "" if v is None else str(v) for k, v in body.items()}
            org = self._org(request, form)
        except Refused as exc:
            return self._refuse(request, str(exc))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            said = action(org, form)
        except alerts.NotOpenError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except (ValueError, KeyError) as exc:
            return JSONResponse({"error": str(exc).strip("'\"")}, status_code=400)
        return JSONResponse({"done": said})

    # what each does ---------------------------------------------------------------------------
    def _ack(self, org: str, form: dict[str, str]) -> str:
        key = form.get("key", "").strip()
        record = alerts.acknowledge(
            self.storage,
            org,
            key,
            form.get("by", ""),
            form.get("note", ""),
            int(self.clock()),
        )
        return f"{key} by {record['by']}"

    def _silence(self, org: str, form: dict[str, str]) -> str:
        now = int(self.clock())
        try:
            hours = float(form.get("hours") or 0)
        except ValueError:
            raise ValueError(f"hours must be a number, not {form.get('hours')!r}") from None
        if not 0 < hours <= 24 * 31:
            raise ValueError("a silence lasts more than 0 and at most 744 hours (31 days)")
        kind = form.get("kind") or None
        if kind and kind not in alerts.KINDS:
            raise ValueError(f"unknown rule {kind!r} (allowed: {', '.join(alerts.KINDS)})")
        made = alerts.add_silence(
            self.storage,
            org,
            start=now,
            end=now + int(hours * 3600),
            reason=form.get("reason", ""),
            by=form.get("by", ""),
            site_id=form.get("site_id") or None,
            circuit_id=form.get("circuit_id") or None,
            kind=kind,
        )
        until = time.strftime("%Y-%m-%d %H:%M", time.gmtime(made.end))
        return f"{made.scope} until {until} UTC ({made.id})"

    def _unsilence(self, org: str, form: dict[str, str]) -> str:
        silence_id = form.get("id", "")
        if not alerts.remove_silence(self.storage, org, silence_id):
            raise ValueError(f"no silence {silence_id}")
        return silence_id
