"""An async SSE reader for the sandbox tests, on httpx streaming.

A learner is an ``httpx.AsyncClient`` with its own cookies (its own session, so its own
learner key). ``Stream`` reads parsed events with a timeout, and closing it really closes
the connection, which is what a browser closing a tab looks like to the server.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Event:
    event: str
    data: str


class Stream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def _next_any(self) -> Event:
        name, data = "message", []
        async for line in self._lines:
            if line == "":
                if data:
                    return Event(name, "\n".join(data))
                name, data = "message", []
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        raise EOFError("the stream ended")

    async def next(self, event: str | None = None, *, timeout: float = 10.0) -> Event:
        async def find() -> Event:
            while True:
                got = await self._next_any()
                if event is None or got.event == event:
                    return got

        return await asyncio.wait_for(find(), timeout)


class Learner:
    """One browser: its own cookie jar, so its own session and learner key."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10.0, read=None))
        self.key: str | None = None

    async def open(self, path: str = "/sandbox/") -> str:
        page = await self.client.get(path)
        assert page.status_code == 200, page.text[:500]
        match = re.search(r"sandbox:([0-9a-f]{16}):", page.text)
        self.key = match.group(1) if match else None
        return page.text

    def _headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.client.cookies.get("csrftoken", ""), "HX-Request": "true"}

    async def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return await self.client.post(path, data=data, headers=self._headers())

    async def publish(self, channel: str, message: str) -> httpx.Response:
        return await self.post("/sandbox/publish/", {"channel": channel, "message": message})

    @asynccontextmanager
    async def stream(self, path: str) -> AsyncIterator[Stream]:
        headers = {"Accept": "text/event-stream"}
        async with self.client.stream("GET", path, headers=headers) as response:
            yield Stream(response)

    async def aclose(self) -> None:
        await self.client.aclose()


def receivers(response: httpx.Response) -> int:
    match = re.search(r'data-receivers="(\d+)"', response.text)
    assert match, response.text
    return int(match.group(1))
