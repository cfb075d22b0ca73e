"""The stream against the real Redis and the real site under uvicorn."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from django.core.management import call_command

from live.services import feed_publish
from tests.live.sse_client import SseReader
from tests.support.servers import AsgiServer, make_database, migrate

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


def numsub(client: redis.Redis, channel: str) -> int:
    return int(dict(client.pubsub_numsub(channel)).get(channel.encode(), 0))


@pytest.fixture
def rclient(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def readers() -> Iterator[list[SseReader]]:
    opened: list[SseReader] = []
    yield opened
    for reader in opened:
        reader.close()


def test_published_body_reaches_every_viewer_verbatim_and_numsub_returns_to_zero(
    site_server: Any, ns: str, live_feed: str, rclient: redis.Redis, readers: list[SseReader]
) -> None:
    feed = live_feed
    url = f"{site_server.base_url}/live/{feed}/stream"
    readers += [SseReader(url), SseReader(url)]
    assert readers[0].status == 200
    assert readers[0].headers["content-type"].startswith("text/event-stream")
    assert readers[0].headers["cache-control"] == "no-cache"
    assert readers[0].headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in readers[0].headers
    wait_for(lambda: numsub(rclient, f"live:{feed}") == 1, what="the hub's one subscription")
    body = '{"ts": 1, "text": "<b>Gol!</b> \\u00e9 ünïcode", "score": {"home": 1, "away": 0}}'
    assert rclient.publish(f"live:{feed}", body) == 1, "one subscription per process"
    for reader in readers:
        assert reader.next(event="message").data == body
    for reader in readers:
        reader.close()
    wait_for(lambda: numsub(rclient, f"live:{feed}") == 0, what="PUBSUB NUMSUB back to 0")


def test_late_joiner_gets_the_current_score_first(
    site_server: Any, ns: str, live_feed: str, readers: list[SseReader]
) -> None:
    feed = live_feed
    for home in range(3):
        feed_publish(feed=feed, event={"score": {"home": home, "away": 1}})
    reader = SseReader(f"{site_server.base_url}/live/{feed}/stream")
    readers.append(reader)
    first = json.loads(reader.next(event="message").data)
    assert first["score"] == {"home": 2, "away": 1}
    assert first["seq"] == 3
    feed_publish(feed=feed, event={"score": {"home": 3, "away": 1}})
    assert json.loads(reader.next(event="message").data)["seq"] == 4


def test_viewers_are_counted_across_processes(
    site_server: Any, ns: str, live_feed: str, redis_url: str, readers: list[SseReader]
) -> None:
    feed = live_feed
    database = make_database()
    migrate(database)
    other = AsgiServer(database=database, redis_url=redis_url)
    try:
        readers.append(SseReader(f"{site_server.base_url}/live/{feed}/stream"))
        readers.append(SseReader(f"{other.base_url}/live/{feed}/stream"))
        # A safety net, not a speed target: each server hears of the other one's viewer at
        # its next presence refresh (every couple of seconds); both viewers must hear 2.
        deadline = time.monotonic() + 60
        seen = [0, 0]
        for index, reader in enumerate(readers):
            while seen[index] != 2 and time.monotonic() < deadline:
                try:
                    event = reader.next(
                        event="viewers", timeout=max(0.1, deadline - time.monotonic())
                    )
                except AssertionError:
                    break
                seen[index] = json.loads(event.data)["viewers"]
        assert seen == [2, 2], (
            f"viewers seen {seen}; the second server's log:\n{other.output()[-4000:]}"
        )
    finally:
        for reader in readers:
            reader.close()
        other.stop()


def test_simulate_match_plays_a_whole_match_into_the_feed(
    site_server: Any, ns: str, live_feed: str, rclient: redis.Redis, readers: list[SseReader]
) -> None:
    feed = live_feed
    reader = SseReader(f"{site_server.base_url}/live/{feed}/stream")
    readers.append(reader)
    wait_for(lambda: numsub(rclient, f"live:{feed}") == 1, what="subscription")
    call_command("simulate_match", feed, events=8, interval=0, seed=5, stdout=io.StringIO())
    kinds = []
    while "fulltime" not in kinds:
        kinds.append(json.loads(reader.next(event="message").data)["kind"])
    assert kinds[0] == "kickoff" and "halftime" in kinds
    state = json.loads(rclient.get(f"live:{feed}:state") or b"{}")
    assert state["kind"] == "fulltime"


def test_bad_feed_name_is_a_clear_400(site_server: Any) -> None:
    response = httpx.get(f"{site_server.base_url}/live/No%20Way/stream", timeout=5)
    assert response.status_code == 400
    assert "lowercase letters" in response.text
    page = httpx.get(f"{site_server.base_url}/live/No%20Way/", timeout=5)
    assert page.status_code == 400
    assert "lowercase letters" in page.text


def test_index_lists_feeds_with_their_score(client: Any, ns: str, live_feed: str) -> None:
    feed = live_feed
    feed_publish(
        feed=feed,
        event={
            "teams": {"home": "Reds", "away": "Blues"},
            "score": {"home": 2, "away": 0},
            "minute": 50,
        },
    )
    response = client.get("/live/")
    assert response.status_code == 200
    assert f"/live/{feed}/" in response.content.decode()
    assert "Reds 2 - 0 Blues, 50&#x27;" in response.content.decode()


@pytest.mark.slow
def test_redis_restart_mid_stream_recovers(private_redis: Any) -> None:
    database = make_database()
    migrate(database)
    server = AsgiServer(database=database, redis_url=private_redis.url)
    reader = None
    try:
        client = redis.Redis.from_url(private_redis.url)
        client.sadd("live:feeds", "restart-match")  # the feed exists
        reader = SseReader(f"{server.base_url}/live/restart-match/stream")
        wait_for(lambda: numsub(client, "live:restart-match") == 1, what="subscription")
        client.publish("live:restart-match", '{"seq":1}')
        assert reader.next(event="message").data == '{"seq":1}'
        client.close()
        private_redis.restart(down_for=1.0)
        assert json.loads(reader.next(event="status", timeout=10).data) == {"redis": "down"}
        reader.next(event="resync", timeout=15)
        client = redis.Redis.from_url(private_redis.url)
        assert numsub(client, "live:restart-match") == 1, "resubscribed after the restart"
        client.publish("live:restart-match", '{"seq":2}')
        assert reader.next(event="message").data == '{"seq":2}'
        client.close()
    finally:
        if reader is not None:
            reader.close()
        server.stop()


def test_the_django_view_streams_the_same_contract(ns: str, live_feed: str) -> None:
    """Under uvicorn, live/asgi.py answers streams before Django does; the Django view
    (used by any other ASGI setup) keeps the same contract."""
    import asyncio

    from django.test import AsyncClient

    from live.streams import get_hub

    feed = live_feed
    feed_publish(feed=feed, event={"score": {"home": 1, "away": 0}})

    async def first_chunk() -> tuple[str, bytes]:
        response = await AsyncClient().get(f"/live/{feed}/stream")
        stream = aiter(response.streaming_content)
        try:
            return response["Content-Type"], await anext(stream)
        finally:
            await stream.aclose()
            await get_hub().aclose()

    content_type, chunk = asyncio.run(first_chunk())
    assert content_type == "text/event-stream; charset=utf-8"
    assert b'"seq":1' in chunk and b'"score":{"home":1,"away":0}' in chunk


def test_raw_publish_is_what_a_late_joiner_and_a_reconnect_start_from(
    site_server: Any, ns: str, live_feed: str, rclient: redis.Redis, readers: list[SseReader]
) -> None:
    """A plain PUBLISH (no feed_publish, so no stored state written by the publisher)
    is the first frame of the next viewer, and of a viewer whose process had stopped
    listening: the hub writes what it hears back as the state."""
    feed = live_feed
    url = f"{site_server.base_url}/live/{feed}/stream"
    feed_publish(feed=feed, event={"score": {"home": 0, "away": 0}})
    watcher = SseReader(url)
    readers.append(watcher)
    watcher.next(event="message")
    wait_for(lambda: numsub(rclient, f"live:{feed}") == 1, what="subscription")
    raw = '{"score": {"home": 1, "away": 0}, "text": "raw goal"}'
    rclient.publish(f"live:{feed}", raw)
    assert watcher.next(event="message").data == raw
    late = SseReader(url)
    readers.append(late)
    assert late.next(event="message").data == raw, "the late joiner starts from the raw body"
    wait_for(lambda: rclient.get(f"live:{feed}:state") == raw.encode(), what="state written")
    watcher.close()
    late.close()
    wait_for(lambda: numsub(rclient, f"live:{feed}") == 0, what="everyone left")
    again = SseReader(url)
    readers.append(again)
    assert again.next(event="message").data == raw, "a reconnect starts from the raw body"


def test_an_older_raw_body_does_not_overwrite_a_newer_state(
    site_server: Any, ns: str, live_feed: str, rclient: redis.Redis, readers: list[SseReader]
) -> None:
    feed = live_feed
    url = f"{site_server.base_url}/live/{feed}/stream"
    for home in range(3):
        feed_publish(feed=feed, event={"score": {"home": home, "away": 0}})
    watcher = SseReader(url)
    readers.append(watcher)
    assert json.loads(watcher.next(event="message").data)["seq"] == 3
    wait_for(lambda: numsub(rclient, f"live:{feed}") == 1, what="subscription")
    rclient.publish(f"live:{feed}", '{"seq": 1, "score": {"home": 9, "away": 9}}')
    watcher.next(event="message")
    rclient.publish(f"live:{feed}", '{"seq": 4, "marker": "done"}')
    watcher.next(event="message")
    wait_for(lambda: b"done" in (rclient.get(f"live:{feed}:state") or b""), what="seq 4 stored")
    late = SseReader(url)
    readers.append(late)
    assert json.loads(late.next(event="message").data)["seq"] == 4
    from live.source import STORE_IF_NEWER

    key = f"live:{feed}:state"
    assert rclient.eval(STORE_IF_NEWER, 2, key, "live:feeds", '{"seq": 2}', 60, feed) == 0
    assert json.loads(rclient.get(key) or b"{}")["seq"] == 4
    assert rclient.eval(STORE_IF_NEWER, 2, key, "live:feeds", '{"seq": 5}', 60, feed) == 1
    assert rclient.get(key) == b'{"seq": 5}'
