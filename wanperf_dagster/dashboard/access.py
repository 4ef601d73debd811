"""Who is looking at the dashboard, and which orgs they may see.

Identity comes from one of two places, both optional:
- a trusted reverse proxy (oauth2-proxy or another SSO front) that puts the signed-in user's name
  in a header (`WANPERF_DASHBOARD_PROXY_HEADER`), honoured only from the proxy's own addresses
  (`WANPERF_DASHBOARD_TRUSTED_PROXIES`): from anywhere else the header is a forgery, refused;
- a local users file (`WANPERF_DASHBOARD_USERS`, TOML) with salted argon2id password hashes, a
  login page and a signed session cookie (HttpOnly, SameSite=Lax, Secure over TLS) that expires.

Either way the users file says each user's role: `admin` (an MSP admin: every org, and may
acknowledge and silence) or `viewer` (the orgs named, read only). With no users file the
dashboard is open, as before: every page says so, and it only binds to loopback.

Every refusal (wrong password, unknown user, expired or forged session, forged header) is logged
with a running count, never with the password."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("admin", "viewer")
SESSION_COOKIE = "wanperf_session"
LOG = logging.getLogger("wanperf_dagster.dashboard")
_HASHER = PasswordHasher()  # argon2id, a random salt a hash
_DUMMY = _HASHER.hash("wanperf-not-a-password")  # an unknown user costs what a known one does


class AccessError(ValueError):
    """The users file or the access settings are wrong (one line, no secret)."""


@dataclass(frozen=True)
class Viewer:
    """Who is looking: `orgs` None is every org."""

    name: str
    role: str
    orgs: frozenset[str] | None
    open_access: bool = False  # no sign-in configured: anyone who reaches the port

    @property
    def may_act(self) -> bool:
        """May acknowledge and silence (admins, and everyone when access is open)."""
        return self.role == "admin"

    def sees(self, org_id: str | None) -> bool:
        return self.orgs is None or org_id in self.orgs


OPEN = Viewer("anyone", "admin", None, open_access=True)


@dataclass(frozen=True)
class User:
    name: str
    role: str
    orgs: frozenset[str]
    password_hash: str = ""  # empty: signs in only through the proxy

    def viewer(self) -> Viewer:
        return Viewer(self.name, self.role, None if self.role == "admin" else self.orgs)

    @property
    def version(self) -> str:
        """Changes with the password: a session of the old password ends with it."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:12]


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise AccessError("a password has at least 10 characters")
    return _HASHER.hash(password)


class Users:
    """The users file: `[users.<name>]` tables with `role`, `orgs` and `password` (an argon2
    hash, as `wanperf users add` writes it)."""

    def __init__(self, users: dict[str, User], path: Path | None = None):
        self.users, self.path = users, path

    @classmethod
    def load(cls, path: Path) -> Users:
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise AccessError(
                f"no users file at {path} (WANPERF_DASHBOARD_USERS): create it with"
                " `wanperf users add NAME --role admin`"
            ) from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise AccessError(f"the users file {path} cannot be read: {exc}") from None
        users = {}
        for name, entry in (raw.get("users") or {}).items():
            where = f"the users file {path}, user {name!r}"
            if not isinstance(entry, dict):
                raise AccessError(f"{where}: not a table")
            role = entry.get("role")
            if role not in ROLES:
                raise AccessError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
            orgs = entry.get("orgs") or []
            if not isinstance(orgs, list) or not all(isinstance(o, str) for o in orgs):
                raise AccessError(f"{where}: orgs must be a list of org ids")
            if role == "viewer" and not orgs:
                raise AccessError(f"{where}: a viewer names the orgs they may see (orgs = [...])")
            password = entry.get("password", "")
            if password and not str(password).startswith("$argon2"):
                raise AccessError(
                    f"{where}: password is not an argon2 hash (never a password itself: set it"
                    " with `wanperf users add`)"
                )
            users[name] = User(name, role, frozenset(orgs), str(password))
        return cls(users, path)

    def dump(self) -> str:
        lines = ["# wanperf dashboard users (`wanperf users add`); passwords are argon2id hashes"]
        for user in sorted(self.users.values(), key=lambda u: u.name):
            lines += [
                "",
                f"[users.{json.dumps(user.name)}]",
                f"role = {json.dumps(user.role)}",
                f"orgs = {json.dumps(sorted(user.orgs))}",
            ]
            if user.password_hash:
                lines.append(f"password = {json.dumps(user.password_hash)}")
        return "\n".join(lines) + "\n"

    def save(self, path: Path) -> None:
        """Written whole to a new file, then moved over the old (readable by its owner only)."""
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.dump())
        os.replace(tmp, path)

    def check(self, name: str, password: str) -> User | None:
        """The user, if the password is theirs."""
        user = self.users.get(name)
        digest = user.password_hash if user and user.password_hash else _DUMMY
        try:
            _HASHER.verify(digest, password)
        except (VerificationError, InvalidHashError):
            return None
        return user if user and user.password_hash else None


class Sessions:
    """A session is a signed cookie: who, which password (its version), until when."""

    def __init__(self, secret: bytes, hours: int):
        self.secret, self.seconds = secret, hours * 3600

    def issue(self, user: User, now: float) -> str:
        body = json.dumps({"u": user.name, "v": user.version, "x": int(now) + self.seconds})
        data = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return f"{data}.{self._sign(data)}"

    def read(self, cookie: str, now: float) -> tuple[str | None, str]:
        """(user name, "") for a good session; (None, why) otherwise."""
        data, _, signature = cookie.partition(".")
        if not hmac.compare_digest(self._sign(data), signature):
            return None, "a session cookie not signed here (forged or from another secret)"
        try:
            body = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        except ValueError:
            return None, "an unreadable session cookie"
        if body.get("x", 0) <= now:
            return None, "an expired session"
        return str(body.get("u")), str(body.get("v"))

    def _sign(self, data: str) -> str:
        return hmac.new(self.secret, data.encode(), hashlib.sha256).hexdigest()


def session_secret(configured: str, data_dir: Path) -> bytes:
    """WANPERF_DASHBOARD_SECRET, or one made once and kept in the data directory (owner only),
    so sessions outlive a restart and every dashboard process on the machine shares them."""
    if configured:
        return configured.encode()
    path = data_dir / "dashboard_secret"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48).encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_bytes()
        with os.fdopen(fd, "wb") as f:
            f.write(secret)
        return secret


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused: its kind ("session": expired, forged or outdated; anything
    else, such as a forged proxy header, is refused outright) and the words for the log."""

    kind: str
    why: str


class Gate:
    """Decides who a request is: the proxy's header (from its addresses only), else a session
    cookie; counts and logs every refusal."""

    def __init__(
        self,
        users: Users | None,
        sessions: Sessions | None = None,
        proxy_header: str | None = None,
        trusted_proxies: tuple[str, ...] = (),
        clock=time.time,
    ):
        self.users, self.sessions, self.clock = users, sessions, clock
        self._loaded = self._mtime()
        self.proxy_header = proxy_header
        self.proxies = [ipaddress.ip_network(n) for n in trusted_proxies]
        self.refused: Counter[str] = Counter()

    @property
    def open(self) -> bool:
        return self.users is None

    def _mtime(self) -> float | None:
        path = self.users.path if self.users else None
        try:
            return path.stat().st_mtime if path else None
        except OSError:
            return None

    def reload(self) -> None:
        """The users file again if it changed (`wanperf users add` while the dashboard runs);
        a file that no longer reads keeps the users as they were, and says so."""
        mtime = self._mtime()
        if self.users is None or self.users.path is None or mtime == self._loaded:
            return
        try:
            self.users = Users.load(self.users.path)
        except AccessError as exc:
            LOG.error("the users file did not reload, the users stay as they were: %s", exc)
        self._loaded = mtime

    def from_proxy(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in net for net in self.proxies)

    def identify(
        self, headers, cookies, client: str | None
    ) -> tuple[Viewer | None, Refusal | None]:
        """(the viewer, None) or (None, the refusal: None when nobody signed in)."""
        if self.users is None:
            return OPEN, None
        if self.proxy_header:
            name = headers.get(self.proxy_header)
            if name is not None:
                if not self.from_proxy(client):
                    return None, self.refuse(
                        "forged-header", f"a {self.proxy_header} header from {client}, not a proxy"
                    )
                user = self.users.users.get(name.strip())
                if user is None:
                    return None, self.refuse("unknown-user", f"proxy user {name.strip()!r} unknown")
                return user.viewer(), None
        cookie = cookies.get(SESSION_COOKIE)
        if not cookie or self.sessions is None:
            return None, None
        name, version = self.sessions.read(cookie, self.clock())
        if name is None:
            return None, self.refuse("session", f"{version} from {client}")
        user = self.users.users.get(name)
        if user is None or user.version != version:
            return None, self.refuse("session", f"a session of {name!r}, whose password changed")
        return user.viewer(), None

    def login(self, name: str, password: str, client: str | None) -> User | None:
        user = self.users.check(name, password) if self.users else None
        if user is None:
            self.refuse("login", f"wrong user name or password for {name[:64]!r} from {client}")
        return user

    def refuse(self, kind: str, why: str) -> Refusal:
        self.refused[kind] += 1
        LOG.warning(
            "access refused: %s (%d refused so far, %s)",
            why,
            sum(self.refused.values()),
            ", ".join(f"{k} {n}" for k, n in sorted(self.refused.items())),
        )
        return Refusal(kind, why)


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def gate_from(settings) -> Gate:
    """The gate the settings describe: open with no users file, else its users, signed
    sessions and, when set, the trusted proxy's header (raises AccessError, one line)."""
    if not settings.dashboard_users:
        return Gate(None)
    users = Users.load(settings.dashboard_users)
    if not users.users:
        raise AccessError(f"the users file {settings.dashboard_users} has no user")
    return Gate(
        users,
        Sessions(
            session_secret(settings.dashboard_secret, settings.data_dir),
            settings.dashboard_session_hours,
        ),
        settings.dashboard_proxy_header,
        settings.dashboard_trusted_proxies,
    )
