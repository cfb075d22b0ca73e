"""A feed of each test's own that exists: streams are only served for feeds that are
configured or published to (``live:feeds``), so a test that opens a stream before
publishing anything says first that its feed exists."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from live.feeds import FEEDS_KEY


@pytest.fixture
def live_feed(ns: str, redis_url: str) -> Iterator[str]:
    feed = f"{ns}-match"
    client = redis.Redis.from_url(redis_url)
    client.sadd(FEEDS_KEY, feed)
    yield feed
    client.srem(FEEDS_KEY, feed)
    client.close()
