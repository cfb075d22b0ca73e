"""The hub's connection to Redis: one SUBSCRIBE on ``live:<feed>`` that notices when
Redis goes away instead of waiting forever on a dead socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol, Self

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from learnsite import broker
from live.feeds import FEEDS_KEY, STATE_TTL_SECONDS, channel, state_key

logger = logging.getLogger(__name__)

PING_AFTER = 2.0  # seconds of silence before we ask Redis whether it is still there
DEAD_AFTER = 5.0  # seconds of silence (no message, no PONG) after which we give up on it

# Write a body heard on the channel back as the feed's state, unless the stored state is
# the same body or is newer by the rule of live/freshness.py. Every process serving the
# feed runs this for every message; the compare makes them agree whatever order their
# writes land in (bodies with neither seq nor ts: last writer wins, with the same body).
STORE_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then return 0 end
if current then
  local ok_new, new = pcall(cjson.decode, ARGV[1])
  local ok_old, old = pcall(cjson.decode, current)
  if ok_new and ok_old and type(new) == 'table' and type(old) == 'table' then
    if type(new.seq) == 'number' and type(old.seq) == 'number' then
      if new.seq < old.seq then return 0 end
    elseif type(new.ts) == 'number' and type(old.ts) == 'number' then
      if new.ts < old.ts then return 0 end
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""


class RedisSilent(ConnectionError):
    """Redis stopped answering on the subscription connection."""


class Subscription(Protocol):
    async def next(self, timeout: float) -> bytes | None: ...
    async def state(self) -> bytes | None: ...
    async def close(self) -> None: ...


class ChannelSubscription:
    """SUBSCRIBE to one channel on a client of its own, for a hub. redis-py's own
    reconnect-and-resubscribe is turned off (``Retry(NoBackoff(), 0)``): a reconnect has to
    be seen by the hub, because viewers missed whatever was published while it was down.
    Silence is noticed too: after ``PING_AFTER`` s we ask, after ``DEAD_AFTER`` s we give up.

    Subclasses say what a message becomes (``_on_message``) and what the state is."""

    def __init__(self, channel_name: str) -> None:
        self.channel = channel_name
        self._client: Any = broker.new_async_client(
            socket_timeout=DEAD_AFTER, retry=Retry(NoBackoff(), 0), health_check_interval=0
        )
        self._pubsub: Any = self._client.pubsub()
        self._heard = time.monotonic()
        self._pinged = 0.0

    async def open(self) -> Self:
        await self._pubsub.subscribe(self.channel)
        # Wait for the confirmation, so a caller knows messages from now on reach us.
        deadline = time.monotonic() + DEAD_AFTER
        while time.monotonic() < deadline:
            reply = await self._pubsub.get_message(timeout=DEAD_AFTER)
            if reply is not None and reply["type"] == "subscribe":
                self._heard = time.monotonic()
                return self
        raise RedisSilent("Redis did not confirm SUBSCRIBE")

    def _on_message(self, data: bytes) -> bytes:
        return data

    async def next(self, timeout: float) -> bytes | None:
        reply = await self._pubsub.get_message(timeout=timeout)
        now = time.monotonic()
        if reply is not None:
            self._heard = now
            if reply["type"] == "message":
                return self._on_message(bytes(reply["data"]))
            return None  # a PONG or a (un)subscribe confirmation
        silent = now - self._heard
        if silent > DEAD_AFTER:
            raise RedisSilent(f"no reply from Redis for {silent:.1f} s")
        if silent > PING_AFTER and now - self._pinged > PING_AFTER:
            self._pinged = now
            await self._pubsub.ping()
        return None

    async def state(self) -> bytes | None:
        return None

    async def close(self) -> None:
        try:
            await self._pubsub.aclose()
        finally:
            await self._client.aclose()


class RedisSubscription(ChannelSubscription):
    """The subscription of a live feed, ``live:<feed>``, which also keeps the feed's state."""

    def __init__(self, feed: str) -> None:
        super().__init__(channel(feed))
        self.feed = feed
        self._store_script: Any = self._client.register_script(STORE_IF_NEWER)
        self._to_store: bytes | None = None
        self._storing: asyncio.Task[None] | None = None

    def _on_message(self, data: bytes) -> bytes:
        self._remember(data)
        return data

    async def state(self) -> bytes | None:
        value = await self._client.get(state_key(self.feed))
        return bytes(value) if value is not None else None

    def _remember(self, body: bytes) -> None:
        """Keep ``body`` as the feed's state (a raw PUBLISH does not write it). Off the
        hot path: one writer task per subscription, which only writes the latest body."""
        self._to_store = body
        if self._storing is None or self._storing.done():
            self._storing = asyncio.create_task(self._store(), name=f"live-state:{self.feed}")

    async def _store(self) -> None:
        while self._to_store is not None:
            body, self._to_store = self._to_store, None
            try:
                await self._store_script(
                    keys=[state_key(self.feed), FEEDS_KEY],
                    args=[body, STATE_TTL_SECONDS, self.feed],
                )
            except Exception as exc:  # the reader notices a lost Redis; this only logs
                logger.warning("live: could not store the state of %s: %s", self.feed, exc)
                return

    async def close(self) -> None:
        if self._storing is not None and not self._storing.done():
            # Let the last write land (briefly) so the state is not left stale.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._storing), 1.0)
        await super().close()


async def redis_source(feed: str) -> Subscription:
    sub = RedisSubscription(feed)
    try:
        return await sub.open()
    except BaseException:
        await sub.close()
        raise
