"""`wanperf users`: the dashboard's local users (WANPERF_DASHBOARD_USERS), passwords hashed."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from wanperf_dagster.settings import get_settings

from .common import RAW


def add_parser(sub) -> None:
    users = sub.add_parser(
        "users",
        help="the dashboard's users: add or change one, remove one, list them",
        description="Keep the dashboard's users file (WANPERF_DASHBOARD_USERS, TOML): each user's"
        " role (admin: every org, may acknowledge and silence; viewer: the orgs named, read only)"
        " and an argon2id hash of their password (never the password). The dashboard reads a"
        " change at its next request.",
        epilog="examples:\n  wanperf users add noc-lead --role admin\n"
        "  wanperf users add acme-noc --role viewer --org 9e3d0c1a-5b7f-4e2a-8c6d-1f0a2b3c4d5e\n"
        "  printf '%s' \"$PASSWORD\" | wanperf users add bot --role viewer --org ... --password-stdin\n"
        "  wanperf users list",
        formatter_class=RAW,
    )
    users.add_argument("action", choices=("add", "remove", "list"))
    users.add_argument("name", nargs="?", help="the user name (add, remove)")
    users.add_argument("--role", choices=("admin", "viewer"), help="with add")
    users.add_argument("--org", action="append", default=[], help="an org a viewer sees (repeat)")
    users.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin, not a prompt"
    )
    users.add_argument(
        "--no-password",
        action="store_true",
        help="signs in only through the trusted proxy (WANPERF_DASHBOARD_PROXY_HEADER)",
    )
    users.add_argument("--file", type=Path, help="default WANPERF_DASHBOARD_USERS")
    users.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wanperf_dagster.dashboard.access import AccessError, User, Users, hash_password

    path = args.file or get_settings().dashboard_users
    if path is None:
        raise SystemExit("wanperf: set WANPERF_DASHBOARD_USERS (the users file) or pass --file")
    try:
        users = Users.load(path) if path.exists() else Users({}, path)
        if args.action == "list":
            for u in sorted(users.users.values(), key=lambda u: u.name):
                orgs = "every org" if u.role == "admin" else ", ".join(sorted(u.orgs))
                how = "password" if u.password_hash else "proxy only"
                print(f"{u.name}\t{u.role}\t{orgs}\t{how}")
            return 0
        if not args.name:
            raise SystemExit(f"wanperf: users {args.action} needs a NAME")
        if args.action == "remove":
            if users.users.pop(args.name, None) is None:
                raise SystemExit(f"wanperf: no user {args.name!r} in {path}")
            users.save(path)
            print(f"removed {args.name} from {path}")
            return 0
        if not args.role:
            raise SystemExit("wanperf: users add needs --role admin or --role viewer")
        if args.role == "viewer" and not args.org:
            raise SystemExit("wanperf: a viewer needs --org (each org they may see)")
        hashed = "" if args.no_password else hash_password(_password(args.password_stdin))
        users.users[args.name] = User(args.name, args.role, frozenset(args.org), hashed)
        users.save(path)
    except AccessError as exc:
        raise SystemExit(f"wanperf: {exc}") from None
    print(f"{args.name} ({args.role}) saved in {path}")
    return 0


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.read().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("wanperf: the two passwords differ")
    return first
