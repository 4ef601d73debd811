"""`wanperf alerts`: the open incidents, those that cleared, the dead letters; an evaluation."""

from __future__ import annotations

import argparse
import datetime as dt

from wanperf_dagster import store
from wanperf_dagster.settings import get_settings

from .common import RAW, asset_store, org_client, positive_count


def add_parser(sub) -> None:
    alerts_cmd = sub.add_parser(
        "alerts",
        help="open incidents, their history and the dead-letter list",
        description="The incidents open as of the last evaluation (`wan_alerts` runs one after"
        " every sweep), the ones that cleared, and the messages no webhook took.",
        epilog="examples:\n  wanperf alerts\n  wanperf alerts --history -n 20\n"
        "  wanperf alerts --dead-letters\n  wanperf alerts --evaluate\n"
        '  wanperf alerts --silence --site SITE_ID --hours 4 --reason "fibre works" --by alice\n'
        "  wanperf alerts --silences\n  wanperf alerts --unsilence 1a2b3c4d\n"
        '  wanperf alerts --ack down@5c5b35bb54d1:ge-0/0/1 --by alice --note "carrier ticket 123"',
        formatter_class=RAW,
    )
    shown = alerts_cmd.add_mutually_exclusive_group()
    shown.add_argument("--history", action="store_true", help="incidents that cleared")
    shown.add_argument("--dead-letters", action="store_true", help="messages no webhook took")
    alerts_cmd.add_argument(
        "--evaluate", action="store_true", help="evaluate the rules now and send (as after a sweep)"
    )
    alerts_cmd.add_argument(
        "--ack",
        metavar="KEY",
        help="acknowledge an open incident (its key, as listed): its repeats stop until it clears",
    )
    alerts_cmd.add_argument("--by", help="who acknowledges or silences (with --ack, --silence)")
    alerts_cmd.add_argument(
        "--silence",
        action="store_true",
        help="silence the alerts of --site, --circuit and/or --kind (none: the whole org) from"
        " now for --hours or --until, with --reason and --by",
    )
    alerts_cmd.add_argument("--site", help="a site id (with --silence)")
    alerts_cmd.add_argument("--circuit", help="a circuit id (with --silence)")
    alerts_cmd.add_argument("--kind", help="an alert kind, e.g. down (with --silence)")
    alerts_cmd.add_argument("--hours", type=float, help="how long the silence lasts")
    alerts_cmd.add_argument(
        "--until", help="when it ends (ISO time with a zone, e.g. 2026-12-04T06:00Z)"
    )
    alerts_cmd.add_argument("--reason", default="", help="why (with --silence)")
    shown.add_argument("--silences", action="store_true", help="the silences not yet over")
    alerts_cmd.add_argument("--unsilence", metavar="ID", help="end a silence now")
    alerts_cmd.add_argument("--note", default="", help="why, what is being done (with --ack)")
    alerts_cmd.add_argument("--org", help="the org acted on, when several are analysed (its id)")
    alerts_cmd.add_argument("-n", "--limit", type=positive_count, default=50, help="rows to show")
    alerts_cmd.set_defaults(func=run)


def _when(epoch) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%d %H:%M")


def run(args: argparse.Namespace) -> int:
    from wanperf_dagster import alerts

    settings = get_settings()
    assets = asset_store()
    client = org_client(settings, store.RedisCallLedger(assets.client), args.org)
    org = client.org_id
    if args.ack:
        if not args.by:
            raise SystemExit("wanperf: --ack needs --by NAME (who takes it)")
        try:
            record = alerts.acknowledge(assets, org, args.ack, args.by, args.note)
        except (alerts.NotOpenError, ValueError) as exc:
            raise SystemExit(f"wanperf: {exc}") from None
        print(f"acknowledged {args.ack} by {record['by']} at {_when(record['at'])}")
        return 0
    if args.silence:
        return _silence(args, assets, org, int(client.clock()))
    if args.unsilence:
        if not alerts.remove_silence(assets, org, args.unsilence):
            raise SystemExit(f"wanperf: no silence {args.unsilence!r} (--silences lists them)")
        print(f"silence {args.unsilence} ended")
        return 0
    if args.silences:
        found = alerts.silences(assets, org, at=int(client.clock()))
        print(f"{len(found)} silence(s) not yet over")
        for s in found:
            print(f"  {s.id}  {_when(s.start)} → {_when(s.end)}  {s.scope}  by {s.by}: {s.reason}")
        return 0
    if args.evaluate:
        _evaluate(settings, assets, client, org)
    if args.dead_letters:
        letters = alerts.dead_letters(assets, org, args.limit)
        print(f"{len(letters)} dead letter(s), newest first")
        for d in letters:
            i = d["incident"]
            print(
                f"  {_when(d['at'])}  {d['destination']:<11} {d['event']:<9} {i['kind']:<10}"
                f" {i['site_name']}  {i['circuit_id'] or ''}  ({d['error']}, {d['attempts']} tries)"
            )
        return 0
    if args.history:
        past = alerts.alert_history(assets, org, args.limit)
        print(f"{len(past)} cleared incident(s), newest first")
        for h in past:
            print(
                f"  {_when(h['since'])} → {_when(h['cleared_at'])}  {h['kind']:<10} {h['site_name']}"
                f"  {h['circuit_id'] or ''}  {h['detail']}"
            )
        return 0
    open_now = sorted(alerts.open_alerts(assets, org), key=lambda i: (i.kind, i.site_name))
    acks = alerts.acknowledgements(assets, org)
    print(f"{len(open_now)} open incident(s)")
    for i in open_now[: args.limit]:
        ack = acks.get(i.key)
        taken = f"  [acknowledged by {ack['by']} {_when(ack['at'])}]" if ack else ""
        print(f"  since {_when(i.since)}  {i.key}  {i.site_name}  {i.detail}{taken}")
    return 0


def _silence(args, assets, org: str, now: int) -> int:
    from wanperf_dagster import alerts

    if (args.hours is None) == (args.until is None):
        raise SystemExit("wanperf: --silence needs one of --hours N or --until TIME")
    if args.hours is not None:
        if not 0 < args.hours <= 24 * 90:
            raise SystemExit("wanperf: --hours must be between 0 and 2160 (90 days)")
        end = now + int(args.hours * 3600)
    else:
        try:
            moment = dt.datetime.fromisoformat(args.until.strip().replace("Z", "+00:00"))
        except ValueError:
            raise SystemExit(f"wanperf: --until {args.until!r} is not an ISO time") from None
        if moment.tzinfo is None:
            raise SystemExit("wanperf: --until needs a time zone (2026-12-04T06:00Z)")
        end = int(moment.timestamp())
    try:
        made = alerts.add_silence(
            assets,
            org,
            start=now,
            end=end,
            reason=args.reason,
            by=args.by or "",
            site_id=args.site,
            circuit_id=args.circuit,
            kind=args.kind,
        )
    except ValueError as exc:
        raise SystemExit(f"wanperf: {exc}") from None
    print(f"silence {made.id}: {made.scope} until {_when(made.end)} UTC ({made.reason})")
    return 0


def _evaluate(settings, assets, client, org: str) -> None:
    from wanperf_dagster import alerts
    from wanperf_dagster.kpi import KpiConfig

    sites_table = assets.latest("mist_sites")
    sites = sites_table.to_pandas() if sites_table is not None else None
    _, report = alerts.evaluate(
        assets,
        org,
        [s for s, _ in assets.sites_by_age(org)],
        int(client.clock()),
        settings.interval_minutes,
        alerts.AlertRules.from_settings(settings),
        KpiConfig.for_sites(sites),
        alerts.destinations_from(settings),
        links=lambda i: alerts.incident_links(settings.dashboard_url, settings.dagster_url, i),
        repeat_every=settings.alert_repeat_minutes * 60,
        resolve_after=settings.alert_resolve_minutes * 60,
    )
    if report.locked_out:
        print(f"not evaluated: {report.errors[0]}")
    else:
        print(
            f"evaluated: {report.open} open, {len(report.opened)} newly told, "
            f"{report.sent} message(s) delivered, {len(report.recovered)} recovered, "
            f"{len(report.errors)} undelivered, {report.pending} left for the next"
            f" evaluation, {report.dead_lettered} dead-lettered"
        )
