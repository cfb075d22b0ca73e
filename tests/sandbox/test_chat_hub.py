"""Chat rooms share one subscription per server process (the live app's hub)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
import redis

from learnsite.fanout.frames import KEEPALIVE, REDIS_DOWN, REDIS_UP, Message, Resync, Viewers
from sandbox import chat_hub
from tests.sandbox.sse import Learner
from tests.support.servers import AsgiServer


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


def numsub(url: str, channel: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(dict(client.pubsub_numsub(channel))[channel.encode()])
    finally:
        client.close()


async def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.05)
    return check()


def test_a_line_is_rendered_once_as_escaped_html() -> None:
    html = chat_hub.line_html(b'{"kind": "message", "nick": "<i>ann</i>", "text": "<script>x"}')
    assert "&lt;i&gt;ann&lt;/i&gt;" in html and "&lt;script&gt;x" in html
    assert "<script>" not in html
    assert "not json" in chat_hub.line_html(b"not json")


def test_hub_frames_become_the_chat_page_events() -> None:
    down = "Redis is not answering."
    line = chat_hub._translate(Message(b"<li>hi</li>"), down)
    assert line == b"event: line\ndata: <li>hi</li>\n\n"
    assert b"event: status" in chat_hub._translate(REDIS_DOWN, down)
    assert down.encode() in chat_hub._translate(REDIS_DOWN, down)
    assert chat_hub._translate(REDIS_UP, down) == b""
    assert b"lost" in chat_hub._translate(Resync(b"{}"), down)
    assert chat_hub._translate(KEEPALIVE, down) == b": keep-alive\n\n"
    assert chat_hub._translate(Viewers(2), down) == b""


@pytest.mark.redis
def test_tabs_in_a_room_share_one_subscription_released_by_the_last(
    site_server: AsgiServer, real_redis_url: str
) -> None:
    room = "hub-t" + str(time.monotonic_ns())[-8:]
    channel = f"chat:{room}"

    async def scenario() -> None:
        ann, bob = Learner(site_server.base_url), Learner(site_server.base_url)
        for who, nick in ((ann, "ann"), (bob, "bob")):
            await who.open(f"/sandbox/chat/{room}/")
            assert (
                await who.post(f"/sandbox/chat/{room}/nick/", {"nick": nick})
            ).status_code == 200
        async with ann.stream(f"/sandbox/chat/{room}/events/") as ann_lines:
            status = await ann_lines.next("status")
            assert 'data-state="live"' in status.data
            assert "ann joined" in (await ann_lines.next("line")).data
            async with bob.stream(f"/sandbox/chat/{room}/events/") as bob_lines:
                assert "bob joined" in (await bob_lines.next("line")).data
                assert "bob joined" in (await ann_lines.next("line")).data
                # Two tabs, one server process: Redis sees one subscriber.
                assert numsub(real_redis_url, channel) == 1
                sent = await ann.post(f"/sandbox/chat/{room}/send/", {"text": "<b>hi</b>"})
                assert sent.status_code == 200
                for lines in (ann_lines, bob_lines):
                    got = (await lines.next("line")).data
                    assert "&lt;b&gt;hi&lt;/b&gt;" in got and "<b>hi" not in got
            assert "bob left" in (await ann_lines.next("line")).data
            assert numsub(real_redis_url, channel) == 1  # ann is still there
        assert await wait_for(lambda: numsub(real_redis_url, channel) == 0)
        await ann.aclose()
        await bob.aclose()

    run(scenario)
