"""`wanperf sla`: a month's carrier SLA report: each provider's month on the terminal, and the
circuits as CSV, the report as HTML or PDF to send."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from .common import RAW, asset_store


def parse_month(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(f"{text}-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month (YYYY-MM)") from None


def add_parser(sub) -> None:
    cmd = sub.add_parser(
        "sla",
        help="a month's carrier SLA report: providers, circuits, outages (CSV, HTML, PDF)",
        description="Read the month's sla_report and sla_outages (materialize them first: the"
        " sla_month step, month partitions) and print each provider's month: circuits, missed,"
        " no data, availability, outages, credits owed. --csv writes the circuits, --html and"
        " --pdf the printable report (one provider with --provider); the PDF needs Chromium.",
        epilog="examples:\n  wanperf sla --month 2026-11\n"
        "  wanperf sla --month 2026-11 --provider Lumen --pdf lumen-2026-11.pdf\n"
        "  wanperf sla --month 2026-11 --csv sla-2026-11.csv",
        formatter_class=RAW,
    )
    cmd.add_argument("--month", type=parse_month, required=True, help="YYYY-MM")
    cmd.add_argument("--provider", help="one provider's circuits only")
    cmd.add_argument("--csv", type=Path, help="write the circuits of the month here")
    cmd.add_argument("--html", type=Path, help="write the printable report here")
    cmd.add_argument("--pdf", type=Path, help="write the report as PDF here (headless Chromium)")
    cmd.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wanperf_dagster import sla
    from wanperf_dagster.dashboard import sla_print
    from wanperf_dagster.dashboard.data import DashboardData
    from wanperf_dagster.settings import get_settings

    found = DashboardData(asset_store()).sla_month(args.month)
    if found is None:
        raise SystemExit(
            f"wanperf: no SLA report for {args.month:%Y-%m} yet: materialize sla_report for"
            f" partition {args.month.isoformat()} (Dagster UI, or the automation after its days)"
        )
    report, outages = found
    if args.provider:
        if args.provider not in set(report["provider"]):
            raise SystemExit(
                f"wanperf: no provider {args.provider!r} in {args.month:%Y-%m}; there are:"
                f" {', '.join(sorted(set(report['provider'])))}"
            )
        report = report[report["provider"] == args.provider]
    providers = sla.provider_sla(report)
    view = providers[["provider", "circuits", "missed_sla", "no_data", "availability_pct"]]
    view = view.assign(
        availability_pct=view["availability_pct"].round(4),
        down_min=(providers["down_seconds"] / 60).round(1),
        outages=providers["outages"],
        credits_owed=providers["credits_owed"],
    )
    print(f"SLA {args.month:%Y-%m}: {len(report)} circuits")
    print(view.to_string(index=False))
    if args.csv:
        report.to_csv(args.csv, index=False)
        print(f"circuits written to {args.csv}")
    if args.html or args.pdf:
        page = sla_print.render(
            report, outages, args.month, args.provider, get_settings().dashboard_url
        )
        if args.html:
            args.html.write_text(page)
            print(f"report written to {args.html}")
        if args.pdf:
            try:
                sla_print.to_pdf(page, args.pdf)
            except sla_print.PdfError as exc:
                raise SystemExit(f"wanperf: {exc}") from None
            print(f"report written to {args.pdf}")
    return 0
