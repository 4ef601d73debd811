"""Inventory: sites, site groups (regions) and gateways, paged, as frames."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .client import MistClient


@dataclass
class Inventory:
    sites: pd.DataFrame  # site_id, name, timezone, country_code, region, region_id
    sitegroups: pd.DataFrame  # region_id, region, sites
    gateways: pd.DataFrame  # mac, site_id, name, model, status, last_seen, wan_ports


def fetch_inventory(client: MistClient, page_limit: int = 1000) -> Inventory:
    org = client.resolve_org_id()
    groups = [
        g
        for page in client.iter_pages(f"/api/v1/orgs/{org}/sitegroups", limit=page_limit)
        for g in page
    ]
    group_name = {g.get("id"): g.get("name") for g in groups}
    sites = [
        s for page in client.iter_pages(f"/api/v1/orgs/{org}/sites", limit=page_limit) for s in page
    ]
    gws = [
        d
        for page in client.iter_pages(
            f"/api/v1/orgs/{org}/stats/devices", {"type": "gateway"}, limit=page_limit
        )
        for d in page
    ]

    def region_of(site: dict) -> tuple[str, str]:
        for gid in site.get("sitegroup_ids") or []:
            if gid in group_name:
                return group_name[gid], gid
        return "unknown", ""

    site_rows = []
    for s in sites:
        region, region_id = region_of(s)
        site_rows.append(
            {
                "site_id": s.get("id"),
                "name": s.get("name"),
                "timezone": s.get("timezone"),
                "country_code": s.get("country_code"),
                "region": region,
                "region_id": region_id,
            }
        )
    site_frame = pd.DataFrame(
        site_rows, columns=["site_id", "name", "timezone", "country_code", "region", "region_id"]
    )
    group_frame = pd.DataFrame(
        [
            {
                "region_id": g.get("id"),
                "region": g.get("name"),
                "sites": len(g.get("site_ids") or []),
            }
            for g in groups
        ],
        columns=["region_id", "region", "sites"],
    )
    gw_rows = []
    for d in gws:
        wan = [
            v
            for v in (d.get("if_stat") or {}).values()
            if v.get("port_usage") == "wan" or v.get("wan_name")
        ]
        gw_rows.append(
            {
                "mac": d.get("mac"),
                "site_id": d.get("site_id"),
                "name": d.get("name"),
                "model": d.get("model"),
                "status": d.get("status"),
                "last_seen": d.get("last_seen"),
                "wan_ports": len(wan),
            }
        )
    gw_frame = pd.DataFrame(
        gw_rows, columns=["mac", "site_id", "name", "model", "status", "last_seen", "wan_ports"]
    )
    return Inventory(site_frame, group_frame, gw_frame)
