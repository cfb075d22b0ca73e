"""The console's one exception to its namespace: PUBLISH to a shared demo feed reaches the
real feed (validated, rate-limited, explained); every other channel stays namespaced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from live.feeds import FEEDS_KEY, state_key
from live.shared import CONSOLE_FEED_PUBLISHES
from tests.console.conftest import console
from tests.live.test_stream import wait_for

pytestmark = pytest.mark.redis


@pytest.fixture
def demo(ns: str, settings: Any, redis_url: str) -> Iterator[str]:
    feed = f"{ns}-demo"
    settings.LIVE_DEMO_FEEDS = [feed]
    yield feed
    # Its keys go with the ns fixture; its name in the shared set of feeds goes here.
    client = redis.Redis.from_url(redis_url)
    client.srem(FEEDS_KEY, feed)
    client.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _listen(client: redis.Redis, *channels: str) -> Any:
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(*channels)
    # Subscribed before anything is published (pub/sub keeps nothing for latecomers).
    wait_for(lambda: all(n == 1 for _, n in client.pubsub_numsub(*channels)), 30, "subscriptions")
    return pubsub


def _next(pubsub: Any) -> Any:
    for _ in range(100):  # subscribe confirmations come first; each wait is up to 10 s
        message = pubsub.get_message(timeout=10)
        if message is not None and message["type"] in ("message", b"message"):
            return message
    raise AssertionError("no message")


def test_publish_to_the_demo_feed_reaches_its_viewers_and_says_it_is_shared(
    learner: str, demo: str, raw: redis.Redis
) -> None:
    pubsub = _listen(raw, f"live:{demo}")
    reply = console(learner, f'PUBLISH live:{demo} \'{{"text": "Hello from the console"}}\'')
    assert reply.status == 200
    assert reply.output.startswith("(integer) 1\n"), reply.output
    assert f"live:{demo} is shared" in reply.output
    assert "not a channel in your namespace" in reply.output
    assert "every other channel you name stays yours" in reply.output
    body = json.loads(_next(pubsub)["data"])
    assert body["text"] == "Hello from the console"
    assert body["feed"] == demo and body["seq"] == 1 and isinstance(body["ts"], int)
    assert json.loads(raw.get(state_key(demo)) or b"{}")["text"] == "Hello from the console"
    assert not raw.exists(f"console:{learner}:live:{demo}")
    pubsub.close()


def test_other_live_channels_stay_in_the_learners_namespace(
    learner: str, demo: str, ns: str, raw: redis.Redis
) -> None:
    other = f"live:{ns}-cup-final"
    pubsub = _listen(raw, other, f"console:{learner}:{other}")
    reply = console(learner, f'PUBLISH {other} \'{{"text": "hi"}}\'')
    assert reply.output.startswith("(integer) 1\n(note) ")
    assert f"{other} is a channel in your own namespace" in reply.output
    assert f"The one shared channel is the demo feed (live:{demo})" in reply.output
    message = _next(pubsub)
    assert message["channel"] == f"console:{learner}:{other}".encode()
    # One PUBLISH reaches one channel: the learner's own, never the real live: one.
    assert message["data"] == b'{"text": "hi"}'
    pubsub.close()


@pytest.mark.parametrize(
    ("message", "explained"),
    [
        ("not-json", "The message is not JSON"),
        ("'[1, 2]'", "not an object"),
        ('\'{"score": {"home": 1}}\'', '"text" must be a string'),
        ('\'{"text": "x", "seq": 9}\'', "the site stamps feed, seq and ts itself"),
        ('\'{"text": "x", "minute": 500}\'', '"minute" must be a whole number'),
    ],
)
def test_a_bad_update_is_explained_and_not_published(
    learner: str, demo: str, raw: redis.Redis, message: str, explained: str
) -> None:
    reply = console(learner, f"PUBLISH live:{demo} {message}")
    assert reply.status == 400
    assert reply.output.startswith("(error) ")
    assert explained in reply.output
    assert f'For example: PUBLISH live:{demo} \'{{"text"' in reply.output
    assert not raw.exists(state_key(demo))


def test_publishes_to_the_demo_feed_are_rate_limited(learner: str, demo: str) -> None:
    limit = CONSOLE_FEED_PUBLISHES.per_learner
    assert limit is not None
    line = f'PUBLISH live:{demo} \'{{"text": "again"}}\''
    for _ in range(limit):
        assert console(learner, line).status == 200
    refused = console(learner, line, client_addr="192.0.2.5")
    assert refused.status == 429
    assert "Slow down: the shared demo feed" in refused.output
    assert refused.retry_after is not None and refused.retry_after > 0
