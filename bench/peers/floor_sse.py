"""The floor for a Python SSE fan-out: the least a server can do and still be one.

uvloop, one ``asyncio.Protocol`` per viewer, no framework: ``GET /live/<feed>/stream``
answers a chunked ``text/event-stream``; one redis.asyncio subscription per feed (hiredis
parses) writes each published body as ``data: <body>`` to every viewer's transport, the
frame built once. No limits, no security headers, no viewer counts: what is left is the
syscall per viewer per update that any server pays. Started by ``bench.run``.
"""

from __future__ import annotations

import argparse
import asyncio
import re

import redis.asyncio as aioredis
import uvloop

HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
PATH = re.compile(rb"^GET /live/([\w-]+)/stream ")

viewers: dict[str, set[asyncio.Transport]] = {}
pubsub: aioredis.client.PubSub | None = None


class Viewer(asyncio.Protocol):
    def __init__(self) -> None:
        self.feed: str | None = None
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.feed is not None:
            return
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer:
            return
        assert self.transport is not None
        match = PATH.match(self.buffer)
        if match is None:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
            self.transport.close()
            return
        self.feed = match[1].decode()
        self.transport.write(HEAD)
        first = self.feed not in viewers
        viewers.setdefault(self.feed, set()).add(self.transport)
        if first and pubsub is not None:
            asyncio.ensure_future(pubsub.subscribe(f"live:{self.feed}"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.feed is not None and self.transport is not None:
            viewers.get(self.feed, set()).discard(self.transport)


async def relay() -> None:
    assert pubsub is not None
    while True:
        if not pubsub.subscribed:
            await asyncio.sleep(0.05)
            continue
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is None:
            continue
        feed = message["channel"].decode().removeprefix("live:")
        frame = b"data: " + message["data"] + b"\n\n"
        chunk = b"%x\r\n%b\r\n" % (len(frame), frame)
        for transport in viewers.get(feed, ()):
            transport.write(chunk)


async def main(port: int, redis_url: str) -> None:
    global pubsub
    client = aioredis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Viewer, "127.0.0.1", port, backlog=4096)
    async with server:
        await relay()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    args = parser.parse_args()
    uvloop.run(main(args.port, args.redis))
