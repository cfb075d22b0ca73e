"""The multiplexed stream (/streams/) against the real site under uvicorn and real Redis."""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

import pytest
import redis

from learnsite import multiplex
from tests.sandbox.sse import Learner, Stream
from tests.support.servers import AsgiServer

pytestmark = pytest.mark.redis


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


def mux_path(*targets: str) -> str:
    return "/streams/?" + urlencode([("s", target) for target in targets])


def channel(name: str) -> str:
    return f"/sandbox/stream/?kind=channel&name={name}"


async def record(stream: Stream, timeout: float = 10.0) -> dict[str, object]:
    got = await stream.next("message", timeout=timeout)
    parsed = json.loads(got.data)
    assert isinstance(parsed, dict)
    if isinstance(parsed.get("d"), str):
        parsed["d"] = html.unescape(parsed["d"])
    return parsed


async def until(stream: Stream, check: Callable[[dict[str, object]], bool]) -> dict[str, object]:
    while True:
        got = await record(stream)
        if check(got):
            return got


def numsub(url: str, name: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(dict(client.pubsub_numsub(name))[name.encode()])
    finally:
        client.close()


def claims_held(url: str, prefix: str, capacity: str, learner: str) -> int:
    """The learner's live claims of ``capacity`` (admission's sorted set, leases not ended)."""
    client = redis.Redis.from_url(url)
    try:
        now_ms = int(time.time() * 1000)
        return int(client.zcount(f"{prefix}:{capacity}:learner:{learner}", f"({now_ms}", "+inf"))
    finally:
        client.close()


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_parse_events_keeps_names_and_lines_and_the_unfinished_rest() -> None:
    buffer = bytearray(b"retry: 2000\n\n: keep-alive\n\nevent: msg\ndata: a\ndata: b\n\ndata: x")
    assert multiplex.parse_events(buffer) == [("msg", "a\nb")]
    assert bytes(buffer) == b"data: x"
    buffer += b"\r\n\r\n"
    assert multiplex.parse_events(buffer) == [(None, "x")]


def test_two_subscriptions_in_one_stream_get_their_own_events(
    site_server: AsgiServer, ns: str
) -> None:
    async def scenario() -> None:
        ann = Learner(site_server.base_url)
        await ann.open()
        path = mux_path(channel(f"{ns}a"), channel(f"{ns}b"))
        async with ann.stream(path) as stream:
            assert stream.response.headers["content-type"].startswith("text/event-stream")
            confirmed = set()
            while confirmed != {0, 1}:
                got = await until(stream, lambda r: r.get("e") == "msg")
                assert "'type': 'subscribe'" in str(got["d"])
                confirmed.add(int(str(got["s"])))
            await ann.publish(f"{ns}b", "for-b")
            got = await until(stream, lambda r: r.get("e") == "msg")
            assert got["s"] == 1 and "for-b" in str(got["d"])
            await ann.publish(f"{ns}a", "for-a")
            got = await until(stream, lambda r: r.get("e") == "msg")
            assert got["s"] == 0 and "for-a" in str(got["d"]) and "for-b" not in str(got["d"])
        await ann.aclose()

    run(scenario)


def test_a_refused_subscription_does_not_end_the_others(site_server: AsgiServer, ns: str) -> None:
    async def scenario() -> None:
        ann = Learner(site_server.base_url)
        await ann.open()
        path = mux_path(
            "/lessons/",  # a page, not a stream
            "https://elsewhere.example/sandbox/stream/",
            "/no/such/path/",
            "/sandbox/stream/?name=" + "x" * multiplex.MAX_PATH,
            "/sandbox/stream/?kind=channel&name=",  # the view refuses it on its stream
            "/sandbox/console/stream/",  # the view answers 400: no channel given
            channel(f"{ns}ok"),
        )
        async with ann.stream(path) as stream:
            ends: dict[int, str] = {}
            subscribed = False
            while len(ends) < 6 or not subscribed:
                got = await record(stream)
                if got.get("end"):
                    ends[int(str(got["s"]))] = str(got["why"])
                elif got["s"] == 6 and got["e"] == "msg":
                    subscribed = True  # publish only once the one left is subscribed
            assert {ends[i] for i in range(4)} == {multiplex.NOT_A_STREAM}
            assert ends[4] == "ended"
            assert ends[5].startswith("Give 1 to")  # the view's own message
            assert 6 not in ends
            await ann.publish(f"{ns}ok", "still-here")
            got = await until(stream, lambda r: "still-here" in str(r.get("d")))
            assert got["s"] == 6
        await ann.aclose()

    run(scenario)


def test_hundreds_of_subscriptions_in_one_stream_are_capped(
    site_server: AsgiServer, real_redis_url: str, ns: str
) -> None:
    async def scenario() -> None:
        ann = Learner(site_server.base_url)
        page = await ann.open()
        assert ann.key, page[:200]
        asked = 300
        path = mux_path(*(channel(f"{ns}c") for _ in range(asked)))
        async with ann.stream(path) as stream:
            ends: dict[int, str] = {}
            confirmed: set[int] = set()
            # Every one past the cap is refused at once; of those served, the learner's
            # own cap on playground streams (8) refuses the rest, as it would refuse tabs.
            while len(ends) + len(confirmed) < asked:
                got = await record(stream)
                index = int(str(got["s"]))
                if got.get("end"):
                    ends[index] = str(got["why"])
                elif got["e"] == "msg" and "'type': 'subscribe'" in str(got["d"]):
                    confirmed.add(index)
            too_many = multiplex.TOO_MANY.format(limit=multiplex.MAX_SUBSCRIPTIONS)
            assert [i for i, why in ends.items() if why == too_many] == list(
                range(multiplex.MAX_SUBSCRIPTIONS, asked)
            )
            assert len(confirmed) == 8
            assert numsub(real_redis_url, f"sandbox:{ann.key}:{ns}c") == 8
        await ann.aclose()
        assert wait_until(lambda: numsub(real_redis_url, f"sandbox:{ann.key}:{ns}c") == 0)

    run(scenario)


def test_a_stream_closed_at_once_releases_every_claim(
    site_server: AsgiServer, real_redis_url: str, ns: str
) -> None:
    async def scenario() -> None:
        ann = Learner(site_server.base_url)
        await ann.open()
        assert ann.key
        names = [f"{ns}x{i}" for i in range(8)]
        for _ in range(5):
            # Closed as soon as the response starts: the subscriptions may be half made.
            async with ann.stream(mux_path(*(channel(n) for n in names))) as stream:
                assert stream.response.status_code == 200
        assert wait_until(
            lambda: all(numsub(real_redis_url, f"sandbox:{ann.key}:{n}") == 0 for n in names)
        )
        # The slots are given back after the unsubscribe (a moment later): wait for them,
        # or the next stream races its own release (seen on PostgreSQL in CI).
        prefix = site_server.admission_prefix
        assert wait_until(
            lambda: claims_held(real_redis_url, prefix, "sandbox-streams", str(ann.key)) == 0
        ), claims_held(real_redis_url, prefix, "sandbox-streams", str(ann.key))
        # Every slot came back: all eight of the learner's streams open again.
        async with ann.stream(mux_path(*(channel(n) for n in names))) as stream:
            confirmed: set[int] = set()
            while len(confirmed) < 8:
                got = await record(stream)
                assert not got.get("end"), got
                if got["e"] == "msg":
                    confirmed.add(int(str(got["s"])))
        await ann.aclose()

    run(scenario)


def test_a_live_feed_and_a_playground_panel_share_one_stream(
    site_server: AsgiServer, redis_url: str, ns: str
) -> None:
    async def scenario() -> None:
        ann = Learner(site_server.base_url)
        await ann.open()
        path = mux_path("/live/demo/stream", channel(f"{ns}p"), "/live/nosuch-feed-x/stream")
        async with ann.stream(path) as stream:
            seen: dict[int, dict[str, object]] = {}
            while 0 not in seen or 2 not in seen:
                got = await record(stream)
                if got.get("e") == "viewers" or got.get("end"):
                    seen[int(str(got["s"]))] = got
            assert json.loads(str(seen[0]["d"]))["viewers"] >= 1
            assert seen[2]["end"] and "no live feed" in str(seen[2]["why"])
        await ann.aclose()

    run(scenario)


def test_no_subscription_is_a_400(site_server: AsgiServer) -> None:
    async def scenario() -> None:
        ann = Learner(site_server.base_url)
        response = await ann.client.get("/streams/")
        assert response.status_code == 400
        await ann.aclose()

    run(scenario)
