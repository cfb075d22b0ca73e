"""Redis stops for 2 s and for 15 s while learners read, answer and stream.

Lessons and quizzes must not notice. Every open stream (live feed, playground panel, chat
room, console) must say Redis is unavailable within 2 s. Within 5 s of Redis returning the
subscriptions are back on the server (PUBSUB NUMSUB), viewers get the current state, and
a message published after recovery reaches them: no deaf hub, no deaf stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import redis

from tests.resilience.client import Browser, EventStream, eventually
from tests.support.redis_server import PrivateRedis
from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

FEED = "outage"
ROOM = "outage-room"
LESSONS = ("why-a-broker", "publish-and-subscribe", "delivery-guarantees")
SAYS_DOWN_WITHIN = 2.0
BACK_WITHIN = 5.0


def _numsub(r: redis.Redis, channel: str) -> int:
    try:
        return int(dict(r.pubsub_numsub(channel))[channel.encode()])
    except redis.ConnectionError:
        return 0


def _publish_live(r: redis.Redis, feed: str, event: dict[str, Any]) -> str:
    """What live.services.feed_publish does: state first, then PUBLISH, in one MULTI."""
    body = json.dumps({"feed": feed, **event}, separators=(",", ":"))
    pipe = r.pipeline(transaction=True)
    pipe.set(f"live:{feed}:state", body, ex=600)
    pipe.publish(f"live:{feed}", body)
    pipe.execute()
    return body


def _is_down(stream_kind: str) -> Any:
    if stream_kind == "live":
        return lambda e: e.event == "status" and json.loads(e.data) == {"redis": "down"}
    if stream_kind == "console":
        return lambda e: e.event == "down"
    return lambda e: e.event == "status" and 'data-state="down"' in e.data


async def _keep_learning(site: Browser, until: float, statuses: list[tuple[str, int]]) -> None:
    """A learner who reads lessons and answers questions for the whole outage."""
    turn = 0
    while time.monotonic() < until or turn < 2:
        slug = LESSONS[turn % len(LESSONS)]
        lesson = await site.get(f"/lessons/{slug}/")
        statuses.append((f"lesson {slug}", lesson.status_code))
        answered = await site.answer_one(slug)
        if answered is not None:
            statuses.append((f"answer {slug}", answered.status_code))
            assert "quiz-options is-answered" in answered.text or answered.status_code != 200
        statuses.append(("quiz page", (await site.get(f"/quizzes/{slug}/")).status_code))
        turn += 1
        await asyncio.sleep(0.2)


async def _outage(redis_server: PrivateRedis, server: AsgiServer, down_for: float) -> None:
    r = redis.Redis.from_url(redis_server.url, socket_timeout=5)
    r.sadd("live:feeds", FEED)  # streams are served only for feeds that exist
    ann = Browser(server.base_url)
    reader = Browser(server.base_url)
    try:
        key = await ann.learner_key()
        nick = await ann.post(f"/sandbox/chat/{ROOM}/nick/", {"nick": "ann"})
        assert nick.status_code == 200, nick.text[:300]
        streams: dict[str, EventStream] = {
            "live": await ann.stream(f"/live/{FEED}/stream"),
            "sandbox": await ann.stream("/sandbox/stream/?kind=channel&name=news"),
            "chat": await ann.stream(f"/sandbox/chat/{ROOM}/events/"),
            "console": await ann.stream("/sandbox/console/stream/?c=news"),
        }
        channels = {
            "live": f"live:{FEED}",
            "sandbox": f"sandbox:{key}:news",
            "chat": f"chat:{ROOM}",
            "console": f"console:{key}:news",
        }
        await streams["sandbox"].next("status", where=lambda e: 'data-state="live"' in e.data)
        await streams["chat"].next("status", where=lambda e: 'data-state="live"' in e.data)
        await streams["console"].next("ready")
        await eventually(
            lambda: all(_numsub(r, c) >= 1 for c in channels.values()),
            timeout=10,
            what="every stream subscribed",
        )
        before = _publish_live(r, FEED, {"score": "1-0"})
        await streams["live"].next(where=lambda e: e.data == before)

        # Redis goes away.
        await asyncio.to_thread(redis_server.stop)
        stopped = time.monotonic()
        for kind, stream in streams.items():
            down = await stream.next(timeout=10, where=_is_down(kind))
            took = down.at - stopped
            assert took <= SAYS_DOWN_WITHIN, f"the {kind} stream said so after {took:.1f} s"

        # Meanwhile: lessons and quizzes work; the sandbox says why it cannot publish;
        # a viewer who arrives now is told Redis is down.
        statuses: list[tuple[str, int]] = []
        learning = asyncio.create_task(_keep_learning(reader, stopped + down_for, statuses))
        late = await reader.stream(f"/live/{FEED}/stream")
        await late.next(timeout=8, where=_is_down("live"))
        refused = await ann.post("/sandbox/publish/", {"channel": "news", "message": "lost"})
        assert refused.status_code == 503 and "Redis is not answering" in refused.text
        await learning
        assert statuses and all(code == 200 for _, code in statuses), statuses
        assert any(what.startswith("answer") for what, _ in statuses), statuses
        await late.close()

        # Redis comes back (empty: it keeps nothing on disk).
        await asyncio.to_thread(redis_server.start)
        back = time.monotonic()
        r = redis.Redis.from_url(redis_server.url, socket_timeout=5)
        took = await eventually(
            lambda: all(_numsub(r, channels[k]) >= 1 for k in ("live", "sandbox", "chat")),
            timeout=BACK_WITHIN,
            what="live, playground and chat subscribed again",
        )
        assert took <= BACK_WITHIN
        resync = await streams["live"].next("resync", timeout=BACK_WITHIN)
        assert resync.at - back <= BACK_WITHIN
        await streams["sandbox"].next(
            "status", timeout=BACK_WITHIN, where=lambda e: 'data-state="ok"' in e.data
        )
        await streams["chat"].next(
            "status", timeout=BACK_WITHIN, where=lambda e: 'data-state="ok"' in e.data
        )

        # No deaf hub: an update after recovery reaches the viewer who stayed.
        after = _publish_live(r, FEED, {"score": "2-1"})
        await streams["live"].next(where=lambda e: e.data == after)
        published = await ann.post("/sandbox/publish/", {"channel": "news", "message": "again"})
        assert published.status_code == 200 and 'data-receivers="1"' in published.text
        await streams["sandbox"].next("msg", where=lambda e: "again" in e.data)
        said = await ann.post(f"/sandbox/chat/{ROOM}/send/", {"text": "still here"})
        assert said.status_code == 200, said.text[:300]
        await streams["chat"].next("line", where=lambda e: "still here" in e.data)
        # The console's stream ended with its "down" event (the page resubscribes);
        # a new one works at once.
        console = await ann.stream("/sandbox/console/stream/?c=news")
        await console.next("ready")
        r.publish(f"console:{key}:news", "hello console")
        await console.next("message", where=lambda e: "hello console" in e.data)

        # Everyone leaves: every subscription is released.
        for stream in [*streams.values(), console]:
            await stream.close()
        await eventually(
            lambda: all(_numsub(r, c) == 0 for c in channels.values()),
            timeout=10,
            what="subscriptions released after the viewers left",
        )
    finally:
        await ann.aclose()
        await reader.aclose()


@pytest.mark.parametrize("down_for", [2.0, 15.0], ids=["down-2s", "down-15s"])
def test_redis_outage_while_learning_and_streaming(
    private_redis: PrivateRedis, private_site: AsgiServer, down_for: float
) -> None:
    asyncio.run(asyncio.wait_for(_outage(private_redis, private_site, down_for), 120))


def test_viewers_arriving_after_recovery_start_from_the_current_state(
    private_redis: PrivateRedis, private_site: AsgiServer
) -> None:
    async def scenario() -> None:
        r = redis.Redis.from_url(private_redis.url, socket_timeout=5)
        ann = Browser(private_site.base_url)
        try:
            # Several feeds at once, so the server's shared async pool holds a few connections.
            feeds = [f"{FEED}-{i}" for i in range(3)]
            r.sadd("live:feeds", *feeds)  # streams are served only for feeds that exist
            for stream in await asyncio.gather(*(ann.stream(f"/live/{f}/stream") for f in feeds)):
                await stream.next("viewers")
            await asyncio.to_thread(private_redis.stop)
            await asyncio.to_thread(private_redis.start)
            r = redis.Redis.from_url(private_redis.url, socket_timeout=5)
            await eventually(
                lambda: all(_numsub(r, f"live:{f}") == 1 for f in feeds),
                timeout=BACK_WITHIN,
                what="the hub subscribed again",
            )
            current = _publish_live(r, feeds[0], {"score": "3-3"})
            firsts = []
            for _ in range(4):
                fresh = await ann.stream(f"/live/{feeds[0]}/stream")
                firsts.append((await fresh.next()).data)
                await fresh.close()
            assert firsts == [current] * 4
        finally:
            await ann.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 60))
