"""The Redis key schema. Every key lives under one versioned namespace and names what it holds.

Partitioned values carry their partition key as the hash tag (`{2026-11-26|site}`), so on a
Redis Cluster the partitions of an asset spread over the nodes while everything stored for one
site-day (raw samples, snapshot, KPIs) shares a slot.
"""

from __future__ import annotations

from collections.abc import Sequence

NAMESPACE = "wanperf:v1"
UNPARTITIONED = "all"


def asset_value(asset_path: Sequence[str], partition_key: str | None = None) -> str:
    """One asset partition's value (an Arrow IPC blob)."""
    tag = partition_key if partition_key is not None else UNPARTITIONED
    return f"{NAMESPACE}:asset:{'/'.join(asset_path)}:{{{tag}}}"


def history_lock(asset: str, day: str) -> str:
    """The lock of one asset-day file of the history tier (its rows are rewritten together)."""
    return f"{NAMESPACE}:history:{{{asset}/{day}}}:lock"


def site_keys() -> str:
    """Hash: site id -> the key of its `site` partition (name at first sight and id)."""
    return f"{NAMESPACE}:site_keys"


def api_budget(token_fingerprint: str, window: int) -> str:
    """Counter of Mist API calls made or reserved with one token in one clock hour (shared by
    every process; see `store.budget`)."""
    return f"{NAMESPACE}:budget:{{{token_fingerprint}}}:{window}"


def raw_samples(day: str, site_id: str) -> str:
    """Hash of one site-day's swept samples: field `<slot epoch>|<circuit_id>` → one row."""
    return f"{NAMESPACE}:raw:{{{day}|{site_id}}}"


def recent_samples(org_id: str, slot: int | str) -> str:
    """Hash of one slot's samples of the whole org as the sweeps wrote them: field = the page
    (`<session id>|<n>`), value = its samples, one zstd Arrow table (`site_snapshots` columns).
    Kept 3 hours: what the alert rules judge, read in a few values, not the org's site-days."""
    return f"{NAMESPACE}:recent:{{{org_id}}}:{slot}"


def recent_since(org_id: str) -> str:
    """String: the first slot the org's recent samples hold (every sweep since writes there)."""
    return f"{NAMESPACE}:recent:{{{org_id}}}:since"


def raw_packed(day: str, site_id: str) -> str:
    """String: a closed site-day's samples compacted, one zstd Arrow table (`field`, `value`:
    the hash's fields and values); a late sample's hash beside it is read with it."""
    return f"{NAMESPACE}:rawz:{{{day}|{site_id}}}"


def raw_compacted_through(org_id: str) -> str:
    """String: the last day whose raw samples the org's sweeps compacted."""
    return f"{NAMESPACE}:rawz-through:{{{org_id}}}"


def raw_released(site_id: str) -> str:
    """Set of days whose raw samples of the site were released once its `site_snapshots` of
    the day was in the history tier: a snapshot of such a day is read from there."""
    return f"{NAMESPACE}:rawgone:{{{site_id}}}"


def raw_days(site_id: str) -> str:
    """Set of days for which a site has raw samples (lets readers find them without SCAN)."""
    return f"{NAMESPACE}:rawdays:{{{site_id}}}"


def cache_age(org_id: str) -> str:
    """Sorted set: site_id scored by the epoch second of its newest stored sample."""
    return f"{NAMESPACE}:cache_age:{{{org_id}}}"


def sweep_session(org_id: str, sweep_id: str) -> str:
    return f"{NAMESPACE}:sweep:{{{org_id}}}:{sweep_id}"


def sweep_current(org_id: str) -> str:
    """The id of the sweep that is running or was interrupted (absent once finished)."""
    return f"{NAMESPACE}:sweep:{{{org_id}}}:current"


def sweep_history(org_id: str) -> str:
    """Sorted set of sweep ids by start time."""
    return f"{NAMESPACE}:sweep:{{{org_id}}}:history"


def sweep_lock(org_id: str) -> str:
    return f"{NAMESPACE}:sweep:{{{org_id}}}:lock"


def sweeps_held() -> str:
    """Present while a batch of sweeps runs (the demo's replay): scheduled sweeps yield to it."""
    return f"{NAMESPACE}:sweep:held"


def demo_replayed_until() -> str:
    """The last slot the demo's replay (`make run` without a token) swept."""
    return f"{NAMESPACE}:demo:replayed_until"


def quarantine(org_id: str, sweep_id: str) -> str:
    """List of rejected records of one sweep, each a JSON object with its reason."""
    return f"{NAMESPACE}:quarantine:{{{org_id}}}:{sweep_id}"


def alerts_open(org_id: str) -> str:
    """Hash: incident key -> JSON (the incident and which destinations were told)."""
    return f"{NAMESPACE}:alerts:{{{org_id}}}:open"


def alerts_lock(org_id: str) -> str:
    return f"{NAMESPACE}:alerts:{{{org_id}}}:lock"


def alerts_sent(org_id: str) -> str:
    """Hash: message id (event, incident episode, destination) -> when it was delivered, written
    the moment each is (the outbox: a killed evaluation's next one sends only what is left)."""
    return f"{NAMESPACE}:alerts:{{{org_id}}}:sent"


def alerts_failures(org_id: str) -> str:
    """Hash: message id -> evaluations in which no try delivered it (dead-lettered at three)."""
    return f"{NAMESPACE}:alerts:{{{org_id}}}:failures"


def alerts_history(org_id: str) -> str:
    """List, newest first: the incidents that cleared (JSON each)."""
    return f"{NAMESPACE}:alerts:{{{org_id}}}:history"


def alerts_acks(org_id: str) -> str:
    """Hash: incident key -> JSON acknowledgement (who, when, a note, the episode it is of);
    written by a person, never by an evaluation, and dropped when the incident clears."""
    return f"{NAMESPACE}:alerts:{{{org_id}}}:acks"


def alerts_silences(org_id: str) -> str:
    """Hash: silence id -> JSON (what it matches: site, circuit, kind; from, until, why, by)."""
    return f"{NAMESPACE}:alerts:{{{org_id}}}:silences"


def alerts_dead(org_id: str) -> str:
    """List, newest first: alert messages no destination took after every retry."""
    return f"{NAMESPACE}:alerts:{{{org_id}}}:dead"


def baseline(org_id: str, how: int | str) -> str:
    """String: the org's circuits' baselines at one hour of the week (0-167), one zstd Arrow
    table; the org's 168 share a hash tag, so one evaluation's read is one slot's."""
    return f"{NAMESPACE}:baseline:{{{org_id}}}:{how}"


def baseline_built(org_id: str) -> str:
    """Hash: what the org's baselines were learnt from (`through` day, `weeks`, `circuits`)."""
    return f"{NAMESPACE}:baseline:{{{org_id}}}:built"


def raw_feed(feed: str, day: str, site_id: str) -> str:
    """Hash of one site-day of a WAN insight feed (`sle`, `paths`, `events`): one field per
    hour, per (sample slot, path) or per event, so a repeated page overwrites."""
    return f"{NAMESPACE}:{feed}:{{{day}|{site_id}}}"


def raw_feed_packed(feed: str, day: str, site_id: str) -> str:
    """String: a closed site-day of an insight feed compacted, one zstd Arrow table (`field`,
    `value`: the hash's fields and values); a late row's hash beside it is read with it."""
    return f"{NAMESPACE}:{feed}z:{{{day}|{site_id}}}"


def raw_feed_released(feed: str, site_id: str) -> str:
    """Set of days whose site-days of an insight feed went to the history tier (once the
    feed's asset of the day was there): such a site-day is read from there."""
    return f"{NAMESPACE}:{feed}gone:{{{site_id}}}"


def insights_state(org_id: str) -> str:
    """Hash: where each insight feed's ingestion stands (the next SLE hour, the page or cursor
    in progress, the event window being fetched)."""
    return f"{NAMESPACE}:insights:{{{org_id}}}:state"


def insights_lock(org_id: str) -> str:
    return f"{NAMESPACE}:insights:{{{org_id}}}:lock"


def event_coverage(org_id: str | None = None) -> str:
    """Sorted set of the time windows the org's device-event feed has fully fetched
    ("start:end", scored by start): where events, not samples, say when a port was down. Without
    an org, the one key of the releases that analysed a single org (still read with each org's)."""
    return f"{NAMESPACE}:events:coverage" + (f":{{{org_id}}}" if org_id else "")


def circuits_first(site_id: str) -> str:
    """Sorted set: each circuit the site has had, scored by when it was first seen."""
    return f"{NAMESPACE}:circuits:{{{site_id}}}:first"


def circuits_last(site_id: str) -> str:
    """Sorted set: each circuit the site has had, scored by when it was last seen."""
    return f"{NAMESPACE}:circuits:{{{site_id}}}:last"


def circuits_checked() -> str:
    """When the gateways' listing (and so every site's circuits) was last read in full."""
    return f"{NAMESPACE}:circuits:checked"
