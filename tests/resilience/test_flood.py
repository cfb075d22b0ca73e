"""A flood of publishes from one learner: the flood gets 429s with a Retry-After, other
learners are unaffected, and Redis's memory stays bounded (the limiter keeps one small
counter per learner and window, with an expiry)."""

from __future__ import annotations

import asyncio
import math
import time

import pytest
import redis

from sandbox import limits
from tests.resilience.client import Browser
from tests.support.redis_server import PrivateRedis
from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

FLOOD = 300
BURST = 25


def test_publish_flood_is_limited_and_others_are_unaffected(
    private_redis: PrivateRedis, private_site: AsgiServer
) -> None:
    r = redis.Redis.from_url(private_redis.url, socket_timeout=5)

    async def scenario() -> None:
        flooder, other = Browser(private_site.base_url), Browser(private_site.base_url)
        try:
            key = await flooder.learner_key()
            await other.learner_key()
            for who, nick in ((other, "eve"), (flooder, "spammer")):
                named = await who.post("/sandbox/chat/flood/nick/", {"nick": nick})
                assert named.status_code == 200, named.text[:300]
            room = await other.stream("/sandbox/chat/flood/events/")
            await room.next("status", where=lambda e: 'data-state="live"' in e.data)
            memory_before = int(r.info("memory")["used_memory"])
            keys_before = int(r.dbsize())

            async def one(i: int) -> int:
                path = "/sandbox/publish/" if i % 2 else "/sandbox/chat/flood/send/"
                data = {"channel": "spam", "message": f"spam {i}"} if i % 2 else {"text": f"x{i}"}
                return (await flooder.post(path, data)).status_code

            # As fast as the server takes them, 25 at a time: wider bursts exhaust
            # PostgreSQL's connections first (finding F2), which is not what this tests.
            statuses: list[int] = []
            began = time.monotonic()
            for start in range(0, FLOOD, BURST):
                statuses += await asyncio.gather(*(one(i) for i in range(start, start + BURST)))
            took = time.monotonic() - began
            # At most one window's worth per window the flood touched (on a loaded machine
            # the flood itself may take several windows).
            # Odd requests publish, even ones send a chat line: each has its own budget.
            windows = math.ceil(took / min(limits.PUBLISH_WINDOW, limits.CHAT_WINDOW)) + 1
            published = statuses[1::2].count(200)
            chatted = statuses[0::2].count(200)
            assert 0 < published <= windows * limits.PUBLISH_RATE, (took, statuses[1::2])
            assert 0 < chatted <= windows * limits.CHAT_RATE, (took, statuses[0::2])
            accepted = published + chatted
            assert statuses.count(429) == FLOOD - accepted, sorted(set(statuses))
            # Right after it the flooder is refused again: at once if the window it filled is
            # still running, else once it has spent the new window's few.
            for _ in range(limits.PUBLISH_RATE + 1):
                refused = await flooder.post(
                    "/sandbox/publish/", {"channel": "spam", "message": "1"}
                )
                if refused.status_code == 429:
                    break
            assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
            assert "Slow down" in refused.text

            # Another learner publishes and chats as if nothing happened.
            mine = await other.post("/sandbox/publish/", {"channel": "news", "message": "hello"})
            assert mine.status_code == 200
            said = await other.post("/sandbox/chat/flood/send/", {"text": "still fine"})
            assert said.status_code == 200
            await room.next("line", where=lambda e: "still fine" in e.data)

            # The flooder's windows (publishes and chat lines, per learner; admission keys).
            counters = [
                c
                for name in ("publish", "chat-line")
                for c in r.scan_iter(match=f"*:rate:{name}:learner:{key}*")
            ]
            assert 1 <= len(counters) <= 4, counters
            # Every counter expires (-1 would be one kept for ever); one may have expired
            # already (-2) when the flood spanned several windows.
            ttls = [r.ttl(c) for c in counters]
            assert all(t == -2 or 0 < t <= 2 * limits.PUBLISH_WINDOW for t in ttls), ttls
            # What the flood leaves in Redis is a constant handful of keys, not one per
            # message (FLOOD of them): admission counts each rate per learner, per address
            # and site-wide, and the open stream's claim the same three ways, about a dozen keys
            # however long the flood. used_memory also counts the burst's client connections
            # (about 20 of them, some hundreds of KB), so it only gets a loose bound. Chat
            # seats and the room's own notice rate add a few keys of their own (13 seen
            # when the flood spanned three windows on a loaded machine).
            assert int(r.dbsize()) - keys_before <= 20
            grown = int(r.info("memory")["used_memory"]) - memory_before
            assert grown < 4 * 1024 * 1024, f"Redis memory grew by {grown} bytes during the flood"
        finally:
            await flooder.aclose()
            await other.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 90))
