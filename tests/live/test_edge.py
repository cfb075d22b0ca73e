"""The edge relay (live/edge.py) against the real Redis and a stand-in for nchan's
publisher that records what it is sent (tests/deploy/test_edge.py runs the real nchan)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis

from live.edge import EdgeError, EdgePublisher, RelayCounts, feed_of, relay

pytestmark = [pytest.mark.redis]


class Recorder(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.posts: list[tuple[str, bytes]] = []
        self.refuse: set[str] = set()


class Handler(BaseHTTPRequestHandler):
    server: Recorder
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        feed = self.path.rsplit("/", 1)[-1]
        status = 500 if feed in self.server.refuse else 202
        self.server.posts.append((self.path, body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def edge_stub() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def feeds(redis_url: str, ns: str) -> Iterator[list[str]]:
    names = [f"{ns}-edge-{n}" for n in range(3)]
    yield names
    client = redis.Redis.from_url(redis_url)
    client.srem("live:feeds", *names)
    client.delete(*[f"live:{n}:state" for n in names])
    client.close()


def _wait(check: object, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.02)
    return False


def test_only_feed_channels_are_relayed() -> None:
    assert feed_of(b"live:demo") == "demo"
    assert feed_of("live:cup-final") == "cup-final"
    assert feed_of(b"live:demo:state") is None  # not a feed name (':' is not allowed)
    assert feed_of(b"sandbox:abc:live") is None
    assert feed_of(b"live:") is None


def test_a_publish_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="must be an http:// URL"):
        EdgePublisher("https://edge.example/pub/")


def test_states_first_then_every_message_unchanged_and_a_refusal_is_counted(
    edge_stub: Recorder, feeds: list[str], redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    stored, live, refused = feeds
    client.sadd("live:feeds", stored)
    client.set(f"live:{stored}:state", b'{"seq":7,"text":"stored"}')
    edge_stub.refuse.add(refused)
    edge = EdgePublisher(f"http://127.0.0.1:{edge_stub.server_address[1]}/pub/")
    stop, ready, counts = threading.Event(), threading.Event(), RelayCounts()
    thread = threading.Thread(
        target=relay, args=(edge,), kwargs={"stop": stop, "ready": ready, "counts": counts}
    )
    thread.start()
    try:
        assert ready.wait(20), "the relay did not subscribe"
        body = b'{"seq":1,"text":"goal \\u00e9"}'
        client.publish(f"live:{live}", body)
        client.publish(f"live:{refused}", b'{"seq":1}')
        client.publish(f"live:{live}:state", b"not a feed")  # ignored
        client.publish(f"live:{live}", b'{"seq":2}')
        mine = (stored, live, refused)
        assert _wait(lambda: len([p for p in edge_stub.posts if p[0].endswith(mine)]) >= 4)
    finally:
        stop.set()
        thread.join(10)
        client.close()
    posts = [p for p in edge_stub.posts if p[0].rsplit("/", 1)[-1] in feeds]
    assert posts[0] == (f"/pub/{stored}", b'{"seq":7,"text":"stored"}')
    assert posts[1:] == [
        (f"/pub/{live}", body),
        (f"/pub/{refused}", b'{"seq":1}'),  # refused by the edge: counted, relay goes on
        (f"/pub/{live}", b'{"seq":2}'),
    ]
    assert counts.failed >= 1
    assert not thread.is_alive()
    # In edge mode no hub listens, so the relay writes each body back as the feed's
    # state (a raw PUBLISH stores none), refused by the edge or not; an older seq does not
    # replace a newer one.
    check = redis.Redis.from_url(redis_url)
    try:
        assert check.get(f"live:{live}:state") == b'{"seq":2}'
        assert check.get(f"live:{refused}:state") == b'{"seq":1}'
        check.publish(f"live:{live}", b'{"seq":1,"text":"late and old"}')
        assert check.get(f"live:{live}:state") == b'{"seq":2}'
        assert check.sismember("live:feeds", live)
    finally:
        check.close()


def test_an_edge_that_is_gone_raises_a_clear_error() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as gone:
        port = gone.server_address[1]
    edge = EdgePublisher(f"http://127.0.0.1:{port}/pub/", timeout=2)
    with pytest.raises(EdgeError, match=f"127.0.0.1:{port}"):
        edge.publish("demo", b"{}")


def test_the_relay_outlives_a_redis_that_restarts(edge_stub: Recorder, private_redis: Any) -> None:
    """Redis killed under the relay: it reconnects by itself, sends the states again, and
    relays what is published after; nothing is left running once it is stopped."""
    from live import edge as edge_module

    client = redis.Redis.from_url(private_redis.url)
    edge = EdgePublisher(f"http://127.0.0.1:{edge_stub.server_address[1]}/pub/")
    stop, ready, counts = threading.Event(), threading.Event(), RelayCounts()
    original = edge_module.broker.new_client

    def on_private(**kwargs: Any) -> redis.Redis:
        return redis.Redis.from_url(private_redis.url, **kwargs)

    edge_module.broker.new_client = on_private  # type: ignore[assignment]
    thread = threading.Thread(
        target=relay, args=(edge,), kwargs={"stop": stop, "ready": ready, "counts": counts}
    )
    thread.start()
    try:
        assert ready.wait(20)
        private_redis.restart(down_for=0.5)
        client = redis.Redis.from_url(private_redis.url)
        assert _wait(lambda: counts.reconnects >= 1, 20), "the relay did not notice"
        assert _wait(lambda: client.pubsub_numpat() == 1, 20), "it did not subscribe again"
        client.publish("live:after-restart", b'{"seq":1}')
        assert _wait(lambda: ("/pub/after-restart", b'{"seq":1}') in edge_stub.posts, 20)
    finally:
        stop.set()
        thread.join(15)
        edge_module.broker.new_client = original  # type: ignore[assignment]
        client.close()
    assert not thread.is_alive()
