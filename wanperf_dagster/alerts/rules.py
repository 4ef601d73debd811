"""Which incidents are open now, from the freshest samples: a pure function of the snapshot frame,
so the same samples always give the same incidents (and the tests need no server).

A condition that lasts is measured as a run of consecutive samples ending at the circuit's latest
one: N samples at an interval of I minutes are N x I minutes (a sample stands for its slot, as in
the KPIs). A circuit whose latest sample is older than the freshest sample of the org by more than
two intervals is left out: it was not swept, and what it said last is not "now" (its incidents
open before are held as they were: `grouping.hold_unjudged`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wanperf_dagster.kpi import KpiConfig
from wanperf_dagster.settings import Settings

from .baselines import off_baseline

KINDS = (
    "region_down",
    "site_down",
    "gateway_offline",
    "down",
    "congested",
    "flapping",
    "loss",
    "latency",
    "on_backup",
    "baseline",
)


# the sample columns the rules read (an evaluation reads no other)
SAMPLE_COLUMNS = (
    "ts",
    "site_id",
    "circuit_id",
    "port_id",
    "up",
    "speed_mbps",
    "rx_bps",
    "tx_bps",
    "latency_ms",
    "loss_pct",
    "last_flapped",
)
CIRCUIT_KINDS = ("down", "congested", "flapping", "loss", "latency", "baseline")


@dataclass(frozen=True)
class AlertRules:
    """Thresholds (configured by `WANPERF_ALERT_*`, see the README)."""

    down_minutes: int = 10
    congested_pct: float = 90.0
    congested_minutes: int = 30
    flaps_per_hour: int = 3
    loss_pct: float = 1.0  # the top loss tier of the KPIs
    latency_ms: float = 150.0  # the top latency tier of the KPIs
    quality_minutes: int = 10
    region_sites: int = 5  # sites of a region dark at once that make one region incident
    baseline_minutes: int = 30  # off its hour-of-week baseline that long (0: no baseline rule)
    baseline_sigmas: float = 4.0  # how far off: scaled MADs over the median

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertRules:
        return cls(
            down_minutes=settings.alert_down_minutes,
            congested_minutes=settings.alert_congested_minutes,
            flaps_per_hour=settings.alert_flaps_per_hour,
            quality_minutes=settings.alert_quality_minutes,
            loss_pct=settings.alert_loss_pct,
            latency_ms=settings.alert_latency_ms,
            region_sites=settings.alert_region_sites,
            baseline_minutes=settings.alert_baseline_minutes,
            baseline_sigmas=settings.alert_baseline_sigmas,
        )


@dataclass(frozen=True)
class Incident:
    """One open problem: its key names what it is about, so it stays the same while it lasts."""

    kind: str
    site_id: str
    site_name: str
    circuit_id: str | None
    since: int  # epoch seconds of the first sample of the run (or of the hour, for flaps)
    value: float  # the figure that tripped it: minutes, %, ms, flaps
    detail: str
    covers: tuple[str, ...] = ()  # the keys of the incidents it groups and inhibits
    sites: tuple[str, ...] = ()  # the sites it spans, by name (a region's incident lists them)
    gateway: str | None = None  # the gateway (MAC) of a gateway's own incident

    def __post_init__(self) -> None:  # read back from JSON, lists: keep it hashable
        object.__setattr__(self, "covers", tuple(self.covers))
        object.__setattr__(self, "sites", tuple(self.sites))

    @property
    def key(self) -> str:
        return incident_key(self.kind, self.gateway or self.circuit_id or self.site_id)


def incident_key(kind: str, subject: str) -> str:
    """What an incident is about, stable while it lasts: `down@<circuit>`, `site_down@<site>`,
    `gateway_offline@<mac>`, `region_down@region:<name>`."""
    return f"{kind}@{subject}"


def gateway_status_rows(events: pd.DataFrame | None) -> pd.DataFrame:
    """The event feed's rows of the gateways' own status (`GW_STATUS`, `GW_LAST_SEEN`: written
    by the devices feed while a gateway is offline), none when there are none."""
    if events is None or events.empty or not {"type", "circuit_id"} <= set(events.columns):
        return pd.DataFrame(columns=["ts", "site_id", "mac", "type", "circuit_id"])
    return events[events["circuit_id"].isna() & events["type"].isin(["GW_STATUS", "GW_LAST_SEEN"])]


def gateways_offline(
    events: pd.DataFrame,
    circuits: pd.DataFrame,
    interval_minutes: int,
    now: int,
    config: KpiConfig,
    first_seen: dict[str, int] | None = None,
) -> list[Incident]:
    """Gateways whose own status said disconnected at an ingestion within two intervals (the
    event feed's `GW_STATUS` rows the devices feed writes at each ingestion while a gateway is
    offline; `GW_LAST_SEEN`, since when). Their circuits send no samples, so the sample rules
    cannot see them, and their silence is not "fine". Each incident covers its gateway's
    circuits (the site's register): their alerts stay open under it."""
    first_seen = first_seen or {}
    rows = gateway_status_rows(events)
    if rows.empty:
        return []
    rows = rows.assign(ts=epoch_seconds(rows["ts"]), mac=rows["mac"].astype(str))
    status = rows[rows["type"] == "GW_STATUS"]
    latest = status.groupby("mac", sort=False).agg(ts=("ts", "max"), site_id=("site_id", "last"))
    latest = latest[latest["ts"] >= now - 2 * interval_minutes * 60]
    seen = rows[rows["type"] == "GW_LAST_SEEN"].groupby("mac")["ts"].max()
    first = status.groupby("mac")["ts"].min()
    ids = circuits["circuit_id"].astype(str) if len(circuits) else pd.Series(dtype=str)
    out = []
    for mac, row in latest.iterrows():
        site = str(row["site_id"])
        mine = sorted(ids[ids.str.startswith(mac + ":")])
        key = incident_key("gateway_offline", mac)
        since = min(int(seen.get(mac, first[mac])), first_seen.get(key, now))
        n = len(mine)
        out.append(
            Incident(
                "gateway_offline",
                site,
                config.site_names.get(site, site),
                None,
                since,
                float(n),
                f"gateway {mac} offline for {duration(now - since)}"
                + (f", its {n} WAN circuit{'s' if n != 1 else ''} dark" if n else ""),
                # its circuits' incidents, and its site's own, which its silence ends too
                covers=(
                    *(incident_key(kind, c) for c in mine for kind in CIRCUIT_KINDS),
                    incident_key("on_backup", site),
                    incident_key("site_down", site),
                ),
                gateway=mac,
            )
        )
    return out


LOOKBACK_S = 7200  # the longest rule (an hour of flaps, 30 minutes of congestion) fits


def epoch_seconds(ts: pd.Series) -> pd.Series:
    """Sample instants as epoch seconds, from datetimes (the snapshots) or numbers."""
    if pd.api.types.is_datetime64_any_dtype(ts):
        aware = ts.dt.tz_convert("UTC") if ts.dt.tz is not None else ts.dt.tz_localize("UTC")
        return (aware - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s")
    return ts.astype("int64")


def _trailing_run(frame: pd.DataFrame, cond: pd.Series) -> pd.DataFrame:
    """Per circuit: how many samples at the end meet `cond`, and the ts of the first of them."""
    flags = cond.fillna(False).astype(bool).to_numpy()
    circuits = frame["circuit_id"].to_numpy()
    ts = frame["ts"].to_numpy()
    # frame is sorted by (circuit, ts): walk each circuit's rows from the end
    rev = pd.DataFrame({"c": circuits[::-1], "f": flags[::-1].astype(np.int64), "ts": ts[::-1]})
    rev["run"] = rev.groupby("c", sort=False)["f"].cumprod()
    held = rev[rev["run"] == 1]
    out = held.groupby("c", sort=False).agg(samples=("run", "size"), since=("ts", "min"))
    return out


def _utilisation(frame: pd.DataFrame) -> pd.Series:
    speed = frame["speed_mbps"].astype("float64") * 1e6
    rate = np.fmax(frame["rx_bps"].astype("float64"), frame["tx_bps"].astype("float64"))
    return (rate / speed.where(speed > 0)) * 100


def duration(seconds: float) -> str:
    """How long, as a NOC reads it: 40 min, 2 h 05 min, 3 d 4 h."""
    minutes = max(int(seconds // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def open_incidents(
    samples: pd.DataFrame,
    interval_minutes: int,
    rules: AlertRules,
    config: KpiConfig,
    now: int | None = None,
    first_seen: dict[str, int] | None = None,
) -> list[Incident]:
    """The incidents the samples show at their latest instant (or `now`). `first_seen` holds
    when each incident still open was first seen (the alert state): its duration counts from
    there, not from the start of the samples read (two hours)."""
    return judged(samples, interval_minutes, rules, config, now, first_seen)[0]


FRESH_INTERVALS = 2  # a circuit's latest sample older than this many intervals: not judged now


def fresh_circuits(samples: pd.DataFrame | None, interval_minutes: int, now: int) -> set[str]:
    """The circuits the rules judge at `now`: those with a sample in the last two intervals.
    What the others said last is not "now": their incidents are unknown, neither open nor
    cleared."""
    if samples is None or samples.empty:
        return set()
    ts = epoch_seconds(samples["ts"])
    # as `judged` leaves the others out: the latest sample at least now - 2 intervals
    recent = (ts >= now - FRESH_INTERVALS * interval_minutes * 60) & (ts <= now)
    return set(samples.loc[recent, "circuit_id"].astype(str))


def judged(
    samples: pd.DataFrame,
    interval_minutes: int,
    rules: AlertRules,
    config: KpiConfig,
    now: int | None = None,
    first_seen: dict[str, int] | None = None,
    baselines: pd.DataFrame | None = None,
) -> tuple[list[Incident], dict[str, int]]:
    """(`open_incidents`, the circuits of each site judged: those with fresh samples); with
    `baselines` (the circuits' baselines at this hour of the week), the `baseline` rule too."""
    first_seen = first_seen or {}
    if samples is None or samples.empty:
        return [], {}
    frame = samples.copy()
    for column in ("site_id", "circuit_id"):
        frame[column] = frame[column].astype(str)
    frame["ts"] = epoch_seconds(frame["ts"])
    now = int(frame["ts"].max()) if now is None else now
    frame = frame[(frame["ts"] > now - LOOKBACK_S) & (frame["ts"] <= now)]
    frame = frame.sort_values(["circuit_id", "ts"], kind="stable").reset_index(drop=True)
    latest_ts = frame.groupby("circuit_id", sort=False)["ts"].transform("max")
    fresh = latest_ts >= now - FRESH_INTERVALS * interval_minutes * 60
    frame = frame[fresh].reset_index(drop=True)
    if frame.empty:
        return [], {}
    site_of = frame.groupby("circuit_id", sort=False)["site_id"].last()
    names = config.site_names

    def name(site: str) -> str:
        return names.get(site, site)

    incidents: list[Incident] = []

    def lasting(kind, cond, minutes, value_of, detail_of):
        runs = _trailing_run(frame, cond)
        # a new condition must last its minutes; one already open (or held open while it
        # clears: `resolve_after`) continues from its first sample back, so a load crossing
        # its tier on and off is one incident, not one each time it has lasted the minutes
        still = runs.index.map(lambda c: f"{kind}@{c}" in first_seen).to_numpy(dtype=bool)
        runs = runs[(runs["samples"] * interval_minutes >= minutes) | still]
        for circuit, row in runs.iterrows():
            site = site_of[circuit]
            since = min(int(row["since"]), first_seen.get(f"{kind}@{circuit}", now))
            # each sample stands for its slot: a run of one sample has lasted one interval
            held = duration(now - since + interval_minutes * 60)
            incidents.append(
                Incident(
                    kind,
                    site,
                    name(site),
                    circuit,
                    since,
                    value_of(circuit, (now - since) // 60 + interval_minutes),
                    detail_of(circuit, held),
                )
            )

    up = frame["up"]
    down = up.eq(False) & up.notna()
    lasting(
        "down",
        down,
        rules.down_minutes,
        lambda c, held: float(held),
        lambda c, held: f"down for {held}",
    )
    # (kind, the figure, when it trips, minutes it must last, how it reads)
    figures = (
        (
            "congested",
            _utilisation(frame),
            rules.congested_pct,
            rules.congested_minutes,
            "utilisation ≥ {:g} %",
            "{:.1f} %",
            1,
        ),
        (
            "loss",
            frame["loss_pct"].astype("float64"),
            rules.loss_pct,
            rules.quality_minutes,
            "loss > {:g} %",
            "{:.2f} %",
            2,
        ),
        (
            "latency",
            frame["latency_ms"].astype("float64"),
            rules.latency_ms,
            rules.quality_minutes,
            "latency > {:g} ms",
            "{:.0f} ms",
            1,
        ),
    )
    for kind, figure, tier, minutes, rule, shown, places in figures:
        last = figure.groupby(frame["circuit_id"], sort=False).last()
        # congestion counts at its tier; loss and latency above it, and only while up
        trips = figure >= tier if kind == "congested" else (figure > tier) & ~down
        lasting(
            kind,
            trips,
            minutes,
            lambda c, held, last=last, places=places: round(float(last[c]), places),
            lambda c, held, last=last, rule=rule, tier=tier, shown=shown: (
                f"{rule.format(tier)} for {held} (now {shown.format(last[c])})"
            ),
        )
    told = {i.key for i in incidents}
    deviations = off_baseline(
        frame,
        {"util": figures[0][1], "loss": figures[1][1], "latency": figures[2][1]},
        baselines,
        rules.baseline_minutes,
        rules.baseline_sigmas,
        interval_minutes,
        _trailing_run,
        told,
        {k for k in first_seen if k.startswith("baseline@")},
    )
    for circuit, since, value, detail in deviations:
        site = site_of[circuit]
        since = min(since, first_seen.get(f"baseline@{circuit}", now))
        incidents.append(Incident("baseline", site, name(site), circuit, since, value, detail))
    incidents += _flapping(frame, rules, now, site_of, name)
    incidents += _on_backup(frame, config, name, now, first_seen)
    circuits = frame.groupby("site_id", sort=False)["circuit_id"].nunique().to_dict()
    return sorted(incidents, key=lambda i: (KINDS.index(i.kind), i.site_name, i.key)), circuits


def _flapping(frame, rules, now, site_of, name) -> list[Incident]:
    """Flaps in the last hour: each distinct `last_flapped` instant in the hour is one flap (the
    gateway's own record, which sees flaps between samples), and each up → down step between
    samples whose `last_flapped` did not move (a gateway that does not report it)."""
    hour = frame[frame["ts"] > now - 3600]
    if hour.empty:
        return []
    lf = hour["last_flapped"].astype("float64")
    in_hour = hour[(lf > now - 3600) & (lf <= now)]
    reported = in_hour.groupby("circuit_id", sort=False)["last_flapped"].nunique()
    # a step is counted at the sample that saw it go down (its previous may be before the hour)
    prev_up = frame.groupby("circuit_id", sort=False)["up"].shift(1)
    prev_lf = frame.groupby("circuit_id", sort=False)["last_flapped"].shift(1)
    step = prev_up.eq(True) & frame["up"].eq(False) & (frame["last_flapped"] == prev_lf)
    step = step & (frame["ts"] > now - 3600)
    stepped = step.groupby(frame["circuit_id"], sort=False).sum()
    flaps = reported.add(stepped, fill_value=0)
    out = []
    for circuit, count in flaps[flaps >= rules.flaps_per_hour].items():
        site = site_of[circuit]
        out.append(
            Incident(
                "flapping",
                site,
                name(site),
                circuit,
                int(now - 3600),
                float(count),
                f"{int(count)} flaps in the last hour",
            )
        )
    return out


def _on_backup(frame, config: KpiConfig, name, now, first_seen) -> list[Incident]:
    """A site whose primary circuit is down at its latest sample while another is up."""
    latest = frame.groupby("circuit_id", sort=False).tail(1)
    circuits = latest[["site_id", "circuit_id", "port_id"]].reset_index(drop=True)
    if circuits.empty:
        return []
    primary = config.is_primary(circuits).to_numpy(dtype=bool)
    latest = latest.reset_index(drop=True).assign(_primary=primary)
    # the sites that qualify, found over every site at once (a loop over 10,000 sites' frames
    # took seconds); then an incident for each of the few
    sites = latest["site_id"]
    down, up = latest["up"].eq(False), latest["up"].eq(True)
    per = pd.DataFrame(
        {
            "n": sites.map(sites.value_counts()),
            "prim": latest["_primary"],
            "prim_down": latest["_primary"] & down,
            "other_up": ~latest["_primary"] & up,
            "site_id": sites,
        }
    ).groupby("site_id", sort=False)
    stats = per.agg(
        n=("n", "first"),
        prim=("prim", "sum"),
        prim_down=("prim_down", "sum"),
        other_up=("other_up", "any"),
    )
    found = stats[
        (stats["n"] >= 2)
        & (stats["prim"] > 0)
        & (stats["prim_down"] == stats["prim"])
        & stats["other_up"]
    ].index
    out = []
    for site, rows in latest[sites.isin(found)].groupby("site_id", sort=False):
        prim = rows[rows["_primary"]]
        others = rows[~rows["_primary"]]
        if prim.empty or not prim["up"].eq(False).all() or not others["up"].eq(True).any():
            continue
        backup = others[others["up"].eq(True)]["circuit_id"].iloc[0]
        since = min(int(prim["ts"].iloc[0]), first_seen.get(f"on_backup@{site}", now))
        out.append(
            Incident(
                "on_backup",
                site,
                name(site),
                None,
                since,
                float(len(prim)),
                f"primary {prim['circuit_id'].iloc[0]} down, running on {backup}"
                f" (for {duration(now - since)})",
                covers=tuple(f"down@{c}" for c in prim["circuit_id"]),
            )
        )
    return out
