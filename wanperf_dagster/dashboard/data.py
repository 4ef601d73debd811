"""What the NOC dashboard shows, read only through the project's storage API (`AssetStore`): the
same values the assets stored, from Redis while they are hot and from the history tier after.

A circuit's time series comes at the finest resolution that keeps a page light: the samples
(10 minutes) up to `SAMPLE_DAYS`, the hourly KPIs up to `HOURLY_DAYS`, the daily KPIs beyond."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wanperf_dagster import kpi
from wanperf_dagster.storage import AssetStore

SAMPLE_DAYS = 7
HOURLY_DAYS = 62
SITES_TTL_S = 60.0


@dataclass(frozen=True)
class Now:
    """The WAN now, as of the latest sweep (`as_of`: epoch s, None before the first)."""

    as_of: float | None
    circuits: int
    down: int
    congested: int
    not_reporting: int  # not in the latest sweep: unknown, not up
    stale: bool  # the latest sweep is more than three intervals old (or there is none)


MAX_DAYS = 400  # the history's 13 months


@dataclass(frozen=True)
class Range:
    start: dt.date
    end: dt.date  # inclusive
    note: str = ""  # what was cut, said on the page

    @property
    def days(self) -> list[str]:
        n = (self.end - self.start).days + 1
        return [(self.start + dt.timedelta(days=k)).isoformat() for k in range(n)]

    @property
    def resolution(self) -> str:
        n = len(self.days)
        return "samples" if n <= SAMPLE_DAYS else "hourly" if n <= HOURLY_DAYS else "daily"

    @classmethod
    def parse(cls, start: str | None, end: str | None, today: dt.date) -> Range:
        """From the page's query (YYYY-MM-DD each); today alone when nothing is given. An end
        before the start is swapped; nothing after today is read (nothing is stored there),
        and a range is at most 400 days (the history's 13 months): what is cut is said."""
        e = _date(end) or today
        s = _date(start) or e
        if e < s:
            s, e = e, s
        notes = []
        if e > today:
            notes.append(f"the range ends today ({today}): nothing is stored after it")
            e = today
            s = min(s, e)
        if (e - s).days > MAX_DAYS:
            s = e - dt.timedelta(days=MAX_DAYS)
            notes.append(f"the range is cut to the {MAX_DAYS} days up to {e} (13 months)")
        return cls(s, e, "; ".join(notes))


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _availability(summed: pd.DataFrame) -> np.ndarray:
    """(observed - down) / observed seconds, % (empty where nothing was observed), as the KPIs
    define it: exact where port events covered the days."""
    seen = summed["observed_seconds"]
    return np.where(seen > 0, (seen - summed["down_seconds"]) / seen * 100, np.nan)


class DashboardData:
    """Every read of the dashboard, of the orgs `orgs` only (None: every org). The filter is
    here, in the one place the pages read from, not in the templates: a page, a search, a CSV
    or an API answer of a viewer holds nothing of an org they may not see."""

    def __init__(self, assets: AssetStore, orgs: frozenset[str] | None = None):
        self.assets, self.orgs = assets, orgs
        self._sites: tuple[float, pd.DataFrame] | None = None
        self._worst_sites: dict[tuple, tuple[float, pd.DataFrame]] = {}
        self._scoped: dict[frozenset[str], DashboardData] = {}

    def scoped(self, orgs: frozenset[str] | None) -> DashboardData:
        """The same reads for the given orgs (kept, with their caches, per set of orgs)."""
        if orgs is None:
            return self
        if orgs not in self._scoped:
            if len(self._scoped) > 256:
                self._scoped.pop(next(iter(self._scoped)))
            self._scoped[orgs] = DashboardData(self.assets, orgs)
        return self._scoped[orgs]

    def _mine(self, frame: pd.DataFrame | None) -> pd.DataFrame | None:
        """The rows of the viewer's orgs: by the rows' org, else by their site's (rows of a
        site no inventory places are nobody's to see)."""
        if self.orgs is None or frame is None or frame.empty:
            return frame
        if "org_id" in frame.columns:
            return frame[frame["org_id"].astype(str).isin(self.orgs)]
        if "site_id" in frame.columns:
            return frame[frame["site_id"].astype(str).isin(set(self.sites()["site_id"]))]
        return frame.iloc[0:0]

    # the inventory ----------------------------------------------------------------------------
    def all_sites(self) -> pd.DataFrame:
        """site_id, name, region, org_id, org_name, site_key (the partition key) of every org,
        cached for a minute: what is known to exist, not what may be shown."""
        if self._sites and time.monotonic() - self._sites[0] < SITES_TTL_S:
            return self._sites[1]
        table = self.assets.latest("mist_sites")
        columns = ["site_id", "name", "region", "org_id", "org_name"]
        if table is None:
            frame = pd.DataFrame(columns=[*columns, "site_key"])
        else:
            frame = table.to_pandas()
            for column in ("org_id", "org_name"):  # an inventory from before orgs: one org
                if column not in frame:
                    frame[column] = ""
            frame = frame[columns].astype(str)
            frame["site_key"] = self.assets.site_keys(frame["site_id"].tolist())
        self._sites = (time.monotonic(), frame)
        return frame

    def sites(self) -> pd.DataFrame:
        """The sites the viewer may see."""
        frame = self.all_sites()
        return frame if self.orgs is None else frame[frame["org_id"].isin(self.orgs)]

    def orgs_shown(self) -> list[tuple[str, str]]:
        """(org id, name) of each org the viewer sees, by name."""
        pairs = self.sites()[["org_id", "org_name"]].drop_duplicates()
        return sorted(zip(pairs["org_id"], pairs["org_name"], strict=True), key=lambda p: p[1])

    def org_of_site(self, site_id: str) -> str | None:
        """The org of a site that exists (of any org), None for no such site."""
        found = self.all_sites()
        found = found[found["site_id"] == site_id]
        return None if found.empty else str(found.iloc[0]["org_id"])

    def site(self, site_id: str) -> pd.Series | None:
        sites = self.sites()
        found = sites[sites["site_id"] == site_id]
        return None if found.empty else found.iloc[0]

    def search(self, query: str, region: str = "", limit: int = 50) -> pd.DataFrame:
        """Sites whose name or id contains the query (any case), best first: exact, prefix, rest;
        with a region, only its sites (all of them when the query is empty), by name."""
        sites = self.sites()
        if region:
            sites = sites[sites["region"] == region]
        q = query.strip().lower()
        if not q:
            return sites.sort_values("name").head(limit) if region else sites.iloc[0:0]
        names = sites["name"].str.lower()
        ids = sites["site_id"].str.lower()
        hit = names.str.contains(q, regex=False) | ids.str.contains(q, regex=False)
        found = sites[hit].assign(
            _rank=np.where(names[hit] == q, 0, np.where(names[hit].str.startswith(q), 1, 2))
        )
        return found.sort_values(["_rank", "name"]).drop(columns="_rank").head(limit)

    # the org ------------------------------------------------------------------------------------
    def now(self, interval_seconds: int, now: float) -> Now:
        """What the latest sweep says of every circuit, and as of when (`wan_status_now`): a
        circuit the latest sweep did not see (its gateway dark, the site gone) is not
        reporting, never up; nothing at all before the first sweep."""
        table = self.assets.latest("wan_status_now")
        if table is None or table.num_rows == 0:
            return Now(None, 0, 0, 0, 0, stale=True)
        frame = self._mine(table.to_pandas())
        frame = frame[frame["window_hours"] == 3]
        seen = pd.to_datetime(frame["last_seen"], utc=True)
        as_of = seen.max()
        if pd.isna(as_of):
            return Now(None, 0, 0, 0, 0, stale=True)
        as_of_s = as_of.timestamp()
        live = seen >= as_of - pd.Timedelta(seconds=2 * interval_seconds)
        return Now(
            as_of=as_of_s,
            circuits=int(frame["circuit_id"].nunique()),
            down=int((frame["up_now"].eq(False) & live).sum()),
            congested=int(((frame["util_now_pct"] >= 90) & live).sum()),
            not_reporting=int((~live).sum()),
            stale=now - as_of_s > 3 * interval_seconds,
        )

    def site_now(self, site: pd.Series) -> pd.DataFrame:
        """The site's circuits as the latest sweep saw them (`wan_status_now`), each with its
        normal utilisation at this hour of the week, or why it has none (learning, none)."""
        table = self.assets.latest("wan_status_now")
        if table is None or table.num_rows == 0:
            return pd.DataFrame()
        frame = table.to_pandas()
        frame = frame[
            (frame["window_hours"] == 3) & (frame["site_id"].astype(str) == site["site_id"])
        ]
        if "baseline" not in frame:  # written before baselines existed
            frame = frame.assign(baseline="none", util_normal_pct=np.nan, util_off_above_pct=np.nan)
        columns = ["circuit_id", "up_now", "util_now_pct", "baseline"]
        columns += ["util_normal_pct", "util_off_above_pct"]
        return frame[columns].sort_values("circuit_id")

    def open_alerts(self) -> pd.DataFrame | None:
        """The incidents open at the last evaluation (`wan_alerts`, which also holds history);
        None before the first evaluation."""
        table = self.assets.latest("wan_alerts")
        if table is None:
            return None
        frame = self._mine(table.to_pandas())
        return frame[frame["status"] == "open"] if "status" in frame else frame

    def alert_log(self) -> pd.DataFrame | None:
        """Every incident of the last evaluation's `wan_alerts`: open, inhibited (open under
        another) and cleared; None before the first evaluation."""
        table = self.assets.latest("wan_alerts")
        return None if table is None else self._mine(table.to_pandas())

    def regions(self, rng: Range) -> pd.DataFrame:
        """Per region over the range: availability (weighted by observed time) and the mean of
        the days' p95 utilisation."""
        loaded = self.assets.load("region_kpis", rng.days, allow_missing=True)
        if not loaded.found:
            return pd.DataFrame()
        frame = self._mine(loaded.table.to_pandas())
        if frame.empty:
            return pd.DataFrame()
        frame = kpi.with_state_seconds(frame)
        out = frame.groupby("region", observed=True).agg(
            down_seconds=("down_seconds", "sum"),
            observed_seconds=("observed_seconds", "sum"),
            util_p95_pct=("util_p95_pct", "mean"),
            circuits=("circuits", "max"),
            days=("day", "nunique"),
        )
        out["availability_pct"] = _availability(out)
        return out.reset_index()[["region", "circuits", "availability_pct", "util_p95_pct", "days"]]

    def worst(self, rng: Range, n: int = 10) -> pd.DataFrame:
        """The top offenders of the range's last day that has them: across every org for an
        MSP admin (the `msp` rows), and across the viewer's own orgs for a viewer (each org's
        worst, ranked again together)."""
        for day in reversed(rng.days):
            loaded = self.assets.load("top_offenders", [day], allow_missing=True)
            if loaded.found and loaded.table.num_rows:
                return self._offenders(loaded.table.to_pandas(), n).assign(day=day)
        return pd.DataFrame()

    def _offenders(self, frame: pd.DataFrame, n: int) -> pd.DataFrame:
        if "scope" not in frame:  # stored before orgs: one org's
            return self._mine(frame)
        if self.orgs is None:
            msp = frame["scope"] == "msp"
            return frame[msp] if msp.any() else frame
        mine = self._mine(frame[frame["scope"] == "org"])
        if mine["org_id"].nunique() <= 1:
            return mine
        ranked = []
        for name, rows in mine.groupby("kpi", sort=False):
            rows = rows.sort_values(
                ["value", "tie_breaker_value", "circuit_id"],
                ascending=[name in kpi.rollups.LOWER_IS_WORSE, False, True],
            ).head(n)
            ranked.append(rows.assign(rank=range(1, len(rows) + 1)))
        return pd.concat(ranked, ignore_index=True)

    def worst_sites(self, rng: Range, n: int = 10) -> pd.DataFrame:
        """The range's last day with KPIs, per site (every circuit's time summed): most time
        down first (the exact seconds), then lowest availability. Kept a minute per range: a
        day of 2,000 sites' circuit KPIs takes 0.8 s to read and sum (`bench dashboard`), and
        a day's KPIs change only when it is materialized again."""
        key = (rng.start, rng.end, n)
        cached = self._worst_sites.get(key)
        if cached and time.monotonic() - cached[0] < SITES_TTL_S:
            return cached[1]
        out = self._worst_sites_now(rng, n)
        self._worst_sites = {k: v for k, v in self._worst_sites.items() if k != key}
        self._worst_sites[key] = (time.monotonic(), out)
        if len(self._worst_sites) > 32:
            self._worst_sites.pop(next(iter(self._worst_sites)))
        return out

    def _worst_sites_now(self, rng: Range, n: int) -> pd.DataFrame:
        sites = self.sites()
        for day in reversed(rng.days):
            loaded = self.assets.load_site_days("circuit_kpis", [day], sites["site_key"].tolist())
            if loaded.found:
                break
        else:
            return pd.DataFrame()
        per_site = kpi.site_daily_kpis(loaded.table.to_pandas())
        per_site["site_id"] = per_site["site_id"].astype(str)
        per_site["down_min"] = per_site["down_seconds"] / 60
        ranked = per_site.sort_values(
            ["down_seconds", "availability_pct", "site_id"],
            ascending=[False, True, True],
            na_position="last",
        ).head(n)
        return ranked.merge(sites[["site_id", "name"]], on="site_id", how="left")

    # one site -----------------------------------------------------------------------------------
    def site_series(self, site: pd.Series, rng: Range) -> tuple[str, pd.DataFrame]:
        """The site's circuits over the range at the range's resolution, with the time in `t`."""
        key = site["site_key"]
        if rng.resolution == "samples":
            loaded = self.assets.load_site_days("site_snapshots", rng.days, [key])
            frame = loaded.table.to_pandas() if loaded.found else pd.DataFrame()
            if not frame.empty:
                speed = frame["speed_mbps"].astype("float64") * 1e6
                speed = speed.where(speed > 0)
                frame["rx_util_pct"] = frame["rx_bps"].astype("float64") / speed * 100
                frame["tx_util_pct"] = frame["tx_bps"].astype("float64") / speed * 100
                frame["t"] = frame["ts"]
        else:
            asset = "circuit_kpis_hourly" if rng.resolution == "hourly" else "circuit_kpis"
            loaded = self.assets.load_site_days(asset, rng.days, [key])
            frame = loaded.table.to_pandas() if loaded.found else pd.DataFrame()
            if not frame.empty:
                frame["t"] = pd.to_datetime(frame["hour" if asset.endswith("hourly") else "day"])
        if not frame.empty:
            frame["circuit_id"] = frame["circuit_id"].astype(str)
            frame = frame.sort_values(["circuit_id", "t"], kind="stable")
        return rng.resolution, frame

    def site_kpis(self, site: pd.Series, rng: Range) -> pd.DataFrame:
        """The site's circuits' daily KPIs over the range, one row per circuit (weighted)."""
        loaded = self.assets.load_site_days("circuit_kpis", rng.days, [site["site_key"]])
        if not loaded.found:
            return pd.DataFrame()
        frame = kpi.with_state_seconds(loaded.table.to_pandas())
        frame["circuit_id"] = frame["circuit_id"].astype(str)
        out = frame.groupby("circuit_id").agg(
            role=("role", "last"),
            speed_mbps=("speed_mbps", "last"),
            down_seconds=("down_seconds", "sum"),
            observed_seconds=("observed_seconds", "sum"),
            flaps=("flaps", "sum"),
            util_p95_pct=("util_p95_pct", "max"),
            minutes_above_90=("minutes_above_90", "sum"),
            latency_avg_ms=("latency_avg_ms", "mean"),
            loss_avg_pct=("loss_avg_pct", "mean"),
        )
        out["availability_pct"] = _availability(out)
        out["down_min"] = out["down_seconds"] / 60
        out["speed_mbps"] = out["speed_mbps"].astype("Int64")
        return out.drop(columns=["down_seconds", "observed_seconds"]).reset_index()

    def circuit_days(self, site: pd.Series, rng: Range, circuit_id: str) -> pd.DataFrame:
        """One circuit's daily KPI rows over the range, oldest first (empty when none)."""
        loaded = self.assets.load_site_days("circuit_kpis", rng.days, [site["site_key"]])
        if not loaded.found:
            return pd.DataFrame()
        frame = loaded.table.to_pandas()
        frame = frame[frame["circuit_id"].astype(str) == circuit_id]
        frame = frame.assign(day=pd.to_datetime(frame["day"].astype(str)).dt.date)
        return frame.sort_values("day").reset_index(drop=True)

    def site_sle(self, site: pd.Series, rng: Range) -> pd.DataFrame:
        """The site's WAN SLE per day of the range (`site_sle`), oldest first."""
        loaded = self.assets.load_site_days("site_sle", rng.days, [site["site_key"]])
        frame = loaded.table.to_pandas() if loaded.found else pd.DataFrame()
        return frame.sort_values("day").reset_index(drop=True) if len(frame) else frame

    def site_paths(self, site: pd.Series, rng: Range) -> pd.DataFrame:
        """The site's VPN paths over the range, one row per path, worst first: lowest
        availability, then lowest MOS."""
        loaded = self.assets.load_site_days("vpn_path_kpis", rng.days, [site["site_key"]])
        if not loaded.found:
            return pd.DataFrame()
        frame = loaded.table.to_pandas()
        if frame.empty:
            return frame
        out = frame.groupby("path_id").agg(
            circuit_id=("circuit_id", "last"),
            up=("up_minutes", "sum"),
            down_minutes=("down_minutes", "sum"),
            latency_p95_ms=("latency_p95_ms", "max"),
            jitter_p95_ms=("jitter_p95_ms", "max"),
            loss_p95_pct=("loss_p95_pct", "max"),
            mos_min=("mos_min", "min"),
        )
        seen = out["up"] + out["down_minutes"]
        out["availability_pct"] = (out["up"] / seen * 100).where(seen > 0)
        return (
            out.drop(columns=["up"])
            .sort_values(["availability_pct", "mos_min"], na_position="last", kind="stable")
            .reset_index()
        )

    def sla_month(self, month: dt.date) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """The month's SLA report and outages as the `sla_month` run stored them; None before
        it ran for that month."""
        key = month.replace(day=1).isoformat()
        report, outages = (
            self.assets.load(asset, [key], allow_missing=True)
            for asset in ("sla_report", "sla_outages")
        )
        if report.missing or outages.missing:
            return None
        report, outages = report.to_pandas(), outages.to_pandas()
        if self.orgs is not None:
            report = report[report["site_id"].astype(str).isin(set(self.sites()["site_id"]))]
            outages = outages[outages["circuit_id"].isin(report["circuit_id"])]
        return report, outages
