"""One alert evaluation in a process of its own (so every evaluation is a restart), as the
`wan_alerts` asset makes it: python evaluate.py NOW ORG_ID SITE_ID... (env: WANPERF_REDIS_URL,
WANPERF_ALERT_WEBHOOKS, WANPERF_ALERT_SLACK_WEBHOOKS). Prints a JSON report."""

import json
import os
import sys


def main() -> None:
    from wanperf_dagster import alerts
    from wanperf_dagster.kpi import KpiConfig
    from wanperf_dagster.settings import get_settings
    from wanperf_dagster.storage import AssetStore

    now, org, sites = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    # the fault suite's dispatch options (a shorter lock, deadlines) as JSON
    options = json.loads(os.environ.get("WANPERF_TEST_DISPATCH_OPTIONS") or "{}")
    settings = get_settings()
    assets = AssetStore.from_settings(settings)
    inventory = assets.latest("mist_sites")
    incidents, report = alerts.evaluate(
        assets,
        org,
        sites,
        now,
        settings.interval_minutes,
        alerts.AlertRules.from_settings(settings),
        KpiConfig.for_sites(inventory.to_pandas() if inventory is not None else None),
        alerts.destinations(settings.alert_webhooks, settings.alert_slack_webhooks),
        links=lambda i: alerts.incident_links(settings.dashboard_url, settings.dagster_url, i),
        sleep=lambda s: None,
        **options,
    )
    print(
        json.dumps(
            {
                "open": sorted(i.key for i in incidents),
                "opened": sorted(i.key for i in report.opened),
                "recovered": sorted(i.key for i in report.recovered),
                "errors": report.errors,
                "dead_lettered": report.dead_lettered,
                "sent": report.sent,
                "pending": report.pending,
            }
        )
    )


if __name__ == "__main__":
    main()
