"""A kicked-off match against the real Redis: played into the feed, its claim given back
on every way out (finished, cancelled, failed), and lapsing by itself if nobody renews it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio as aredis

from learnsite import broker
from live import matches
from live.feeds import FEEDS_KEY, channel, match_key, state_key

pytestmark = pytest.mark.redis


def _run(coro: Coroutine[Any, Any, None], timeout: float = 90.0) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def demo(ns: str, settings: Any, redis_url: str) -> Iterator[str]:
    feed = f"{ns}-demo"
    settings.LIVE_DEMO_FEEDS = [feed]
    yield feed
    # Its keys go with the ns fixture; its name in the shared set of feeds goes here.
    client = redis.Redis.from_url(redis_url)
    client.srem(FEEDS_KEY, feed)
    client.close()


async def _next_body(pubsub: Any) -> dict[str, Any]:
    while True:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30)
        if message is not None:
            data: dict[str, Any] = json.loads(message["data"])
            return data


def test_a_match_plays_every_update_then_gives_its_claim_back(
    demo: str, redis_url: str, settings: Any
) -> None:
    settings.LIVE_MATCH_INTERVAL = 0.0

    async def scenario() -> None:
        listener = aredis.Redis.from_url(redis_url)
        pubsub = listener.pubsub()
        await pubsub.subscribe(channel(demo))
        match = await matches.match_claim(feed=demo, learner="a", address="192.0.2.1")
        client = broker.async_client()
        assert await client.get(match_key(demo)) == match.id.encode()
        await matches.match_start(match=match)
        bodies = [await _next_body(pubsub) for _ in match.updates]
        assert [b["kind"] for b in bodies] == [u.kind for u in match.updates]
        assert [b["seq"] for b in bodies] == list(range(1, len(match.updates) + 1))
        assert bodies[-1]["kind"] == "fulltime"
        assert json.loads(await client.get(state_key(demo)))["kind"] == "fulltime"
        assert await client.exists(match_key(demo)) == 0
        await pubsub.aclose()
        await listener.aclose()

    _run(scenario())


def test_the_claim_is_released_when_the_match_task_is_cancelled(
    demo: str, redis_url: str, settings: Any
) -> None:
    settings.LIVE_MATCH_INTERVAL = 3600.0  # it would play for half a day: only a cancel ends it

    async def scenario() -> None:
        listener = aredis.Redis.from_url(redis_url)
        pubsub = listener.pubsub()
        await pubsub.subscribe(channel(demo))
        match = await matches.match_claim(feed=demo, learner="a", address="192.0.2.1")
        task = matches.match_start(match=match)
        assert (await _next_body(pubsub))["kind"] == "kickoff"  # it is playing
        client = broker.async_client()
        assert await client.get(match_key(demo)) == match.id.encode()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await client.exists(match_key(demo)) == 0
        assert task not in matches._PLAYING
        # The feed is free: the next kick-off is taken.
        again = await matches.match_claim(feed=demo, learner="b", address="192.0.2.2")
        assert await client.get(match_key(demo)) == again.id.encode()
        await pubsub.aclose()
        await listener.aclose()

    _run(scenario())


def test_the_claim_is_released_when_the_match_fails(
    demo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_publish(**_: Any) -> None:
        raise RuntimeError("the publish broke")

    monkeypatch.setattr(matches, "afeed_publish", broken_publish)

    async def scenario() -> None:
        match = await matches.match_claim(feed=demo, learner="a", address="192.0.2.1")
        client = broker.async_client()
        assert await client.exists(match_key(demo)) == 1
        with pytest.raises(RuntimeError, match="the publish broke"):
            await matches.match_play(match)
        assert await client.exists(match_key(demo)) == 0

    _run(scenario())


def test_a_claim_nobody_renews_lapses_by_itself(demo: str) -> None:
    """A process that dies mid-match stops renewing: its claim ends within one lease."""

    async def scenario() -> None:
        await matches.match_claim(feed=demo, learner="a", address="192.0.2.1")
        ttl_ms = await broker.async_client().pttl(match_key(demo))
        assert 0 < ttl_ms <= matches.LEASE_SECONDS * 1000

    _run(scenario())


def test_a_lease_taken_over_is_neither_renewed_nor_deleted_by_the_old_match(
    demo: str, settings: Any
) -> None:
    settings.LIVE_MATCH_INTERVAL = 0.0

    async def scenario() -> None:
        match = await matches.match_claim(feed=demo, learner="a", address="192.0.2.1")
        client = broker.async_client()
        # Its lease lapsed (the process stalled) and another match claimed the feed.
        await client.set(match_key(demo), b"someone-else", px=60_000)
        await matches.match_play(match)
        assert await client.get(match_key(demo)) == b"someone-else"

    _run(scenario())
