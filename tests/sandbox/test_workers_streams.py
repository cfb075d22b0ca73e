"""A worker run lives exactly as long as its stream, on the real server: streams closed
right after their headers give the run back (one run per learner, so the next start would
be refused if one were kept) and leave no key behind."""

from __future__ import annotations

import re
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from tests.support.servers import AsgiServer

pytestmark = pytest.mark.redis

_STREAM_RE = re.compile(r'sse-connect="(/sandbox/workers/events/[\w-]+/)"')


def test_streams_closed_at_once_give_their_run_back(
    site_server: AsgiServer, real_redis_url: str
) -> None:
    http = httpx.Client(base_url=site_server.base_url, timeout=30)
    page = http.get("/lessons/work-queues-on-lists/").text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    learner = re.search(r"sandbox:([0-9a-f]{16}):queue-demo:", page)
    assert token and learner
    url = urlsplit(site_server.base_url)

    def start_when_free(within: float = 20.0) -> str:
        """Press Start until it is accepted; refused only as "one run per learner" while
        the server is still noticing that the last stream has gone."""
        deadline = time.monotonic() + within
        while True:
            resp = http.post("/sandbox/workers/queue/", data={"csrfmiddlewaretoken": token[1]})
            if resp.status_code == 200:
                found = _STREAM_RE.search(resp.text)
                assert found
                return found[1]
            assert resp.status_code == 429 and "one run per learner" in resp.text, resp.text
            assert time.monotonic() < deadline, "the run was not given back"
            time.sleep(0.2)

    def open_stream(path: str) -> socket.socket:
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        sock = socket.create_connection((url.hostname, url.port), timeout=30)
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\nCookie: {cookie}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        return sock

    def read_until(sock: socket.socket, marker: bytes) -> bytes:
        seen = b""
        while marker not in seen:
            chunk = sock.recv(4096)
            assert chunk, seen
            seen += chunk
        return seen

    for n in range(6):
        sock = open_stream(start_when_free())
        # Half of them leave right after the headers, half once the run has started.
        read_until(sock, b"event: state" if n % 2 else b"\r\n\r\n")
        sock.close()
    sock = open_stream(start_when_free())
    head = read_until(sock, b"event: state")
    assert head.startswith(b"HTTP/1.1 200")
    sock.close()
    start_when_free()  # given back once more, then left unopened: its token lapses

    client = redis.Redis.from_url(real_redis_url)
    try:
        deadline = time.monotonic() + 20
        while list(client.scan_iter(match=f"sandbox:{learner[1]}:*")):
            assert time.monotonic() < deadline, "a closed run left keys behind"
            time.sleep(0.2)
    finally:
        client.close()
        http.close()
