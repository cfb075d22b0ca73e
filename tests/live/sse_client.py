"""A small SSE reader for tests: a thread reads the stream over a plain socket (so
``close`` can interrupt it at once) and queues parsed events."""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Event:
    event: str  # "message" unless the frame named one
    data: str


class SseReader:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.events: queue.Queue[Event] = queue.Queue()
        self.headers: dict[str, str] = {}
        self.status = 0
        self._sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        self._sock.sendall(
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        self._buffer = b""
        head = self._read_until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("stream closed")
            self._buffer += data
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("stream closed")
            self._buffer += data
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def _run(self) -> None:
        text = ""
        try:
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    return
                text += self._read_exactly(size).decode()
                self._read_exactly(2)
                while "\n\n" in text:
                    block, text = text.split("\n\n", 1)
                    name, data = "message", []
                    for line in block.split("\n"):
                        if line.startswith("event: "):
                            name = line[7:]
                        elif line.startswith("data: "):
                            data.append(line[6:])
                    if data:
                        self.events.put(Event(name, "\n".join(data)))
        except (OSError, ValueError):
            return

    def next(self, *, event: str | None = None, timeout: float = 10.0) -> Event:
        """The next event (of type ``event``, skipping others)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {event or 'any'} event within {timeout} s")
            try:
                item = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event is None or item.event == event:
                return item

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(5)
