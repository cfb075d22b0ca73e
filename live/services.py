"""Writes to a live feed: the publisher helper every driver should use."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

from learnsite import broker
from live.feeds import FEEDS_KEY, STATE_TTL_SECONDS, channel, seq_key, state_key, validate_feed


@dataclass(frozen=True)
class Published:
    feed: str
    seq: int
    body: str
    receivers: int  # Redis subscribers (hubs, one per serving process) that got it


def now_ms() -> int:
    return int(time.time() * 1000)


def feed_publish(*, feed: str, event: Mapping[str, object]) -> Published:
    """Stamp ``event`` with ``feed``, ``seq`` and ``ts`` (ms since epoch), store it as the
    feed's latest state, and PUBLISH it on ``live:<feed>``, in one MULTI/EXEC.

    The state is written before the message goes out, so a viewer who subscribes and
    then reads the state never sees an older score than the stream it joins.
    """
    validate_feed(feed)
    client = broker.client()
    seq = int(client.incr(seq_key(feed)))
    body = json.dumps({"feed": feed, "seq": seq, "ts": now_ms(), **event}, separators=(",", ":"))
    pipe = client.pipeline(transaction=True)
    pipe.set(state_key(feed), body, ex=STATE_TTL_SECONDS)
    pipe.expire(seq_key(feed), STATE_TTL_SECONDS)
    pipe.sadd(FEEDS_KEY, feed)
    pipe.publish(channel(feed), body)
    results = pipe.execute()
    return Published(feed=feed, seq=seq, body=body, receivers=int(results[-1]))


async def afeed_publish(*, feed: str, event: Mapping[str, object]) -> Published:
    """:func:`feed_publish` on the async client (a match played on the event loop)."""
    validate_feed(feed)
    client = broker.async_client()
    seq = int(await client.incr(seq_key(feed)))
    body = json.dumps({"feed": feed, "seq": seq, "ts": now_ms(), **event}, separators=(",", ":"))
    pipe = client.pipeline(transaction=True)
    pipe.set(state_key(feed), body, ex=STATE_TTL_SECONDS)
    pipe.expire(seq_key(feed), STATE_TTL_SECONDS)
    pipe.sadd(FEEDS_KEY, feed)
    pipe.publish(channel(feed), body)
    results = await pipe.execute()
    return Published(feed=feed, seq=seq, body=body, receivers=int(results[-1]))


def feed_reset(*, feed: str) -> None:
    """Forget a feed's state and sequence (a new match starts from nothing)."""
    validate_feed(feed)
    broker.client().delete(state_key(feed), seq_key(feed))
