"""A live feed's subscription for the hub: ``SUBSCRIBE live:<feed>``, which also writes
what it hears back as the feed's state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from learnsite.fanout.source import ChannelSubscription, Subscription, opened
from live.feeds import FEEDS_KEY, STATE_TTL_SECONDS, channel, state_key

logger = logging.getLogger(__name__)

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
    return await opened(RedisSubscription(feed))
