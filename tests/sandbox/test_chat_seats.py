"""Chat rooms: the room a page names, one nickname per person per room (claimed in Redis,
given up on leaving, leased), who is here, and join/leave notices a reload storm cannot
flood a room with."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import RequestFactory

from learnsite.content.embeds import EmbedUse
from sandbox import chat_hub, chat_seats, limits, names, pages, services
from sandbox.apps import _room_problems


def _learner() -> str:
    return secrets.token_hex(8)


def _room() -> str:
    return f"t-{secrets.token_hex(6)}"


# -- the room a page names ---------------------------------------------------------


def _request(rf: RequestFactory, query: str = "") -> Any:
    request = rf.get("/lessons/why-a-broker/" + query)
    request.session = {}
    return request


def test_the_url_names_the_room_else_the_page_does(rf: RequestFactory) -> None:
    assert pages.lesson_room(_request(rf), "lunch")["room"] == "lunch"  # type: ignore[index]
    assert pages.lesson_room(_request(rf, "?room=Class-7"), "lunch")["room"] == "class-7"  # type: ignore[index]
    assert pages.lesson_room(_request(rf), None) is None  # the embed offers a new room


def test_a_bad_room_in_the_url_is_said_and_the_page_room_kept(rf: RequestFactory) -> None:
    context = pages.lesson_room(_request(rf, "?room=no%20spaces!"), "lunch")
    assert context is not None and context["room"] == "lunch"
    assert "There is no chat room called 'no spaces!'" in context["room_error"]
    alone = pages.lesson_room(_request(rf, "?room=" + "x" * 40), None)
    assert alone is not None and alone["room"] is None
    assert "1 to 32 characters" in alone["room_error"]


def test_an_embed_line_with_a_bad_room_is_a_content_error() -> None:
    def use(arg: str | None) -> EmbedUse:
        return EmbedUse("chat", arg, Path("01.md"), 3, "why")

    assert _room_problems(use("lunch")) == [] and _room_problems(use(None)) == []
    (problem,) = _room_problems(use("Lunch Room"))
    assert "::: embed chat lunch" in problem


def test_nicknames_say_what_is_wrong() -> None:
    assert chat_seats.clean_nick("  Ann   Lee ") == "Ann Lee"
    assert chat_seats.clean_nick("José_o'Neil-2") == "José_o'Neil-2"
    with pytest.raises(chat_seats.NickError, match="at most 24 characters; this one has 25"):
        chat_seats.clean_nick("x" * 25)
    with pytest.raises(chat_seats.NickError, match="letters, digits, spaces"):
        chat_seats.clean_nick("<b>ann</b>")
    with pytest.raises(chat_seats.NickError, match="Choose a nickname"):
        chat_seats.clean_nick("   ")


def test_a_forged_or_foreign_seat_token_is_refused() -> None:
    seat = chat_seats.Seat(room="lunch", nick="ann", id="abc", learner="0" * 16)
    assert chat_seats.seat_from_token(seat.token, room="lunch", learner="0" * 16) == seat
    assert chat_seats.seat_from_token(seat.token, room="other", learner="0" * 16) is None
    assert chat_seats.seat_from_token(seat.token, room="lunch", learner="1" * 16) is None
    assert chat_seats.seat_from_token(seat.token + "x", room="lunch", learner="0" * 16) is None


# -- seats on the real Redis ---------------------------------------------------------


def _race(room: str) -> tuple[list[chat_seats.Seat], list[str]]:
    barrier = threading.Barrier(2)
    won: list[chat_seats.Seat] = []
    lost: list[str] = []

    def claim() -> None:
        barrier.wait()
        try:
            won.append(chat_seats.seat_claim(room=room, nick="Ann", learner=_learner()))
        except chat_seats.NickError as exc:
            lost.append(str(exc))

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won, lost


@pytest.mark.redis
def test_two_learners_racing_for_one_nickname_exactly_one_wins(redis_url: str) -> None:
    for _ in range(10):
        won, lost = _race(_room())
        assert len(won) == 1 and len(lost) == 1
        assert "already called Ann. Choose another nickname (for example Ann2)" in lost[0]


@pytest.mark.redis
def test_nicknames_are_unique_per_room_whatever_the_case(redis_url: str) -> None:
    room = _room()
    chat_seats.seat_claim(room=room, nick="Ann", learner=_learner())
    with pytest.raises(chat_seats.NickError):
        chat_seats.seat_claim(room=room, nick="ann", learner=_learner())
    chat_seats.seat_claim(room=_room(), nick="ann", learner=_learner())  # another room: fine


@pytest.mark.redis
def test_a_crashed_tabs_nickname_lapses(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_seats, "RESERVE_SECONDS", 0.2)
    room = _room()
    first = chat_seats.seat_claim(room=room, nick="ann", learner=_learner())
    assert asyncio.run(chat_seats.awho_is_here(room)) == ["ann"]
    asyncio.run(asyncio.sleep(0.3))  # the tab never connected, or crashed: no renewal
    assert asyncio.run(chat_seats.awho_is_here(room)) == []
    monkeypatch.setattr(chat_seats, "RESERVE_SECONDS", 60.0)  # the newcomer's seat stays
    second = chat_seats.seat_claim(room=room, nick="Ann", learner=_learner())
    assert not chat_seats.seat_holds(first) and chat_seats.seat_holds(second)
    # The lapsed seat coming back finds its nickname taken and leaves it alone.
    assert asyncio.run(chat_seats.aseat_renew(first)) is False
    assert chat_seats.seat_keep(first) is False
    assert asyncio.run(chat_seats.aseat_release(first)) is False
    assert chat_seats.seat_holds(second)
    # A seat whose nickname nobody holds (Redis restarted empty) takes it back to speak.
    asyncio.run(chat_seats.aseat_release(second))
    assert chat_seats.seat_keep(second) and chat_seats.seat_holds(second)
    assert asyncio.run(chat_seats.awho_is_here(room)) == ["Ann"]


async def _events(stream: AsyncIterator[bytes], wanted: str, *, until: str) -> list[str]:
    """The data of every ``wanted`` event until one contains ``until``."""
    seen: list[str] = []
    async for chunk in stream:
        text = chunk.decode()
        if text.startswith(f"event: {wanted}\n"):
            seen.append(text)
            if until in text:
                return seen
    raise AssertionError(f"the stream ended before {until!r}: {seen}")


def _stream(seat: chat_seats.Seat) -> AsyncIterator[bytes]:
    return chat_hub.chat_events(seat=seat, client_addr="192.0.2.1", down_message="down")


@pytest.mark.redis
def test_who_is_here_follows_joins_and_leaves_and_leaving_frees_the_nickname(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_hub, "HERE_EVERY", 0.2)
    room = _room()
    ann = chat_seats.seat_claim(room=room, nick="Ann", learner=_learner())

    async def scenario() -> None:
        ann_tab = _stream(ann)
        first = await _events(ann_tab, "here", until=">Ann<")
        assert ">bob<" not in first[-1]
        bob = chat_seats.seat_claim(room=room, nick="bob", learner=_learner())
        bob_tab = _stream(bob)
        await _events(bob_tab, "here", until=">bob<")
        here = await _events(ann_tab, "here", until=">bob<")
        assert '<li data-nick="Ann">Ann</li><li data-nick="bob">bob</li>' in here[-1]
        await bob_tab.aclose()  # bob closes his tab
        assert not chat_seats.seat_holds(bob)
        after = await _events(ann_tab, "here", until="here")
        assert ">bob<" not in after[-1] and ">Ann<" in after[-1]
        # bob's nickname is free again, for anyone
        chat_seats.seat_claim(room=room, nick="Bob", learner=_learner())
        await ann_tab.aclose()
        assert await chat_seats.awho_is_here(room) == ["Bob"]

    asyncio.run(asyncio.wait_for(scenario(), 20))


@pytest.mark.redis
def test_a_cancelled_stream_gives_its_nickname_and_slot_back(redis_url: str) -> None:
    room, learner = _room(), _learner()
    seat = chat_seats.seat_claim(room=room, nick="ann", learner=learner)

    async def scenario() -> None:
        started = asyncio.Event()

        async def tab() -> None:
            async for _ in _stream(seat):
                started.set()

        task = asyncio.create_task(tab())
        await asyncio.wait_for(started.wait(), 10)
        assert limits.STREAMS.open_for(learner) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await chat_seats.awho_is_here(room) == []

    asyncio.run(asyncio.wait_for(scenario(), 20))
    assert not chat_seats.seat_holds(seat)
    assert limits.STREAMS.open_for(learner) == 0


@pytest.mark.redis
def test_a_leave_that_finds_the_pool_busy_tries_again_and_frees_the_nickname(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hundreds of tabs leaving at once can find the pool busy ("No connection available"):
    the nickname must come back all the same, not stay taken until its lease lapses."""
    room, learner = _room(), _learner()
    seat = chat_seats.seat_claim(room=room, nick="ann", learner=learner)
    real_release = chat_seats.aseat_release
    tries: list[int] = []

    async def busy_then_real(s: chat_seats.Seat) -> bool:
        tries.append(1)
        if len(tries) < 3:
            raise redis.exceptions.ConnectionError("No connection available.")
        return await real_release(s)

    monkeypatch.setattr(chat_seats, "aseat_release", busy_then_real)
    monkeypatch.setattr(chat_hub, "LEAVE_RETRY_PAUSES", (0.01, 0.01, 0.01))

    async def scenario() -> None:
        tab = _stream(seat)
        async for chunk in tab:
            if chunk.startswith(b"event: here"):
                break
        await tab.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 20))
    assert len(tries) == 3
    assert not chat_seats.seat_holds(seat)
    assert asyncio.run(chat_seats.awho_is_here(room)) == []


@pytest.mark.redis
def test_a_tab_refused_a_stream_gives_its_nickname_back(redis_url: str) -> None:
    """Over the learner's stream cap the tab is told so and is not in the room: its nickname
    is free at once, not reserved until the reservation lapses."""
    room, learner = _room(), _learner()
    seats = [
        chat_seats.seat_claim(room=room, nick=f"tab{i}", learner=learner)
        for i in range(limits.STREAMS_PER_LEARNER + 1)
    ]

    async def scenario() -> list[bytes]:
        open_tabs = [_stream(seat) for seat in seats[:-1]]
        for tab in open_tabs:
            async for chunk in tab:
                if chunk.startswith(b"event: here"):
                    break
        refused = [chunk async for chunk in _stream(seats[-1])]
        for tab in open_tabs:
            await tab.aclose()
        return refused

    refused = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert b"event: end" in b"".join(refused), refused
    assert not chat_seats.seat_holds(seats[-1])
    assert asyncio.run(chat_seats.awho_is_here(room)) == []


@pytest.mark.redis
def test_200_joins_and_leaves_in_a_second_show_a_bounded_number_of_notices(
    redis_url: str,
) -> None:
    """The attack: 200 tabs with fresh cookies from many addresses open and close a room at
    once. The room's own notice rate bounds what everyone in it sees."""
    room = _room()
    seats = [chat_seats.seat_claim(room=room, nick=f"n{i}", learner=_learner()) for i in range(200)]
    listener = redis.Redis.from_url(redis_url)
    pubsub = listener.pubsub()
    pubsub.subscribe(names.chat_channel(room))
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"  # type: ignore[index]

    async def scenario() -> None:
        async def reload(i: int, seat: chat_seats.Seat) -> None:
            tab = chat_hub.chat_events(
                seat=seat, client_addr=f"198.51.{i // 250}.{i % 250}", down_message="down"
            )
            async for chunk in tab:
                if chunk.startswith(b"event: here"):
                    break
            await tab.aclose()

        await asyncio.gather(*(reload(i, seat) for i, seat in enumerate(seats)))
        # A leave that outlasts its 2 s wait goes on, shielded (200 at once share one pool
        # on a loaded machine): the loop stays up until they are done, as a server's would.
        deadline = asyncio.get_running_loop().time() + 20
        while await chat_seats.awho_is_here(room) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)

    asyncio.run(asyncio.wait_for(scenario(), 90))  # generous: a loaded CI machine
    notices = 0
    while pubsub.get_message(timeout=0.5) is not None:
        notices += 1
    pubsub.close()
    listener.close()
    assert 0 < notices <= limits.ROOM_NOTICE_RATE
    assert asyncio.run(chat_seats.awho_is_here(room)) == []  # every nickname given back


def test_a_taken_nickname_is_a_409_that_says_so(fake_redis: Any, client: Any, db: Any) -> None:
    room = _room()
    services.chat_seat_take(room=room, nick="ann", learner=_learner())
    resp = client.post(f"/sandbox/chat/{room}/nick/", {"nick": "Ann", "uid": "ch-0000abcd"})
    assert resp.status_code == 409
    assert "already called Ann" in resp.content.decode()
