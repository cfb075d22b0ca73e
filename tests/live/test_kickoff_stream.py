"""A match kicked off on one web process reaches the viewers of its feed on every process,
and the other process's page follows the match's state (the lease, then the state)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from live.feeds import FEEDS_KEY, match_key
from tests.live.sse_client import SseReader
from tests.live.test_stream import numsub, wait_for
from tests.support.servers import AsgiServer, make_database, migrate

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def two_servers(ns: str, redis_url: str) -> Iterator[tuple[AsgiServer, AsgiServer, str]]:
    feed = f"{ns}-demo"
    database = make_database()
    migrate(database)
    env = {"LIVE_DEMO_FEEDS": feed, "LIVE_MATCH_INTERVAL": "0.2", "SANDBOX_ACL": "0"}
    first = AsgiServer(database=database, redis_url=redis_url, extra_env=env)
    second = AsgiServer(database=database, redis_url=redis_url, extra_env=env)
    try:
        yield first, second, feed
    finally:
        first.stop()
        second.stop()
        client = redis.Redis.from_url(redis_url)
        client.srem(FEEDS_KEY, feed)
        client.close()
        if callable(database.drop):
            database.drop()


def _kick_off(base_url: str, feed: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=30) as browser:
        page = browser.get(f"/live/{feed}/").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token is not None
        return browser.post(
            f"/live/{feed}/kickoff",
            data={"csrfmiddlewaretoken": token.group(1)},
            headers={"HX-Request": "true"},
        )


def test_viewers_on_both_processes_receive_the_kicked_off_match(
    two_servers: tuple[AsgiServer, AsgiServer, str], redis_url: str
) -> None:
    first, second, feed = two_servers
    rclient = redis.Redis.from_url(redis_url)
    readers = [
        SseReader(f"{first.base_url}/live/{feed}/stream"),
        SseReader(f"{second.base_url}/live/{feed}/stream"),
    ]
    try:
        assert [r.status for r in readers] == [200, 200], "a demo feed exists before any match"
        wait_for(
            lambda: numsub(rclient, f"live:{feed}") == 2, 60, "one hub subscription per process"
        )
        response = _kick_off(first.base_url, feed)
        assert response.status_code == 200, response.text
        assert "Kick-off:" in response.text
        seen: list[list[dict[str, Any]]] = [[], []]
        for index, reader in enumerate(readers):
            while not seen[index] or seen[index][-1].get("kind") != "fulltime":
                seen[index].append(json.loads(reader.next(event="message", timeout=60).data))
        assert seen[0] == seen[1], "every viewer gets the same updates"
        assert seen[0][0]["kind"] == "kickoff"
        assert [u["seq"] for u in seen[0]] == list(range(1, len(seen[0]) + 1))
        wait_for(lambda: not rclient.exists(match_key(feed)), 60, "the match's claim released")
        page = httpx.get(f"{second.base_url}/live/{feed}/", timeout=30).text
        assert 'data-state="over"' in page
    finally:
        for reader in readers:
            reader.close()
        rclient.close()
