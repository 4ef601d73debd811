"""Signing in: the guard in front of every page, the login page and signing out.

Every request but the login page, `/healthz` and the static plotly.js is identified by the
`access.Gate` first; a page for nobody signed in sends the browser to the login page (an API call
gets 401), and a refused one (a forged header, a bad session) answers 403. The login and logout
forms carry the CSRF token as every form here does (`actions.AlertActions.token`)."""

from __future__ import annotations

import hmac
from html import escape
from urllib.parse import urlencode

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from .access import SESSION_COOKIE, Gate
from .actions import CSRF_COOKIE, AlertActions

OPEN_PATHS = ("/login", "/healthz", "/static/")

LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in ·
wanperf NOC</title><meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:system-ui,sans-serif;background:#f6f7f9;margin:0">
<main style="max-width:340px;margin:12vh auto;background:#fff;padding:24px;border-radius:8px">
<h1 style="font-size:20px;margin:0 0 14px">wanperf NOC</h1>{message}
<form method="post" action="/login" id="login"><input type="hidden" name="csrf" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<p><label>user <input name="user" autocomplete="username" required autofocus></label></p>
<p><label>password <input name="password" type="password" autocomplete="current-password"
required></label></p><p><button>Sign in</button></p></form></main></body></html>"""


def _local(target: str) -> str:
    """Where to go after signing in: a path of this server, never another site's."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


class Guard(BaseHTTPMiddleware):
    def __init__(self, app, gate: Gate):
        super().__init__(app)
        self.gate = gate

    async def dispatch(self, request: Request, call_next) -> Response:
        if request.url.path.startswith(OPEN_PATHS):
            return await call_next(request)
        self.gate.reload()
        client = request.client.host if request.client else None
        viewer, refusal = self.gate.identify(request.headers, request.cookies, client)
        if viewer is not None:
            request.state.viewer = viewer
            return await call_next(request)
        api = request.url.path.startswith("/api/") or request.method != "GET"
        if refusal and refusal.kind != "session":  # a forgery: refused outright
            return _refused(api, refusal.why)
        if api:
            why = refusal.why if refusal else "sign in first"
            return JSONResponse({"error": why}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
        if refusal:  # an expired or forged session: dropped
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def _refused(api: bool, why: str) -> Response:
    if api:
        return JSONResponse({"error": f"refused: {why}"}, status_code=403)
    return HTMLResponse(f"<h1>Refused</h1><p>{escape(why)}</p>", status_code=403)


class SignIn:
    def __init__(self, gate: Gate):
        self.gate = gate

    def page(
        self, request: Request, message: str = "", status: int = 200, target: str | None = None
    ) -> Response:
        csrf = AlertActions.token(request)
        text = LOGIN_PAGE.format(
            csrf=escape(csrf),
            next=escape(_local(target or request.query_params.get("next", "/"))),
            message=f'<p id="message" style="color:#c0392b">{escape(message)}</p>'
            if message
            else "",
        )
        return AlertActions.set_token(HTMLResponse(text, status_code=status), request, csrf)

    async def login_page(self, request: Request) -> Response:
        if self.gate.open:
            return RedirectResponse("/", status_code=303)
        return self.page(request)

    async def login(self, request: Request) -> Response:
        if self.gate.open:
            return RedirectResponse("/", status_code=303)
        form = {k: str(v) for k, v in (await request.form()).items()}
        client = request.client.host if request.client else None
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie, form.get("csrf", "")):
            self.gate.refuse("csrf", f"a sign-in without its CSRF token from {client}")
            return self.page(request, "The form expired: sign in again.", 403, form.get("next"))
        self.gate.reload()
        user = self.gate.login(form.get("user", "").strip(), form.get("password", ""), client)
        if user is None:
            return self.page(request, "Wrong user name or password.", 401, form.get("next"))
        response = RedirectResponse(_local(form.get("next", "/")), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            self.gate.sessions.issue(user, self.gate.clock()),
            max_age=self.gate.sessions.seconds,
            httponly=True,
            samesite="lax",  # a link from a ticket or an alert opens the page signed in
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    async def logout(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie, form.get("csrf", "")):
            client = request.client.host if request.client else None
            self.gate.refuse("csrf", f"a sign-out without its CSRF token from {client}")
            return _refused(False, "no valid CSRF token (reload the page and try again)")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
