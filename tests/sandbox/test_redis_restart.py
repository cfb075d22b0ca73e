"""Redis goes away mid-stream: the page is told within seconds, and the stream recovers."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Iterator

import pytest

from tests.sandbox.sse import Learner, receivers
from tests.support.redis_server import PrivateRedis
from tests.support.servers import AsgiServer, make_database, migrate

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def private_site(private_redis: PrivateRedis) -> Iterator[AsgiServer]:
    database = make_database()
    migrate(database)
    server = AsgiServer(database=database, redis_url=private_redis.url)
    yield server
    server.stop()


def test_stream_survives_a_redis_restart(
    private_redis: PrivateRedis, private_site: AsgiServer
) -> None:
    async def scenario() -> None:
        ann = Learner(private_site.base_url)
        await ann.open()
        async with ann.stream("/sandbox/stream/?kind=channel&name=chat") as stream:
            assert "'type': 'subscribe'" in html.unescape((await stream.next("msg")).data)
            await asyncio.to_thread(private_redis.stop)
            down = await stream.next("status", timeout=8)
            assert 'data-state="down"' in down.data and "Redis is not answering" in down.data
            # While Redis is down the site keeps serving, and publishing says why it cannot.
            for path in ("/sandbox/", "/sandbox/chat/", "/sandbox/chat/lobby/"):
                assert (await ann.client.get(path)).status_code == 200
            refused = await ann.publish("chat", "lost")
            assert refused.status_code == 503
            await asyncio.to_thread(private_redis.start)
            back = await stream.next("status", timeout=10)
            assert 'data-state="ok"' in back.data
            assert "'type': 'subscribe'" in html.unescape((await stream.next("msg")).data)
            assert receivers(await ann.publish("chat", "after")) == 1
            assert "after" in (await stream.next("msg")).data
        await ann.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 60))
