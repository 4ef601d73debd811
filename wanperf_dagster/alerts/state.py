"""One alert per incident and one recovery when it clears, across restarts and kills: an outbox.

The open incidents live in Redis (a hash per org) and are written before anything is sent. Each
message (an incident's alert or its recovery, to one destination) has an id, and is recorded in
the org's `sent` hash the moment its destination takes it, one write per message: a killed or
overrun evaluation leaves every message it delivered recorded, and the next one sends only what
is left. Each message carries an idempotency key (the body's `idempotency_key`, the
`Idempotency-Key` header): the one message a kill can leave in flight, sent again, is the same
message to a receiver that dedupes.

An evaluation holds the org's alert lock, short-lived (`LOCK_TTL_S`) and renewed while it
works, so a dead one's lock is gone within seconds; one that loses it sends nothing more. Every
send has a deadline (every try included) and the evaluation one too: sends run concurrently
(`WORKERS`), a receiver that hangs or trickles costs at most its deadline, delays none of the
others, and is given nothing more in that evaluation. What is left when the deadline passes
waits for the next evaluation. A message no try delivered in `dead_after` evaluations goes to
the dead-letter list (`wanperf alerts --dead-letters`) and is not tried again.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field

from wanperf_dagster.storage import AlertState, AssetStore, LockLostError

from .notify import Destination, NotifyError, send
from .rules import Incident, incident_key
from .silences import Silence, silenced_by

Sender = Callable[..., None]
LOCK_TTL_S = 15.0  # a dead evaluation's lock expires within this; a live one renews it
SEND_DEADLINE_S = 20.0  # one message to one destination, every try included
RUN_DEADLINE_S = 120.0  # one evaluation's sending: what is left waits for the next one
WORKERS = 8


class AlertsLockedError(RuntimeError):
    """Another evaluation of the org's alerts holds the lock (and is renewing it: alive)."""


@dataclass
class DispatchReport:
    open: int = 0
    opened: list[Incident] = field(default_factory=list)  # newly told (to at least one place)
    recovered: list[Incident] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "slack #1: HTTP 500", never a URL
    dead_lettered: int = 0
    sent: int = 0  # messages delivered in this evaluation
    pending: int = 0  # left for the next evaluation: the deadline passed, or the lock was lost
    lock_lost: bool = False
    locked_out: bool = False  # another evaluation was sending: this one sent nothing
    covered: list[Incident] = field(default_factory=list)  # open, spoken for by another
    inhibited: dict[str, str] = field(default_factory=dict)  # covered key -> its cover's key
    silenced: dict[str, str] = field(default_factory=dict)  # open key -> the silence over it


@dataclass(frozen=True)
class Message:
    """One message to one destination: an incident's alert or its recovery."""

    event: str  # "alert", "repeat-N" (the Nth repeat interval since it was told) or "recovered"
    incident: Incident
    episode: str  # the incident's key and its first instant: the same incident, reopened later,
    # is a new episode
    destination: Destination

    @property
    def id(self) -> str:
        return message_id(self.event, self.episode, self.destination.name)

    def idempotency_key(self, org_id: str) -> str:
        return hashlib.sha256("|".join((org_id, self.id)).encode()).hexdigest()[:32]


def message_id(event: str, episode: str, destination: str) -> str:
    """`alert:down@<circuit>#<first instant>|webhook #1`: what the `sent` hash records."""
    return "|".join((f"{event}:{episode}", destination))


def _episode_of(message_id: str) -> str:
    return message_id.split(":", 1)[1].rsplit("|", 1)[0]


def _episode(entry: dict) -> str:
    incident = entry["incident"]
    subject = incident.get("gateway") or incident.get("circuit_id") or incident["site_id"]
    key = incident_key(incident["kind"], subject)
    return f"{key}#{int(entry.get('since', incident['since']))}"


def dispatch(
    storage: AssetStore,
    org_id: str,
    incidents: Sequence[Incident],
    destinations: Sequence[Destination],
    at: int,
    links: Callable[[Incident], dict[str, str]] = lambda i: {},
    sender: Sender = send,
    retries: int = 2,
    dead_after: int = 3,
    sleep: Callable[[float], None] = time.sleep,
    send_deadline: float = SEND_DEADLINE_S,
    run_deadline: float = RUN_DEADLINE_S,
    workers: int = WORKERS,
    lock_ttl: float = LOCK_TTL_S,
    lock_wait: float | None = None,
    covered: Sequence[Incident] = (),
    inhibited: dict[str, str] | None = None,
    repeat_every: int = 0,
    resolve_after: int = 0,
) -> DispatchReport:
    """Tell each destination of the incidents that opened and of those that cleared, each
    message once (module docstring). `covered` incidents (inhibited: `inhibited` names each
    one's cover) stay open and recorded, and are neither told nor recovered while covered.
    With `repeat_every` (seconds), an incident open and not acknowledged is told again once in
    each such interval after it was first told, with its text as of now (`repeat-N`: at most one
    a destination per interval, never a backlog of those an evaluation missed). With
    `resolve_after` (seconds), one that clears is held open that long before its recovery is
    told: back within it, it is the same episode, so a flapping condition is told once, not
    at every crossing."""
    report = DispatchReport(
        open=len(incidents), covered=list(covered), inhibited=dict(inhibited or {})
    )
    started = time.monotonic()
    state = storage.alert_state(org_id)
    lock = state.lock(lock_ttl, 2 * lock_ttl if lock_wait is None else lock_wait)
    if not lock.acquire():
        raise AlertsLockedError(
            f"another evaluation of org {org_id}'s alerts is running (its lock lapses within"
            f" {lock_ttl:.0f} s of it stopping)"
        )
    try:
        outbox = _Outbox(state, at, report)
        messages = outbox.prepare(
            incidents, destinations, covered, inhibited or {}, repeat_every, resolve_after
        )
        lost = threading.Event()
        _deliver_all(
            messages,
            lambda m: _deliver(m, sender, at, links, retries, sleep, send_deadline, org_id),
            outbox,
            lock,
            lost,
            started + run_deadline,
            workers,
            dead_after,
        )
        if not lost.is_set():
            outbox.close_cleared(destinations)
        report.lock_lost = lost.is_set()
        return report
    finally:
        # it may have lapsed: another evaluation took over, and this one stopped sending
        lock.release()


def _deliver(
    message: Message, sender, at, links, retries: int, sleep, deadline: float, org_id: str
) -> tuple[str, int]:
    """Send one message, retrying while its deadline allows: ("" when delivered, else why
    not; the tries made)."""
    end = time.monotonic() + deadline
    error, tries = "", 0
    for attempt in range(retries + 1):
        left = end - time.monotonic()
        if left <= 0:
            break
        tries += 1
        outcome = _try_once(message, sender, at, links, org_id, left)
        if outcome is None:
            return f"{message.destination.name}: no answer within {deadline:.0f} s", tries
        if not outcome:
            return "", tries
        error = outcome
        if attempt < retries:
            sleep(min(0.5 * 2**attempt, max(end - time.monotonic(), 0)))
    return error or f"{message.destination.name}: no answer within {deadline:.0f} s", tries


def _try_once(message: Message, sender, at, links, org_id: str, left: float) -> str | None:
    """One try, in a thread of its own given up on after `left` seconds (a receiver that
    trickles its answer byte by byte holds this try, not the evaluation): "" when delivered,
    the error, or None when it did not answer in time."""
    outcome: list[str] = []

    def attempt() -> None:
        try:
            sender(
                message.destination,
                message.event,
                message.incident,
                at,
                links(message.incident),
                idempotency_key=message.idempotency_key(org_id),
                timeout=min(left, 10.0),
            )
            outcome.append("")
        except NotifyError as exc:
            outcome.append(str(exc))
        except Exception as exc:
            outcome.append(f"{message.destination.name}: {type(exc).__name__}")

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(left)
    return outcome[0] if outcome else None


def _deliver_all(messages, deliver, outbox, lock, lost, run_end, workers, dead_after) -> None:
    """Send the messages concurrently, each recorded as it is delivered; renew the lock while
    waiting; give a destination that timed out nothing more this evaluation; stop at the run's
    deadline or when the lock is lost."""
    slow: set[str] = set()
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="alerts")
    queue = list(messages)
    running: dict = {}
    # a destination's share of the workers: one that hangs never takes the others' turns
    share = max(1, workers // max(1, len({m.destination.name for m in messages})))
    busy: dict[str, int] = {}

    def next_message():
        for k, candidate in enumerate(queue):
            if busy.get(candidate.destination.name, 0) < share:
                return queue.pop(k)
        return None

    try:
        while queue or running:
            while queue and len(running) < workers and not lost.is_set():
                message = next_message()
                if message is None:
                    break
                if time.monotonic() >= run_end:  # not tried: the next evaluation sends it
                    outbox.report.pending += 1
                    continue
                if message.destination.name in slow:  # it hangs: one more evaluation failed
                    outbox.report.pending += 1
                    error = f"{message.destination.name}: not answering"
                    outbox.failed(message, error, dead_after, 0)
                    continue
                running[pool.submit(deliver, message)] = message
                busy[message.destination.name] = busy.get(message.destination.name, 0) + 1
            if not running:
                break
            done, _ = wait(running, timeout=min(1.0, lock.ttl / 3), return_when=FIRST_COMPLETED)
            try:
                lock.renew()
            except LockLostError:
                lost.set()  # another evaluation may hold it now: send nothing more
            for future in done:
                message = running.pop(future)
                busy[message.destination.name] -= 1
                error, tries = future.result()
                if not error:
                    outbox.delivered(message)
                else:
                    outbox.report.errors.append(error)
                    if "no answer within" in error:
                        slow.add(message.destination.name)
                    outbox.failed(message, error, dead_after, tries)
            if lost.is_set():
                outbox.report.pending += len(queue)
                queue.clear()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Outbox:
    """What the org's alert state says was delivered, and each delivery, failure, dead letter
    and cleared incident recorded as it happens (`store.AlertState`)."""

    def __init__(self, state: AlertState, at: int, report: DispatchReport):
        self.state, self.org_id, self.at, self.report = state, state.org_id, at, report
        self.stored: dict[str, dict] = {}
        self.sent: dict[str, str] = {}
        self.fresh: set[str] = set()  # incidents newly told in this evaluation
        self.now_open: set[str] = set()
        self._lock = threading.Lock()

    def prepare(
        self,
        incidents,
        destinations,
        covered=(),
        inhibited=None,
        repeat_every: int = 0,
        resolve_after: int = 0,
    ) -> list[Message]:
        """Record the open incidents (their first instant kept), then list what is owed: each
        open incident's alert to each destination that has not had it, each cleared one's
        recovery to each destination that had its alert and not its recovery."""
        self.stored = self.state.open_entries()
        self.sent = self.state.sent()
        marks: dict[str, str] = {}
        for entry in self.stored.values():  # entries of before the outbox: their `told`
            for name in entry.pop("told", []):
                marks[message_id("alert", _episode(entry), name)] = "told"
            for name in entry.pop("recovered", []):
                marks[message_id("recovered", _episode(entry), name)] = "told"
            entry.pop("failures", None)
        self.sent.update(marks)
        now_open = {i.key: i for i in incidents}
        self.now_open = set(now_open) | {i.key for i in covered}
        acks = self.state.acks() if repeat_every > 0 else {}
        active = [Silence(**r) for r in self.state.silences().values()]
        inhibited = inhibited or {}
        for incident in covered:  # open, recorded, silent: its cover speaks for it
            before = self.stored.get(incident.key)
            since = min(int(before["since"]), incident.since) if before else incident.since
            self.stored[incident.key] = {
                "incident": {**asdict(incident), "since": since},
                "since": since,
                "seen_at": before.get("seen_at", self.at) if before else self.at,
                "inhibited_by": inhibited.get(incident.key),
            }
        messages = []
        for key, incident in now_open.items():
            before = self.stored.get(key)
            since = (
                min(int(before.get("since", incident.since)), incident.since)
                if before
                else incident.since
            )
            entry = {
                "incident": {**asdict(incident), "since": since},
                "since": since,
                "seen_at": before.get("seen_at", self.at) if before else self.at,
            }
            self.stored[key] = entry
            told = Incident(**entry["incident"])
            episode = _episode(entry)
            acked = acks.get(key, {}).get("episode") == episode
            silence = silenced_by(told, active, self.at)
            if silence:  # recorded, not told while the silence lasts; told once it is over
                entry["silenced_by"] = silence
                self.report.silenced[key] = silence
                continue
            for dest in destinations:
                if not dest.takes(told, self.org_id):  # its route lets it through elsewhere
                    continue
                message = Message("alert", told, episode, dest)
                if message.id not in self.sent:
                    messages.append(message)
                    continue
                first = self.sent[message.id]
                if repeat_every <= 0 or acked or not first.isdigit():
                    continue
                nth = (self.at - int(first)) // repeat_every
                again = Message(f"repeat-{nth}", told, episode, dest)
                if nth >= 1 and again.id not in self.sent:
                    messages.append(again)
        for key, entry in self.stored.items():
            if key in self.now_open:  # open, or covered by one that is
                continue
            if resolve_after > 0:  # held: a flap back within it continues the same episode
                clearing = int(entry.setdefault("clearing_since", self.at))
                if self.at - clearing < resolve_after:
                    self.now_open.add(key)
                    continue
            incident = Incident(**entry["incident"])
            for dest in destinations:
                alerted = message_id("alert", _episode(entry), dest.name) in self.sent
                message = Message("recovered", incident, _episode(entry), dest)
                if alerted and message.id not in self.sent:
                    messages.append(message)
        # before anything is sent: a killed evaluation's next one knows them all
        self.state.record_open(self.stored, marks)
        return messages

    def delivered(self, message: Message) -> None:
        """Record it at once: whatever happens next, it is not sent again."""
        self.state.record_sent(message.id, str(self.at))
        with self._lock:
            self.sent[message.id] = str(self.at)
            self.report.sent += 1
            key = message.incident.key
            if message.event == "alert" and key not in self.fresh:
                others = [
                    m
                    for m in self.sent
                    if m.startswith("alert:")
                    and _episode_of(m) == message.episode
                    and m != message.id
                ]
                if not others:
                    self.fresh.add(key)
                    self.report.opened.append(message.incident)

    def failed(self, message: Message, error: str, dead_after: int, tries: int) -> None:
        """One more evaluation in which the message was not delivered (after `tries` tries);
        after `dead_after` of them it goes to the dead letters, and is not tried again."""
        failures, total_tries = self.state.count_failure(message.id, tries)
        if failures < dead_after:
            return
        letter = {
            "at": self.at,
            "destination": message.destination.name,
            "event": message.event,
            "incident": asdict(message.incident),
            "evaluations": failures,
            "attempts": total_tries,
            "error": error,
            "idempotency_key": message.idempotency_key(self.org_id),
        }
        self.state.dead_letter(message.id, letter, f"dead:{self.at}")
        with self._lock:
            self.sent[message.id] = f"dead:{self.at}"
            self.report.dead_lettered += 1

    def close_cleared(self, destinations) -> None:
        """An incident no longer open, whose every recovery owed was delivered (or given up
        on), leaves the open state for the history, with its messages' records."""
        names = [d.name for d in destinations]
        closed = []
        for key, entry in self.stored.items():
            if key in self.now_open:
                continue
            episode = _episode(entry)
            owed = [
                n
                for n in names
                if message_id("alert", episode, n) in self.sent
                and message_id("recovered", episode, n) not in self.sent
            ]
            if owed:
                continue
            cleared = int(entry.get("clearing_since", self.at))
            record = {**entry["incident"], "seen_at": entry.get("seen_at"), "cleared_at": cleared}
            closed.append((key, record, [m for m in self.sent if _episode_of(m) == episode]))
            self.report.recovered.append(Incident(**entry["incident"]))
        self.state.close(closed)


class NotOpenError(KeyError):
    """No incident of that key is open: nothing to acknowledge."""

    def __str__(self) -> str:
        return str(self.args[0])


def acknowledge(
    storage: AssetStore, org_id: str, key: str, by: str, note: str = "", at: int | None = None
) -> dict:
    """A person takes an open incident: who, when, a note. Its repeats stop (its recovery is
    still told); the acknowledgement lasts until the incident clears, and a later episode of
    the same key is not acknowledged by it."""
    state = storage.alert_state(org_id)
    entry = state.open_entries().get(key)
    if entry is None:
        raise NotOpenError(f"no open incident {key!r} (wanperf alerts lists them)")
    if not str(by).strip():
        raise ValueError("an acknowledgement needs who takes it (--by)")
    record = {
        "by": str(by).strip()[:100],
        "at": int(time.time() if at is None else at),
        "note": str(note).strip()[:500],
        "episode": _episode(entry),
    }
    state.acknowledge(key, record)
    return record


def acknowledgements(storage: AssetStore, org_id: str) -> dict[str, dict]:
    """Incident key -> its acknowledgement, for the open incidents acknowledged."""
    return storage.alert_state(org_id).acks()


def open_alerts(storage: AssetStore, org_id: str) -> list[Incident]:
    """The incidents open as of the last evaluation."""
    entries = storage.alert_state(org_id).open_entries()
    return [Incident(**entry["incident"]) for entry in entries.values()]


def alert_history(storage: AssetStore, org_id: str, limit: int = 1000) -> list[dict]:
    """Incidents that cleared, newest first: the incident, when first seen and when cleared."""
    return storage.alert_state(org_id).history(limit)


def dead_letters(storage: AssetStore, org_id: str, limit: int = 1000) -> list[dict]:
    """Messages no destination took after every retry, newest first."""
    return storage.alert_state(org_id).dead_letters(limit)
