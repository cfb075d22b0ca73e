"""The playground and chat streams against the real site under uvicorn and the real Redis."""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis

from tests.sandbox.sse import Learner, receivers
from tests.support.servers import AsgiServer, make_database, migrate

pytestmark = pytest.mark.redis


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


def numsub(url: str, channel: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(dict(client.pubsub_numsub(channel))[channel.encode()])
    finally:
        client.close()


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_subscribe_confirmation_first_then_the_message_with_prefix_stripped(
    site_server: AsgiServer,
) -> None:
    async def scenario() -> None:
        ann = Learner(site_server.base_url)
        await ann.open()
        async with ann.stream("/sandbox/stream/?kind=channel&name=chat") as stream:
            first = html.unescape((await stream.next("msg")).data)
            assert "{'type': 'subscribe', 'pattern': None, 'channel': b'chat', 'data': 1}" in first
            assert "sandbox:" not in first
            await ann.publish("chat", "hello")
            second = html.unescape((await stream.next("msg")).data)
            assert "'type': 'message'" in second and "'data': b'hello'" in second
        await ann.aclose()

    run(scenario)


def test_sse_headers(site_server: AsgiServer) -> None:
    async def scenario() -> None:
        ann = Learner(site_server.base_url)
        await ann.open()
        async with ann.stream("/sandbox/stream/?kind=channel&name=chat") as stream:
            headers = stream.response.headers
            assert headers["content-type"].startswith("text/event-stream")
            assert headers["cache-control"] == "no-cache"
            assert headers["x-accel-buffering"] == "no"
        await ann.aclose()

    run(scenario)


def test_publish_count_matches_the_subscribers(site_server: AsgiServer) -> None:
    async def scenario() -> None:
        ann = Learner(site_server.base_url)
        await ann.open()
        assert receivers(await ann.publish("chat", "nobody yet")) == 0
        async with (
            ann.stream("/sandbox/stream/?kind=channel&name=chat") as one,
            ann.stream("/sandbox/stream/?kind=pattern&name=ch*") as two,
        ):
            await one.next("msg")
            await two.next("msg")
            resp = await ann.publish("chat", "both")
            assert receivers(resp) == 2
            assert "2 subscribers received it." in resp.text
            assert "'pattern': b'ch*'" in html.unescape((await two.next("msg")).data)
        await ann.aclose()

    run(scenario)


def test_two_learners_are_isolated(site_server: AsgiServer, real_redis_url: str) -> None:
    async def scenario() -> None:
        ann, bob = Learner(site_server.base_url), Learner(site_server.base_url)
        await ann.open()
        await bob.open()
        assert ann.key and bob.key and ann.key != bob.key
        async with ann.stream("/sandbox/stream/?kind=pattern&name=*") as everything:
            await everything.next("msg")
            # Bob publishes on the same plain name: it is his channel, not Ann's.
            assert receivers(await bob.publish("chat", "from bob")) == 0
            assert receivers(await ann.publish("chat", "from ann")) == 1
            got = html.unescape((await everything.next("msg")).data)
            assert "from ann" in got
            with pytest.raises(asyncio.TimeoutError):
                await everything.next("msg", timeout=0.5)
        await ann.aclose()
        await bob.aclose()

    run(scenario)


def test_late_joiner_sees_nothing_published_earlier(site_server: AsgiServer) -> None:
    async def scenario() -> None:
        ann = Learner(site_server.base_url)
        await ann.open()
        await ann.publish("news", "too early")
        async with ann.stream("/sandbox/stream/?kind=channel&name=news") as stream:
            await stream.next("msg")
            await ann.publish("news", "on time")
            assert "on time" in (await stream.next("msg")).data
        await ann.aclose()

    run(scenario)


def test_closing_the_stream_releases_the_subscription(
    site_server: AsgiServer, real_redis_url: str
) -> None:
    holder: dict[str, Any] = {}

    async def scenario() -> None:
        ann = Learner(site_server.base_url)
        await ann.open()
        channel = f"sandbox:{ann.key}:gone"
        holder["channel"] = channel
        holder["before"] = numsub(real_redis_url, channel)
        async with ann.stream("/sandbox/stream/?kind=channel&name=gone") as stream:
            await stream.next("msg")
            holder["during"] = numsub(real_redis_url, channel)
        await ann.aclose()

    run(scenario)
    assert holder["during"] == holder["before"] + 1
    assert wait_until(lambda: numsub(real_redis_url, holder["channel"]) == holder["before"])


def test_stream_cap_per_learner_says_the_limit(site_server: AsgiServer) -> None:
    from sandbox import limits

    async def scenario() -> None:
        ann = Learner(site_server.base_url)
        await ann.open()
        streams = [
            ann.stream(f"/sandbox/stream/?kind=channel&name=c{i}")
            for i in range(limits.STREAMS_PER_LEARNER + 1)
        ]
        opened = [await s.__aenter__() for s in streams]
        try:
            for stream in opened[:-1]:
                await stream.next("msg")
            refused = await opened[-1].next("end")
            assert f"You already have {limits.STREAMS_PER_LEARNER} live streams" in refused.data
        finally:
            for s in reversed(streams):
                await s.__aexit__(None, None, None)
            await ann.aclose()

    run(scenario)


def test_chat_reaches_a_second_server_process(site_server: AsgiServer, real_redis_url: str) -> None:
    database = make_database()
    migrate(database)
    other = AsgiServer(database=database, redis_url=real_redis_url)

    async def scenario() -> None:
        ann, bob = Learner(site_server.base_url), Learner(other.base_url)
        room = "room-t" + str(time.monotonic_ns())[-8:]
        for who, nick in ((ann, "ann"), (bob, "bob")):
            await who.open(f"/sandbox/chat/{room}/")
            assert (
                await who.post(f"/sandbox/chat/{room}/nick/", {"nick": nick})
            ).status_code == 200
        # Ann's join notice is read before bob connects: the two servers publish their join
        # notices independently, and on a busy machine bob's could otherwise arrive first.
        async with ann.stream(f"/sandbox/chat/{room}/events/") as ann_lines:
            assert "ann joined" in (await ann_lines.next("line")).data
            async with bob.stream(f"/sandbox/chat/{room}/events/") as bob_lines:
                await bob_lines.next("line")  # bob's own join notice
                sent = await ann.post(f"/sandbox/chat/{room}/send/", {"text": "<b>hi</b> bob"})
                assert sent.status_code == 200
                line = (await bob_lines.next("line")).data
                assert "&lt;b&gt;hi&lt;/b&gt; bob" in line and "<b>hi" not in line
        # Closing bob's stream tells the others he left.
        await ann.aclose()
        await bob.aclose()

    try:
        run(scenario)
    finally:
        other.stop()
