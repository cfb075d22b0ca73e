"""SUBSCRIBE in the console streams messages over SSE from a real Redis subscription,
and the subscription is released as soon as the browser closes the stream."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]


class Learner:
    """A browser-like client: one session cookie, CSRF token sent on POST."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=15)
        assert self.http.get("/sandbox/console/").status_code == 200

    def run(self, line: str, **state: str) -> httpx.Response:
        token = self.http.cookies.get("csrftoken", "")
        return self.http.post(
            "/sandbox/console/run/", data={"line": line, **state}, headers={"X-CSRFToken": token}
        )

    def output(self, line: str) -> str:
        return str(self.run(line).json()["output"])

    def wait_for(self, line: str, expected: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while True:
            out = self.output(line)
            if out == expected or time.monotonic() > deadline:
                return out
            time.sleep(0.1)


def events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    name, data = "message", []
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            yield name, "\n".join(data)
            name, data = "message", []


@pytest.fixture
def learner(site_server: AsgiServer) -> Iterator[Learner]:
    person = Learner(site_server.base_url)
    yield person
    person.http.close()


def test_subscribe_streams_and_is_released(learner: Learner, ns: str) -> None:
    channel = f"{ns}-news"
    assert learner.output("PING") == "PONG"  # gives the session its learner key
    with learner.http.stream(
        "GET", "/sandbox/console/stream/", params={"c": channel, "p": f"{ns}-sport.*"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response)
        assert next(stream) == ("ready", "2")
        assert learner.output(f'PUBLISH {channel} "hello there"') == "(integer) 1"
        assert next(stream) == ("message", f'1) "message"\n2) "{channel}"\n3) "hello there"')
        assert learner.output(f"PUBLISH {ns}-sport.tennis ace") == "(integer) 1"
        assert next(stream) == (
            "message",
            f'1) "pmessage"\n2) "{ns}-sport.*"\n3) "{ns}-sport.tennis"\n4) "ace"',
        )
        assert learner.output(f"PUBSUB NUMSUB {channel}") == f'1) "{channel}"\n2) (integer) 1'
        assert learner.output("PUBSUB NUMPAT") == "(integer) 1"
        assert f'"{channel}"' in learner.output("PUBSUB CHANNELS")
    # The browser went away: Redis no longer counts the subscriber.
    assert learner.wait_for(f"PUBSUB NUMSUB {channel}", f'1) "{channel}"\n2) (integer) 0') == (
        f'1) "{channel}"\n2) (integer) 0'
    )
    assert learner.wait_for("PUBSUB NUMPAT", "(integer) 0") == "(integer) 0"
    assert learner.output(f"PUBLISH {channel} later") == "(integer) 0"


def test_ssubscribe_streams_spublish_and_is_released(learner: Learner, ns: str) -> None:
    shard = f"{ns}-scores"
    assert learner.output("PING") == "PONG"
    with learner.http.stream("GET", "/sandbox/console/stream/", params={"s": shard}) as response:
        assert response.status_code == 200
        stream = events(response)
        assert next(stream) == ("ready", "1")
        # Shard channels are a name space of their own: PUBLISH does not reach them.
        assert learner.output(f"PUBLISH {shard} nobody") == "(integer) 0"
        assert learner.output(f"SPUBLISH {shard} 2-1") == "(integer) 1"
        assert next(stream) == ("message", f'1) "smessage"\n2) "{shard}"\n3) "2-1"')
        assert learner.output(f"PUBSUB SHARDNUMSUB {shard}") == f'1) "{shard}"\n2) (integer) 1'
        assert learner.output("PUBSUB SHARDCHANNELS") == f'1) "{shard}"'
        assert learner.output(f"PUBSUB NUMSUB {shard}") == f'1) "{shard}"\n2) (integer) 0'
    assert learner.wait_for(f"PUBSUB SHARDNUMSUB {shard}", f'1) "{shard}"\n2) (integer) 0') == (
        f'1) "{shard}"\n2) (integer) 0'
    )
    assert learner.output(f"SPUBLISH {shard} later") == "(integer) 0"


def test_the_protocol_rules_hold_while_the_stream_listens(learner: Learner, ns: str) -> None:
    shard = f"{ns}-s"
    state = {"shards": f'["{shard}"]'}
    with learner.http.stream("GET", "/sandbox/console/stream/", params={"s": shard}) as response:
        stream = events(response)
        assert next(stream) == ("ready", "1")
        refused = learner.run(f"SPUBLISH {shard} hi", **state).json()
        assert refused["output"].startswith("(error) ERR Can't execute 'spublish'")
        # Nor may a subscribed RESP2 connection switch: Redis refuses HELLO there too.
        hello = learner.run("HELLO 3", **state).json()
        assert hello["output"].startswith("(error) ERR Can't execute 'hello'")
        assert "protocol" not in hello
        # A console that said HELLO 3 before subscribing runs anything while subscribed.
        ran = learner.run(f"SPUBLISH {shard} hi", protocol="3", **state).json()
        assert ran["output"] == "(integer) 1"
        assert next(stream) == ("message", f'1) "smessage"\n2) "{shard}"\n3) "hi"')


def test_other_learners_do_not_hear_it(site_server: AsgiServer, learner: Learner, ns: str) -> None:
    other = Learner(site_server.base_url)
    try:
        other.output("PING")
        with other.http.stream(
            "GET", "/sandbox/console/stream/", params={"c": f"{ns}-room"}
        ) as response:
            stream = events(response)
            assert next(stream) == ("ready", "1")
            assert learner.output(f"PUBLISH {ns}-room psst") == "(integer) 0"
            assert learner.output("PUBSUB CHANNELS") == "(empty array)"
            assert other.output(f"PUBLISH {ns}-room hi") == "(integer) 1"
    finally:
        other.http.close()


def test_stream_rejects_bad_requests(learner: Learner) -> None:
    assert learner.http.get("/sandbox/console/stream/").status_code == 400
    many = [("c", f"c{i}") for i in range(30)]
    assert learner.http.get("/sandbox/console/stream/", params=many).status_code == 400
    shards = [("s", f"s{i}") for i in range(21)]  # one past the cap
    assert learner.http.get("/sandbox/console/stream/", params=shards).status_code == 400
    long = learner.http.get("/sandbox/console/stream/", params={"s": "x" * 65})
    assert long.status_code == 400 and "at most 64 bytes" in long.text


def test_stream_says_when_redis_is_down(settings: object) -> None:
    """Unit tests point REDIS_URL where nothing listens: the stream says so and ends."""
    from console.namespace import Namespace
    from console.streams import subscription_events
    from tests.console.conftest import run_async

    async def collect() -> list[bytes]:
        return [
            e
            async for e in subscription_events(ns=Namespace("a" * 16), channels=["x"], patterns=[])
        ]

    frames = run_async(collect())
    assert len(frames) == 1
    assert frames[0].startswith(b"event: down\ndata: (error) Redis is not reachable")


@pytest.mark.django_db
def test_too_many_streams_is_429(
    client: object, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import Client

    from console import streams

    assert isinstance(client, Client)
    monkeypatch.setattr(streams.STREAMS, "per_learner", 0)
    response = client.get("/sandbox/console/stream/", {"c": "news"})
    assert response.status_code == 429
    assert b"consoles listening" in response.content
