"""The streaming core: SSE framing, the event-stream response, stream slots."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from django.test import RequestFactory

from learnsite import streaming
from learnsite.streaming import LimitError, StreamSlots


def test_a_one_line_body_is_one_data_field() -> None:
    assert streaming.frame(b'{"a": 1}') == b'data: {"a": 1}\n\n'
    assert streaming.frame("hé", event="msg") == "event: msg\ndata: hé\n\n".encode()


def test_every_data_line_gets_its_own_field() -> None:
    assert streaming.frame("<li>a\nb</li>", event="msg") == (
        b"event: msg\ndata: <li>a\ndata: b</li>\n\n"
    )


@pytest.mark.parametrize("line_end", ["\r\n", "\r", "\n"])
def test_cr_and_crlf_split_lines_as_a_browser_does(line_end: str) -> None:
    # A bare CR left inside a data field would end the field in the browser and lose
    # what follows it.
    assert streaming.frame(f"one{line_end}two") == b"data: one\ndata: two\n\n"


def test_empty_lines_and_a_closing_line_break_survive_the_round_trip() -> None:
    assert streaming.frame("") == b"data: \n\n"
    assert streaming.frame("a\n\nb\n") == b"data: a\ndata: \ndata: b\ndata: \n\n"


def test_an_event_name_cannot_smuggle_a_field() -> None:
    with pytest.raises(ValueError, match="one line"):
        streaming.frame("x", event="msg\ndata: injected")


def test_json_frame_is_compact() -> None:
    assert streaming.json_frame("viewers", {"viewers": 3}) == (
        b'event: viewers\ndata: {"viewers":3}\n\n'
    )


def test_multi_line_json_is_compacted_onto_one_line() -> None:
    assert streaming.one_line(b'{\r\n  "a": 1,\n  "t": "\xc3\xa9"\n}') == (
        '{"a":1,"t":"é"}'.encode()
    )


def test_other_bodies_are_left_as_they_are() -> None:
    assert streaming.one_line(b'{"a": 1}') == b'{"a": 1}', "one line: verbatim"
    assert streaming.one_line(b"not\njson") == b"not\njson"
    assert streaming.one_line(b"\xff\n\xfe") == b"\xff\n\xfe", "not even UTF-8"


def test_comments_keepalive_and_retry() -> None:
    assert streaming.KEEPALIVE == b": keep-alive\n\n"
    assert streaming.comment("two\nlines") == b": two\n: lines\n\n"
    assert streaming.retry(3000) == b"retry: 3000\n\n"


def test_the_event_stream_response_carries_the_headers_a_proxy_needs() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield streaming.retry(1000)
        yield streaming.frame("x")

    async def body() -> list[bytes]:
        response = streaming.event_stream(chunks())
        assert response["Content-Type"] == "text/event-stream; charset=utf-8"
        assert response["Cache-Control"] == "no-cache"
        assert response["X-Accel-Buffering"] == "no"
        assert response.is_async
        return [bytes(chunk) async for chunk in response.streaming_content]  # type: ignore[union-attr]

    assert asyncio.run(body()) == [b"retry: 1000\n\n", b"data: x\n\n"]


def test_a_client_leaving_during_a_send_closes_the_views_generator() -> None:
    """What Django 5.2's ASGI handler does when a client hangs up while it waits in
    send(): the CancelledError lands outside the content, and it closes ``aiter(response)``
    in ``aclosing()``. The view's own generator must be closed too, at once (Django's
    wrappers left it suspended until the garbage collector found it)."""
    ended: list[str] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while True:
                yield streaming.frame("x")
                await asyncio.sleep(0)
        finally:
            ended.append("closed")

    async def handler() -> list[str]:
        response = streaming.event_stream(chunks())
        with contextlib.suppress(asyncio.CancelledError):
            async with contextlib.aclosing(aiter(response)) as content:  # type: ignore[call-overload]
                async for _part in content:
                    raise asyncio.CancelledError  # the send the client left during
        return list(ended)  # read before asyncio.run() finalizes leftover generators

    assert asyncio.run(handler()) == ["closed"]


def test_a_cancel_lost_inside_an_await_still_ends_the_stream() -> None:
    """redis-py's wait_for on Python 3.11 can return a reply and drop the cancel that
    arrived with it. The task still counts the request (Task.cancelling()); the stream's
    iteration stops at its next part instead of running for as long as its source does."""
    produced: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for number in range(50):
            produced.append(number)
            if number == 2:
                task = asyncio.current_task()
                assert task is not None
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(0)  # delivered here ...
                # ... and lost, as redis-py's wait_for loses it: the loop goes on.
                assert streaming.cancel_requested()
            yield streaming.frame(str(number))

    async def consume() -> list[bytes]:
        response = streaming.event_stream(chunks())
        got: list[bytes] = []
        async with contextlib.aclosing(aiter(response)) as content:  # type: ignore[call-overload]
            async for part in content:
                got.append(part)
        return got

    async def main() -> tuple[bool, list[bytes]]:
        task = asyncio.create_task(consume())
        try:
            return False, await task
        except asyncio.CancelledError:
            return True, []

    cancelled, _got = asyncio.run(main())
    assert cancelled
    assert produced == [0, 1, 2]


def test_no_cancel_requested_outside_a_cancelled_task() -> None:
    assert not streaming.cancel_requested()  # no task at all

    async def plain() -> bool:
        return streaming.cancel_requested()

    assert asyncio.run(plain()) is False


def test_raw_headers_are_the_same_headers() -> None:
    assert dict(streaming.RAW_HEADERS) == {
        b"content-type": b"text/event-stream; charset=utf-8",
        b"cache-control": b"no-cache",
        b"x-accel-buffering": b"no",
    }


def test_client_addr_is_the_remote_address() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.7")
    assert streaming.client_addr(request) == "192.0.2.7"


# -- stream slots ---------------------------------------------------------------------


def test_a_slot_is_given_back_when_the_stream_ends() -> None:
    slots = StreamSlots(per_learner=2, total=3)

    async def scenario() -> None:
        async with slots.claim(learner="a", client_addr="192.0.2.1") as slot:
            assert (slot.learner, slot.client_addr) == ("a", "192.0.2.1")
            assert slots.open_for("a") == 1 and slots.open_total() == 1

    asyncio.run(scenario())
    assert slots.open_for("a") == 0 and slots.open_total() == 0


def test_a_slot_is_given_back_when_the_stream_fails() -> None:
    slots = StreamSlots(per_learner=2, total=3)

    async def scenario() -> None:
        async with slots.claim(learner="a", client_addr=""):
            raise RuntimeError("the stream broke")

    with pytest.raises(RuntimeError, match="the stream broke"):
        asyncio.run(scenario())
    assert slots.open_total() == 0


def test_a_cancelled_stream_gives_its_slot_back() -> None:
    slots = StreamSlots(per_learner=1, total=1)

    async def scenario() -> None:
        holding = asyncio.Event()

        async def stream() -> None:
            async with slots.claim(learner="a", client_addr=""):
                holding.set()
                await asyncio.sleep(60)

        task = asyncio.create_task(stream())
        await asyncio.wait_for(holding.wait(), 5)
        assert slots.open_for("a") == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert slots.open_total() == 0
        async with slots.claim(learner="a", client_addr=""):
            pass  # the slot is free again

    asyncio.run(scenario())


def test_a_stream_generator_closed_early_gives_its_slot_back() -> None:
    slots = StreamSlots(per_learner=1, total=1)

    async def events() -> AsyncIterator[bytes]:
        async with slots.claim(learner="a", client_addr=""):
            while True:
                yield streaming.KEEPALIVE

    async def scenario() -> None:
        stream = events()
        await anext(stream)
        assert slots.open_total() == 1
        await stream.aclose()  # what Django does when the client goes away

    asyncio.run(scenario())
    assert slots.open_total() == 0


def test_the_cap_per_learner_refuses_the_next_stream() -> None:
    slots = StreamSlots(per_learner=2, total=3)

    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(2):
                await stack.enter_async_context(slots.claim(learner="a", client_addr=""))
            with pytest.raises(LimitError, match="2 live streams") as refused:
                await stack.enter_async_context(slots.claim(learner="a", client_addr=""))
            assert str(refused.value) == (
                "You already have 2 live streams open (the limit per learner). "
                "Close one, then try again."
            )
            assert refused.value.retry_after == 60 and refused.value.scope == "learner"
            with pytest.raises(LimitError, match="2 live streams"):
                slots.check(learner="a")
            slots.check(learner="b")  # another learner is not affected
            assert slots.open_for("a") == 2

    asyncio.run(scenario())
    assert slots.open_total() == 0


def test_the_cap_per_process_refuses_the_next_stream_of_anyone() -> None:
    slots = StreamSlots(per_learner=2, total=3)

    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            for learner in ("a", "a", "b"):
                await stack.enter_async_context(slots.claim(learner=learner, client_addr=""))
            with pytest.raises(LimitError, match="at most 3") as refused:
                await stack.enter_async_context(slots.claim(learner="c", client_addr=""))
            assert refused.value.retry_after == 60

    asyncio.run(scenario())
    assert slots.open_total() == 0


def test_the_messages_are_the_callers() -> None:
    slots = StreamSlots(
        per_learner=0,
        total=5,
        per_learner_message="You already have {limit} consoles listening.",
    )
    with pytest.raises(LimitError, match="^You already have 0 consoles listening.$"):
        slots.check(learner="a")
