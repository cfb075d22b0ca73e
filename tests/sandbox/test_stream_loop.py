"""The playground's subscription loop on fakeredis: keepalives, cleanup on cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio.client import PubSub

from learnsite import streaming
from sandbox import streams


def _subscriber(channel: str) -> Any:
    async def subscribe(pubsub: PubSub) -> None:
        await pubsub.subscribe(channel)

    return subscribe


def test_idle_stream_sends_keepalive_comments(
    fake_redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "KEEPALIVE_EVERY", 0.2)
    monkeypatch.setattr(streams, "POLL", 0.05)

    async def scenario() -> list[bytes]:
        chunks: list[bytes] = []
        events = streams.subscription_events(
            subscribe=_subscriber("k"),
            render=lambda m: streaming.frame(str(m), event="msg"),
            down_message="down",
        )
        async for chunk in events:
            chunks.append(chunk)
            if chunk.startswith(b":"):
                break
        await events.aclose()  # type: ignore[attr-defined]
        return chunks

    chunks = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert chunks[0].startswith(b"retry: ")
    assert b"'type': 'subscribe'" in chunks[2]
    assert chunks[-1] == streaming.KEEPALIVE == b": keep-alive\n\n"


def test_cancelled_stream_unsubscribes_and_calls_the_close_hook(fake_redis: Any) -> None:
    closed: list[bool] = []

    async def on_close() -> None:
        closed.append(True)

    async def scenario() -> None:
        got_first = asyncio.Event()

        async def consume() -> None:
            async for chunk in streams.subscription_events(
                subscribe=_subscriber("gone"),
                render=lambda m: streaming.frame(str(m), event="msg"),
                down_message="down",
                before_close=on_close,
            ):
                if b"subscribe" in chunk:
                    got_first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(got_first.wait(), 5)
        assert dict(fake_redis.pubsub_numsub("gone"))[b"gone"] == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert dict(fake_redis.pubsub_numsub("gone"))[b"gone"] == 0
    assert closed == [True]


def test_redis_down_is_reported_as_a_status_event(settings: Any) -> None:
    # The autouse fixture points settings at a port where nothing listens.
    async def scenario() -> bytes:
        async for chunk in streams.subscription_events(
            subscribe=_subscriber("x"), render=lambda m: None, down_message="Redis is down"
        ):
            if chunk.startswith(b"event: status"):
                return chunk
        raise AssertionError("no status event")

    chunk = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert b'data-state="down"' in chunk and b"Redis is down" in chunk
