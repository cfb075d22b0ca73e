"""A learner as the server sees one: an httpx client with its own cookie jar, that reads
pages, answers quiz questions through the real form, and holds SSE streams open.

A stream is read by a background task into a queue, so a test can wait for an event
with a timeout without breaking the stream, and can check that an event did NOT come.
Closing a stream closes its connection, which is what a closed tab looks like.
Used by the resilience, multiprocess and isolation suites.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

_FORM_RE = re.compile(r'<form class="quiz-form".*?</form>', re.S)
_HIDDEN_RE = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')
_OPTION_RE = re.compile(r'<input type="radio" name="option" value="([^"]*)"')
_PREFIX_RE = re.compile(r"sandbox:([0-9a-f]{16}):")


@dataclass(frozen=True)
class Event:
    event: str
    data: str
    at: float  # time.monotonic() when it arrived


class EventStream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status = response.status_code
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.seen: list[Event] = []
        self.ended = False
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        name, data = "message", []
        try:
            async for line in self.response.aiter_lines():
                if line == "":
                    if data:
                        await self.queue.put(Event(name, "\n".join(data), time.monotonic()))
                    name, data = "message", []
                elif line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line == "data:":
                    data.append("")
        except (httpx.HTTPError, OSError):
            pass
        finally:
            self.ended = True
            await self.queue.put(None)

    async def next(
        self,
        event: str | None = None,
        *,
        timeout: float = 10.0,
        where: Callable[[Event], bool] | None = None,
    ) -> Event:
        """The next event named ``event`` (and matching ``where``); others are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no {event or 'any'} event within {timeout} s; "
                    f"last seen: {[(e.event, e.data[:120]) for e in self.seen[-5:]]}"
                )
            try:
                item = await asyncio.wait_for(self.queue.get(), left)
            except TimeoutError:
                continue
            if item is None:
                await self.queue.put(None)  # stay ended for the next caller
                raise AssertionError(
                    f"the stream ended before a {event or 'any'} event; "
                    f"last seen: {[(e.event, e.data[:120]) for e in self.seen[-5:]]}"
                )
            self.seen.append(item)
            if (event is None or item.event == event) and (where is None or where(item)):
                return item

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        with contextlib.suppress(Exception):
            await self.response.aclose()


class Browser:
    """One learner: its own cookies, so its own session and learner key."""

    def __init__(self, base_url: str, *, client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url
        self._owner = client is None
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(15.0, read=None))
        self.streams: list[EventStream] = []

    def on(self, base_url: str) -> Browser:
        """The same learner (the same client, so the same cookie jar) on another server:
        cookies belong to the host, and 127.0.0.1 is one host whatever the port."""
        return Browser(base_url, client=self.client)

    async def get(self, path: str, **kwargs: object) -> httpx.Response:
        return await self.client.get(self.base_url + path, **kwargs)  # type: ignore[arg-type]

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, htmx: bool = True
    ) -> httpx.Response:
        headers = {"X-CSRFToken": self.client.cookies.get("csrftoken") or ""}
        if htmx:
            headers["HX-Request"] = "true"
        return await self.client.post(self.base_url + path, data=data or {}, headers=headers)

    async def learner_key(self) -> str:
        page = await self.get("/sandbox/")
        assert page.status_code == 200, page.text[:300]
        match = _PREFIX_RE.search(page.text)
        assert match, "the playground does not show the learner's namespace"
        return match.group(1)

    async def answer_one(self, slug: str) -> httpx.Response | None:
        """Answer the first unanswered question of a practice set through its form;
        None when every question of the current attempt is answered."""
        page = await self.get(f"/quizzes/{slug}/")
        assert page.status_code == 200, page.text[:300]
        forms = _FORM_RE.findall(page.text)
        if not forms:
            return None
        return await self.post("/quizzes/answer/", quiz_fields(forms[0]))

    async def stream(self, path: str) -> EventStream:
        request = self.client.build_request(
            "GET", self.base_url + path, headers={"Accept": "text/event-stream"}
        )
        response = await self.client.send(request, stream=True)
        stream = EventStream(response)
        self.streams.append(stream)
        return stream

    async def aclose(self) -> None:
        for stream in self.streams:
            await stream.close()
        if self._owner:
            await self.client.aclose()


def quiz_fields(form: str, option_index: int = 0) -> dict[str, str]:
    fields = {name: html.unescape(value) for name, value in _HIDDEN_RE.findall(form)}
    fields["option"] = html.unescape(_OPTION_RE.findall(form)[option_index])
    return fields


def quiz_forms(page: str) -> list[str]:
    return list(_FORM_RE.findall(page))


async def eventually(
    check: Callable[[], bool], *, timeout: float, what: str, every: float = 0.05
) -> float:
    """Poll ``check`` until it holds; returns the seconds it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(every)
    return time.monotonic() - started
