"""An org's alert state in Redis, the outbox's storage (`alerts.state` decides what to send):
the open incidents (a hash, incident key -> JSON), each message delivered (the `sent` hash, one
write per message the moment it is), the failures of those that were not, the dead letters and
the history of incidents that cleared (lists, newest first)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import redis

from . import keys
from .locks import OrgLock, alerts_lock

HISTORY_KEEP = 10_000  # incidents that cleared, newest first
DEAD_KEEP = 10_000


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_DROP_ACK_OF = """
local ack = redis.call('HGET', KEYS[1], ARGV[1])
if ack and string.find(ack, ARGV[2], 1, true) then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""


class AlertState:
    def __init__(self, client: redis.Redis, org_id: str):
        self.client, self.org_id = client, org_id
        self.open_key = keys.alerts_open(org_id)
        self.sent_key = keys.alerts_sent(org_id)
        self.failures_key = keys.alerts_failures(org_id)
        self.acks_key = keys.alerts_acks(org_id)
        self.silences_key = keys.alerts_silences(org_id)

    def lock(self, ttl: float, wait: float) -> OrgLock:
        return alerts_lock(self.client, self.org_id, ttl, wait)

    # reading --------------------------------------------------------------------------------
    def open_entries(self) -> dict[str, dict]:
        """Incident key -> its stored entry (the incident, when first seen)."""
        raw = self.client.hgetall(self.open_key) or {}
        return {_text(k): json.loads(v) for k, v in raw.items()}

    def acks(self) -> dict[str, dict]:
        """Incident key -> its acknowledgement (`by`, `at`, `note`, `episode`)."""
        raw = self.client.hgetall(self.acks_key) or {}
        return {_text(k): json.loads(v) for k, v in raw.items()}

    def acknowledge(self, key: str, record: dict) -> None:
        self.client.hset(self.acks_key, key, json.dumps(record))

    def silences(self) -> dict[str, dict]:
        """Silence id -> its record."""
        raw = self.client.hgetall(self.silences_key) or {}
        return {_text(k): json.loads(v) for k, v in raw.items()}

    def add_silence(self, silence_id: str, record: dict) -> None:
        self.client.hset(self.silences_key, silence_id, json.dumps(record))

    def remove_silence(self, silence_id: str) -> bool:
        return bool(self.client.hdel(self.silences_key, silence_id))

    def sent(self) -> dict[str, str]:
        """Message id -> when it was delivered (`dead:<at>` once given up on)."""
        raw = self.client.hgetall(self.sent_key) or {}
        return {_text(k): _text(v) for k, v in raw.items()}

    def history(self, limit: int = 1000) -> list[dict]:
        """Incidents that cleared, newest first."""
        return [
            json.loads(v)
            for v in self.client.lrange(keys.alerts_history(self.org_id), 0, limit - 1)
        ]

    def dead_letters(self, limit: int = 1000) -> list[dict]:
        """Messages no destination took after every retry, newest first."""
        return [
            json.loads(v) for v in self.client.lrange(keys.alerts_dead(self.org_id), 0, limit - 1)
        ]

    # writing --------------------------------------------------------------------------------
    def record_open(self, entries: Mapping[str, dict], marks: Mapping[str, str]) -> None:
        """Write the open incidents' entries and messages marked sent, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for message_id, value in marks.items():
            pipe.hset(self.sent_key, message_id, value)
        for key, entry in entries.items():
            pipe.hset(self.open_key, key, json.dumps(entry))
        pipe.execute()

    def record_sent(self, message_id: str, value: str) -> None:
        self.client.hset(self.sent_key, message_id, value)

    def count_failure(self, message_id: str, tries: int) -> tuple[int, int]:
        """One more evaluation in which the message was not delivered: (evaluations failed,
        tries made over them)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hincrby(self.failures_key, message_id, 1)
        pipe.hincrby(self.failures_key, message_id + "#tries", tries)
        failures, tries_made = pipe.execute()
        return int(failures), int(tries_made)

    def dead_letter(self, message_id: str, letter: dict, value: str) -> None:
        """Give up on a message: the letter to the dead letters, the message marked `value`."""
        dead = keys.alerts_dead(self.org_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(dead, json.dumps(letter))
        pipe.ltrim(dead, 0, DEAD_KEEP - 1)
        pipe.hset(self.sent_key, message_id, value)
        pipe.hdel(self.failures_key, message_id, message_id + "#tries")
        pipe.execute()

    def close(self, closed: Iterable[tuple[str, dict, list[str]]]) -> None:
        """Incidents that cleared and owe nothing more: each (key, its history record, its
        messages' ids) leaves the open state for the history, with its messages' records."""
        history = keys.alerts_history(self.org_id)
        pipe = self.client.pipeline(transaction=False)
        for key, record, done in closed:
            pipe.hdel(self.open_key, key)
            # its acknowledgement goes with it; one a person gave a later episode meanwhile stays
            episode = json.dumps({"episode": f"{key}#{int(record['since'])}"})[1:-1]
            pipe.execute_command("EVAL", _DROP_ACK_OF, 1, self.acks_key, key, episode)
            pipe.lpush(history, json.dumps(record))
            pipe.ltrim(history, 0, HISTORY_KEEP - 1)
            if done:
                pipe.hdel(self.sent_key, *done)
                pipe.hdel(self.failures_key, *done, *(m + "#tries" for m in done))
        pipe.execute()
