"""A hub's connection to Redis: one SUBSCRIBE on one channel that notices when Redis
goes away instead of waiting forever on a dead socket."""

from __future__ import annotations

import time
from typing import Any, Protocol, Self

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from learnsite import broker

# CLIENT SETNAME of every hub connection, so CLIENT LIST shows what the hubs hold (tests
# and `make abuse` count them; operators can see them).
CLIENT_NAME = "learnsite-fanout"
PING_AFTER = 2.0  # seconds of silence before we ask Redis whether it is still there
DEAD_AFTER = 5.0  # seconds of silence (no message, no PONG) after which we give up on it


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

    # True for learner traffic (chat rooms): the subscription is on the sandbox Redis.
    on_sandbox = False

    def __init__(self, channel_name: str) -> None:
        self.channel = channel_name
        build = broker.new_sandbox_async_client if self.on_sandbox else broker.new_async_client
        self._client: Any = build(
            socket_timeout=DEAD_AFTER,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            client_name=CLIENT_NAME,
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


async def opened(sub: ChannelSubscription) -> Subscription:
    """``sub`` subscribed, or closed again when subscribing fails."""
    try:
        return await sub.open()
    except BaseException:
        await sub.close()
        raise
