"""Server-Sent Events for every stream of the site: framing, the response, stream slots.

Framing: :func:`frame` is the one encoder of an SSE event, :func:`comment` of a comment
line (what keeps proxies from closing an idle stream), :func:`retry` of the ``retry:``
field that tells a browser how long to wait before reconnecting by itself.

:func:`event_stream` is the one response a stream view returns; it carries the headers a
stream needs behind a proxy (``RAW_HEADERS`` is the same for a raw ASGI route).

:class:`StreamSlots` caps open streams. A stream holds a slot for exactly as long as it
runs: ``async with slots.claim(learner=..., client_addr=...)`` raises :class:`LimitError`
when a cap is reached and gives the slot back on every way out, cancellation included.
Slots are counted through :mod:`learnsite.admission`: in this process (per learner, per
address, in total) and, for named slots, across the site in Redis.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from django.http import HttpRequest, StreamingHttpResponse

from learnsite import admission
from learnsite.admission import LimitError as LimitError  # the one refusal, re-exported

CONTENT_TYPE = "text/event-stream; charset=utf-8"
HEADERS: dict[str, str] = {
    "Content-Type": CONTENT_TYPE,
    "Cache-Control": "no-cache",
    # nginx buffers responses unless told not to; a buffered stream arrives in lumps.
    "X-Accel-Buffering": "no",
}
RAW_HEADERS: tuple[tuple[bytes, bytes], ...] = tuple(
    (name.lower().encode(), value.encode()) for name, value in HEADERS.items()
)

KEEPALIVE_EVERY = 15.0  # seconds of silence after which a stream sends KEEPALIVE
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")  # the line ends of the SSE format


def frame(data: bytes | str, *, event: str | None = None) -> bytes:
    """One SSE event carrying ``data``; with ``event``, a named one.

    Each line of ``data`` (split at CR LF, CR or LF, as the browser splits) gets its own
    ``data:`` field; EventSource joins them back with LF, so a browser receives ``data``
    with its line breaks as LF and nothing else changed.
    """
    raw = data.encode() if isinstance(data, str) else data
    if event is None:
        head = b""
    elif "\n" in event or "\r" in event:
        raise ValueError(f"An SSE event name is one line; got {event!r}.")
    else:
        head = b"event: " + event.encode() + b"\n"
    if b"\n" not in raw and b"\r" not in raw:
        return head + b"data: " + raw + b"\n\n"
    return head + b"".join(b"data: " + line + b"\n" for line in _LINE_BREAK.split(raw)) + b"\n"


def json_frame(event: str, payload: dict[str, object]) -> bytes:
    """A named event whose data is ``payload`` as compact JSON."""
    return frame(json.dumps(payload, separators=(",", ":")), event=event)


def one_line(body: bytes) -> bytes:
    """``body`` on one line when it is JSON spread over several (pretty-printed, as
    redis-cli users publish it), so a page can ``JSON.parse`` one ``data:`` field; any
    other body is returned unchanged."""
    if b"\n" not in body and b"\r" not in body:
        return body
    try:
        return json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    except ValueError:
        return body


def comment(text: str) -> bytes:
    """An SSE comment: the browser ignores it; proxies see traffic."""
    lines = _LINE_BREAK.split(text.encode())
    return b"".join(b": " + line + b"\n" for line in lines) + b"\n"


KEEPALIVE = comment("keep-alive")


def retry(milliseconds: int) -> bytes:
    """How long the browser waits before reconnecting by itself after the stream ends."""
    return b"retry: %d\n\n" % milliseconds


def cancel_requested() -> bool:
    """Whether the running task was asked to stop, even if the cancel itself was lost.

    redis-py sends every command through ``asyncio.wait_for``, which on Python 3.11
    swallows a cancel that lands as the reply arrives: the command returns normally and
    the stream would go on, writing into a socket whose client has left (uvicorn drops
    those writes without a word). ``Task.cancelling()`` still counts the request, so a
    stream loop that checks this after its awaits stops anyway.
    """
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop running: no task to be cancelled
        return False
    return task is not None and task.cancelling() > 0


class EventStreamResponse(StreamingHttpResponse):
    """A streaming response that closes the view's generator when the client goes away.

    Django 5.2's ASGI handler consumes ``aiter(response)`` inside ``aclosing()``, but
    ``__aiter__`` wraps the view's generator in two generators of its own and only the
    outermost is closed. When a client hangs up while the handler waits in ``send()``,
    the cancellation lands outside the view's generator, which is left suspended at its
    ``yield`` until the garbage collector finds it: a slot it claimed stays claimed
    (a run stream kept its slot until the run ended). Here the view's generator is
    iterated directly and closed on every way out, so its ``finally`` and ``async with``
    blocks run at once.
    """

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        super().__init__(chunks, content_type=CONTENT_TYPE)
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # Django's _iterator, not self._chunks: a middleware may have wrapped the content.
        iterator: AsyncIterable[bytes | str] = getattr(self, "_iterator", self._chunks)
        try:
            async for part in iterator:
                if cancel_requested():
                    raise asyncio.CancelledError  # a cancel lost inside the view's awaits
                yield self.make_bytes(part)
        finally:
            for source in (iterator, self._chunks):
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    await aclose()


def event_stream(chunks: AsyncIterable[bytes]) -> StreamingHttpResponse:
    """The response of a stream view: ``chunks`` as they come, with the SSE headers."""
    response = EventStreamResponse(chunks)
    for name, value in HEADERS.items():
        if name != "Content-Type":
            response[name] = value
    return response


def client_addr(request: HttpRequest) -> str:
    """The client address a stream is claimed for: the peer's, or the one a trusted proxy
    forwarded (see :func:`learnsite.admission.client_address`)."""
    return admission.request_address(request)


@dataclass(frozen=True)
class Slot:
    """One claimed stream slot."""

    learner: str
    client_addr: str


PER_LEARNER_MESSAGE = (
    "You already have {limit} live streams open (the limit per learner). Close one, then try again."
)
PER_ADDRESS_MESSAGE = (
    "Your network already has {limit} live streams open (the limit per address). "
    "Close some, or try again in {wait} s."
)
SITE_MESSAGE = "The site holds at most {limit} live streams. Try again in {wait} s."
TOTAL_MESSAGE = "This server holds at most {limit} live streams. Try again in a minute."


class StreamSlots:
    """Open streams: per learner, per client address and in total for this process, and,
    when ``name`` is given, per learner, per address and site-wide across every process
    (a :class:`learnsite.admission.Capacity` on the site Redis).

    The messages are formatted with ``{limit}`` (the cap that was reached) and ``{wait}``.
    A slot is released when the ``claim`` block ends however it ends: a stream cancelled
    because its client went away gives its slot back like one that finished.
    """

    def __init__(
        self,
        *,
        per_learner: int,
        total: int,
        per_address: int | None = None,
        site: int | None = None,
        name: str | None = None,
        per_learner_message: str = PER_LEARNER_MESSAGE,
        per_address_message: str = PER_ADDRESS_MESSAGE,
        site_message: str = SITE_MESSAGE,
        total_message: str = TOTAL_MESSAGE,
        retry_after: int = 60,
    ) -> None:
        messages: dict[admission.Scope, str] = {
            "learner": per_learner_message,
            "address": per_address_message,
            "site": site_message,
            "process": total_message,
        }
        self._local = admission.LocalCapacity(
            per_learner=per_learner,
            per_address=per_address,
            total=total,
            messages=messages,
            retry_after=retry_after,
        )
        self.shared = (
            admission.Capacity(
                name=name,
                per_learner=per_learner,
                per_address=per_address,
                site=site,
                messages=messages,
            )
            if name is not None
            else None
        )

    # Tests and pages read (and tests set) the caps by these names.
    @property
    def per_learner(self) -> int:
        return self._local.per_learner or 0

    @per_learner.setter
    def per_learner(self, value: int) -> None:
        self._local.per_learner = value
        if self.shared is not None:
            self.shared.per_learner = value

    @property
    def total(self) -> int:
        return self._local.total or 0

    def open_for(self, learner: str) -> int:
        """Streams this learner holds in this process."""
        return self._local.held("learner", learner)

    def open_total(self) -> int:
        """Streams held in this process."""
        return self._local.held("process")

    def check(self, *, learner: str, client_addr: str = "") -> None:
        """Raise the LimitError a claim would raise now, without claiming (for a page
        that offers to open a stream, or a view that answers 429 before streaming)."""
        self._local.check(learner=learner, address=client_addr)
        if self.shared is not None:
            self.shared.check(learner=learner, address=client_addr)

    async def acheck(self, *, learner: str, client_addr: str = "") -> None:
        """:meth:`check` for async views."""
        self._local.check(learner=learner, address=client_addr)
        if self.shared is not None:
            await self.shared.acheck(learner=learner, address=client_addr)

    @asynccontextmanager
    async def claim(self, *, learner: str, client_addr: str) -> AsyncIterator[Slot]:
        """Hold a slot for ``learner`` during the block; LimitError when none is free."""
        async with AsyncExitStack() as stack:
            # This process's count first: it costs no round trip to Redis.
            await stack.enter_async_context(self._local.claim(learner=learner, address=client_addr))
            if self.shared is not None:
                await stack.enter_async_context(
                    self.shared.claim(learner=learner, address=client_addr)
                )
            yield Slot(learner=learner, client_addr=client_addr)
