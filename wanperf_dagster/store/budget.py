"""The Mist API call budget shared by every process: one counter per token and clock hour in
Redis, changed only by atomic scripts.

A sweep, the stale-site refresh, a sensor, the CLI and every run worker each hold a client; each
reserves the calls a request may need (the request and its retries) before sending it and gives
back what it did not use, so together they never pass a token's hourly limit however they
interleave. The key names a token by its fingerprint, never the token. Counters expire two hours
after their window opens.
"""

from __future__ import annotations

import redis

from . import keys

WINDOW_TTL_SECONDS = 2 * 3600

# KEYS[1] counter; ARGV: calls, limit, ttl. Returns the new count, or -1 (nothing taken).
_RESERVE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local calls = tonumber(ARGV[1])
if used + calls > tonumber(ARGV[2]) then return -1 end
used = redis.call('INCRBY', KEYS[1], calls)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return used
"""

# KEYS[1] counter; ARGV: calls. Never below zero; the expiry is kept.
_RELEASE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used == 0 then return 0 end
local left = math.max(used - tonumber(ARGV[1]), 0)
redis.call('SET', KEYS[1], left, 'KEEPTTL')
return left
"""

# KEYS[1] counter; ARGV: used, ttl. Raises the count to the server's, never lowers it.
_AT_LEAST = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local seen = tonumber(ARGV[1])
if seen > used then
  redis.call('SET', KEYS[1], seen, 'EX', tonumber(ARGV[2]))
  return seen
end
return used
"""


class RedisCallLedger:
    """`mist.client.CallLedger` in Redis (a standalone server or a cluster: each script touches
    one key)."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self._reserve = client.register_script(_RESERVE)
        self._release = client.register_script(_RELEASE)
        self._at_least = client.register_script(_AT_LEAST)

    def reserve(self, token: str, window: int, calls: int, limit: int) -> bool:
        key = keys.api_budget(token, window)
        return int(self._reserve(keys=[key], args=[calls, limit, WINDOW_TTL_SECONDS])) >= 0

    def release(self, token: str, window: int, calls: int) -> None:
        self._release(keys=[keys.api_budget(token, window)], args=[calls])

    def used(self, token: str, window: int) -> int:
        return int(self.client.get(keys.api_budget(token, window)) or 0)

    def at_least(self, token: str, window: int, used: int) -> None:
        self._at_least(keys=[keys.api_budget(token, window)], args=[used, WINDOW_TTL_SECONDS])
