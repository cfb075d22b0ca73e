"""The load side: thousands of viewers on one event loop, cheap per message.

Each viewer is an ``asyncio.Protocol`` over a raw socket (no HTTP library per viewer):
SSE for our site, a hand-rolled WebSocket handshake for the Channels peer. Received
bytes are scanned with one regex for ``"seq":N,"ts":T`` (both servers send the published
JSON verbatim), and arrival times are recorded per update.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from dataclasses import dataclass, field

_UPDATE = re.compile(rb'"seq": ?(\d+), ?"ts": ?([\d.]+)')
_TAIL = 512  # bytes kept between reads so an update split across two reads is still seen


@dataclass
class Recorder:
    keep_samples: bool
    deliveries: dict[int, int] = field(default_factory=dict)
    last_arrival: dict[int, float] = field(default_factory=dict)
    published: dict[int, float] = field(default_factory=dict)
    samples: list[float] = field(default_factory=list)

    def record(self, chunk: bytes, now_ms: float) -> bytes:
        end = 0
        for match in _UPDATE.finditer(chunk):
            end = match.end()
            seq = int(match.group(1))
            ts = float(match.group(2))
            self.deliveries[seq] = self.deliveries.get(seq, 0) + 1
            if now_ms > self.last_arrival.get(seq, 0.0):
                self.last_arrival[seq] = now_ms
            self.published[seq] = ts
            if self.keep_samples:
                self.samples.append(now_ms - ts)
        rest = chunk[end:]
        return rest[-_TAIL:]


class Viewer(asyncio.Protocol):
    def __init__(self, request: bytes, recorder: Recorder, expect: bytes) -> None:
        self.request = request
        self.recorder = recorder
        self.expect = expect  # the status line start that means "streaming"
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.tail = b""
        self.streaming = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.streaming:
            self.tail = self.recorder.record(self.tail + data, time.time() * 1000)
            return
        self.head += data
        if b"\r\n\r\n" not in self.head:
            return
        head, _, rest = self.head.partition(b"\r\n\r\n")
        self.head = b""
        if not head.startswith(self.expect):
            if not self.ready.done():
                self.ready.set_exception(
                    ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
                )
            return
        self.streaming = True
        if not self.ready.done():
            self.ready.set_result(None)
        if rest:
            self.tail = self.recorder.record(rest, time.time() * 1000)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before streaming"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def sse_request(host: str, port: int, path: str) -> tuple[bytes, bytes]:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    return request, b"HTTP/1.1 200"


def ws_request(host: str, port: int, path: str) -> tuple[bytes, bytes]:
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://{host}:{port}\r\n\r\n"
    ).encode()
    return request, b"HTTP/1.1 101"


async def connect_viewers(
    *,
    host: str,
    port: int,
    path: str,
    count: int,
    protocol: str,
    recorder: Recorder,
    batch: int = 100,
    timeout: float = 60.0,
) -> list[Viewer]:
    loop = asyncio.get_running_loop()
    viewers: list[Viewer] = []
    make = sse_request if protocol == "sse" else ws_request
    deadline = time.monotonic() + timeout

    async def one() -> Viewer:
        request, expect = make(host, port, path)
        _transport, viewer = await loop.create_connection(
            lambda: Viewer(request, recorder, expect), host, port
        )
        await asyncio.wait_for(viewer.ready, max(1.0, deadline - time.monotonic()))
        return viewer

    for start in range(0, count, batch):
        size = min(batch, count - start)
        viewers.extend(await asyncio.gather(*(one() for _ in range(size))))
    return viewers


def close_all(viewers: list[Viewer]) -> None:
    for viewer in viewers:
        viewer.close()
