"""Viewers watching now, across every serving process.

Each process that serves viewers of a channel writes its own count into a hash (the
``counts_key``, field = process id) and promises, in a sorted set (the ``expiries_key``,
score = expiry time), to refresh it within ``TTL`` seconds. A process that dies stops
refreshing; its count is then ignored and pruned. The total is the sum of the counts of
processes whose promise has not expired. The app owning the channel names both keys.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from typing import Any

from learnsite import broker

TTL = 15  # seconds a process's count is trusted without a refresh
REFRESH_EVERY = 2.0  # seconds between refreshes when nothing changed here

PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

_REPORT = """
local now = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, p in ipairs(dead) do redis.call('HDEL', KEYS[1], p) end
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
redis.call('EXPIRE', KEYS[1], ttl * 4)
redis.call('EXPIRE', KEYS[2], ttl * 4)
local total = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(v) end
return total
"""


async def areport(*, counts_key: str, expiries_key: str, viewers: int, client: Any = None) -> int:
    """Record this process's viewer count and return the total across processes.
    Raises a ``broker.UNAVAILABLE_ERRORS`` error when Redis is down."""
    redis = client if client is not None else broker.async_client()
    total = await redis.eval(
        _REPORT, 2, counts_key, expiries_key, PROCESS_ID, viewers, time.time(), TTL
    )
    return int(total)


def count(*, counts_key: str, expiries_key: str) -> int:
    """Viewers now, summed over live processes (read only)."""
    client = broker.client()
    alive: list[Any] = list(client.zrangebyscore(expiries_key, time.time(), "+inf"))
    if not alive:
        return 0
    values = client.hmget(counts_key, alive)
    return sum(int(v) for v in values if v is not None)
