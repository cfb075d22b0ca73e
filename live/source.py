"""The hub's connection to Redis: one SUBSCRIBE on ``live:<feed>`` that notices when
Redis goes away instead of waiting forever on a dead socket."""

from __future__ import annotations

import time
from typing import Any, Protocol

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from learnsite import broker
from live.feeds import channel, state_key

PING_AFTER = 2.0  # seconds of silence before we ask Redis whether it is still there
DEAD_AFTER = 5.0  # seconds of silence (no message, no PONG) after which we give up on it


class RedisSilent(ConnectionError):
    """Redis stopped answering on the subscription connection."""


class Subscription(Protocol):
    async def next(self, timeout: float) -> bytes | None: ...
    async def state(self) -> bytes | None: ...
    async def close(self) -> None: ...


class RedisSubscription:
    """SUBSCRIBE on a client of its own. redis-py's own reconnect-and-resubscribe is
    turned off (``Retry(NoBackoff(), 0)``): a reconnect has to be seen by the hub,
    because viewers missed whatever was published while it was down."""

    def __init__(self, feed: str) -> None:
        self.feed = feed
        self._client: Any = broker.new_async_client(
            socket_timeout=DEAD_AFTER, retry=Retry(NoBackoff(), 0), health_check_interval=0
        )
        self._pubsub: Any = self._client.pubsub()
        self._heard = time.monotonic()
        self._pinged = 0.0

    async def open(self) -> RedisSubscription:
        await self._pubsub.subscribe(channel(self.feed))
        # Wait for the confirmation, so a caller knows messages from now on reach us.
        deadline = time.monotonic() + DEAD_AFTER
        while time.monotonic() < deadline:
            reply = await self._pubsub.get_message(timeout=DEAD_AFTER)
            if reply is not None and reply["type"] == "subscribe":
                self._heard = time.monotonic()
                return self
        raise RedisSilent("Redis did not confirm SUBSCRIBE")

    async def next(self, timeout: float) -> bytes | None:
        reply = await self._pubsub.get_message(timeout=timeout)
        now = time.monotonic()
        if reply is not None:
            self._heard = now
            if reply["type"] == "message":
                return bytes(reply["data"])
            return None  # a PONG or a (un)subscribe confirmation
        silent = now - self._heard
        if silent > DEAD_AFTER:
            raise RedisSilent(f"no reply from Redis for {silent:.1f} s")
        if silent > PING_AFTER and now - self._pinged > PING_AFTER:
            self._pinged = now
            await self._pubsub.ping()
        return None

    async def state(self) -> bytes | None:
        value = await self._client.get(state_key(self.feed))
        return bytes(value) if value is not None else None

    async def close(self) -> None:
        try:
            await self._pubsub.aclose()
        finally:
            await self._client.aclose()


async def redis_source(feed: str) -> Subscription:
    sub = RedisSubscription(feed)
    try:
        return await sub.open()
    except BaseException:
        await sub.close()
        raise
