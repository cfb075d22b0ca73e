from __future__ import annotations

import re
from typing import Any

import pytest
from django.template import Context, Template
from django.test import Client, RequestFactory

from sandbox import limits

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def learner(client: Client, db: Any) -> Client:
    assert client.get("/sandbox/").status_code == 200
    return client


def test_playground_page_shows_the_namespace(learner: Client) -> None:
    page = learner.get("/sandbox/").content.decode()
    assert re.search(r"sandbox:[0-9a-f]{16}:chat", page)
    assert "PSUBSCRIBE" in page
    # the demo's code, shown verbatim and highlighted as the lessons' code is
    assert (
        '<span class="nf">listen_in_main_thread</span>' in page
        and '<div class="highlight">' in page
    )


def test_add_panel_returns_a_stream_for_a_valid_channel(learner: Client) -> None:
    resp = learner.post("/sandbox/panels/", {"kind": "channel", "name": "news.sport"}, **HX)
    assert resp.status_code == 200
    assert (
        'sse-connect="/sandbox/stream/?kind=channel&amp;name=news.sport"' in resp.content.decode()
    )


def test_bad_channel_name_gets_a_400_that_says_why(learner: Client) -> None:
    resp = learner.post(
        "/sandbox/panels/", {"kind": "channel", "name": "two words", "uid": "pg-0000abcd"}, **HX
    )
    assert resp.status_code == 400
    assert resp["HX-Retarget"] == "#pg-0000abcd-add-error"
    assert "letters, digits" in resp.content.decode()


def test_a_fifth_panel_is_refused(learner: Client) -> None:
    data = {"kind": "channel", "name": "chat", "panel": ["a", "b", "c", "d"]}
    resp = learner.post("/sandbox/panels/", data, **HX)
    assert resp.status_code == 409
    assert f"at most {limits.PANELS_MAX} subscriber panels" in resp.content.decode()


def test_publish_shows_the_count(learner: Client, fake_redis: Any) -> None:
    resp = learner.post("/sandbox/publish/", {"channel": "chat", "message": "hi"}, **HX)
    assert resp.status_code == 200
    assert 'data-receivers="0"' in resp.content.decode()


def test_publishing_keeps_no_session_and_no_row(client: Client, fake_redis: Any, db: Any) -> None:
    """The sandbox keeps its data in Redis: a publish needs the learner's key, not a session.
    So a client with fresh cookies grows no table, and the namespace the page showed is the
    one the publish used (the signed cookie carries the key from one request to the next)."""
    from django.contrib.sessions.models import Session

    from progress.models import Learner
    from tests.support.learners import learner_of

    page = client.get("/sandbox/").content.decode()
    shown = re.search(r"sandbox:([0-9a-f]{16}):", page)
    assert shown is not None
    sessions, learners = Session.objects.count(), Learner.objects.count()
    for message in ("one", "two"):
        resp = client.post("/sandbox/publish/", {"channel": "chat", "message": message}, **HX)
        assert resp.status_code == 200
        assert "sessionid" not in resp.cookies
    assert (Session.objects.count(), Learner.objects.count()) == (sessions, learners)
    assert learner_of(client) == shown.group(1)
    assert f"sandbox:{shown.group(1)}:chat" in resp.content.decode()


def test_publish_rate_limit_is_a_429_naming_the_limit(learner: Client, fake_redis: Any) -> None:
    for _ in range(limits.PUBLISH_RATE):
        learner.post("/sandbox/publish/", {"channel": "chat", "message": "hi"}, **HX)
    resp = learner.post("/sandbox/publish/", {"channel": "chat", "message": "hi"}, **HX)
    assert resp.status_code == 429
    assert f"at most {limits.PUBLISH_RATE} messages" in resp.content.decode()
    assert "Retry-After" in resp


def test_publish_when_redis_is_down_is_a_503_not_a_500(learner: Client) -> None:
    # Without fake_redis the settings point at a port where nothing listens.
    resp = learner.post("/sandbox/publish/", {"channel": "chat", "message": "hi"}, **HX)
    assert resp.status_code == 503
    assert "Redis is not answering" in resp.content.decode()


def test_publish_without_htmx_renders_a_full_page(learner: Client, fake_redis: Any) -> None:
    resp = learner.post("/sandbox/publish/", {"channel": "bad channel", "message": "hi"})
    assert resp.status_code == 400
    assert "<html" in resp.content.decode()


def test_stream_with_a_bad_name_is_refused_plainly(learner: Client) -> None:
    resp = learner.get("/sandbox/stream/?kind=channel&name=a*b")
    assert resp.status_code == 400


def test_demo_start_with_unknown_mode_is_a_400(learner: Client) -> None:
    resp = learner.post("/sandbox/demo/", {"mode": "fork"}, **HX)
    assert resp.status_code == 400
    assert "Choose a mode" in resp.content.decode()


def test_demo_start_opens_both_runs_side_by_side(learner: Client, fake_redis: Any) -> None:
    resp = learner.post("/sandbox/demo/", {"uid": "bd-0000abcd"}, **HX)
    assert resp.status_code == 200
    text = resp.content.decode()
    links = re.findall(r'sse-connect="(/sandbox/demo/[^/"]+/events/)"', text)
    assert len(set(links)) == 2  # one stream per run, each its own one-use link
    assert 'data-mode="main"' in text and 'data-mode="thread"' in text
    assert text.count("data-sb-demo-stop>") == 1  # one Stop for both


def test_demo_start_says_so_when_redis_is_down(
    learner: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from sandbox.demo import runs

    def down(learner: str, client_addr: str = "") -> None:
        raise RedisConnectionError("refused")

    monkeypatch.setattr(runs.REGISTRY, "check", down)
    resp = learner.post("/sandbox/demo/", {"mode": "main"}, **HX)
    assert resp.status_code == 503
    assert "Redis is not answering" in resp.content.decode()


def test_demo_start_refuses_a_second_run_of_the_same_learner(
    learner: Client, redis_url: str
) -> None:
    """Against the real Redis: the learner's one place is held by another process."""
    from sandbox.demo import runs

    page = learner.get("/sandbox/").content.decode()
    found = re.search(r"sandbox:([0-9a-f]{16}):", page)
    assert found
    key = found.group(1)
    # Another tab or process holds this learner's two places (claimed through admission).
    held = [
        runs.REGISTRY.capacity.take(learner=key, address="192.0.2.7", member=f"elsewhere{i}")
        for i in range(runs.RUNS_PER_LEARNER)
    ]
    try:
        resp = learner.post("/sandbox/demo/", {"mode": "both", "uid": "bd-0000abcd"}, **HX)
    finally:
        for claim in held:
            claim.release()
    assert resp.status_code == 429
    text = resp.content.decode()
    assert "one pair of runs per learner" in text
    # This tab did not start them, and still gets a Stop for them.
    assert "Stop my runs" in text and 'hx-post="/sandbox/demo/stop/"' in text


def test_chat_room_with_a_bad_name_is_a_400(learner: Client) -> None:
    resp = learner.get("/sandbox/chat/Bad%20Room!/")
    assert resp.status_code == 400
    text = resp.content.decode()
    assert "There is no chat room called" in text and "open a new room" in text


def test_chat_create_redirects_to_a_new_room(learner: Client) -> None:
    resp = learner.post("/sandbox/chat/new/")
    assert resp.status_code == 302
    assert re.fullmatch(r"/sandbox/chat/room-[0-9a-f]{8}/", resp["Location"])


def test_chat_send_without_nickname_is_refused(learner: Client, fake_redis: Any) -> None:
    resp = learner.post("/sandbox/chat/room-1/send/", {"text": "hi"}, **HX)
    assert resp.status_code == 400
    assert "nickname" in resp.content.decode()


def test_two_embeds_on_one_page_never_share_ids(db: Any, rf: RequestFactory) -> None:
    from django.contrib.sessions.backends.db import SessionStore

    request = rf.get("/lessons/x/")
    request.session = SessionStore()
    template = Template(
        '{% include "sandbox/embeds/playground.html" %}'
        '{% include "sandbox/embeds/playground.html" %}'
        '{% include "sandbox/embeds/blocking_demo.html" %}'
        '{% include "sandbox/embeds/chat.html" %}'
        '{% include "sandbox/embeds/chat.html" with embed_arg="lobby" %}'
    )
    html = template.render(Context({"request": request, "embed_arg": None, "lesson": None}))
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) > 10
    assert len(ids) == len(set(ids))
    assert "Chat room lobby" in html


def test_demo_stop_stores_when_it_was_pressed(learner: Client, fake_redis: Any) -> None:
    import time

    from sandbox.demo import runs

    before = time.time()
    resp = learner.post("/sandbox/demo/stop/", **HX)
    assert resp.status_code == 200 and "Stopping" in resp.content.decode()
    (key,) = fake_redis.keys(runs.stop_key("*"))
    pressed = float(fake_redis.get(key))
    assert before <= pressed <= time.time()
    run = runs.Run(learner="0" * 16, mode="thread", credentials=None)
    run.started_at = pressed + 1  # started after the press: not stopped by it
    assert not runs.stops(run, fake_redis.get(key)) and runs.stops(run, str(pressed + 2))
    assert not runs.stops(run, None) and not runs.stops(run, b"not a time")
    run.client.close()


def test_a_demo_stream_over_the_limit_ends_saying_so(
    fake_redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from sandbox.demo import runs
    from sandbox.streams import demo_stream

    monkeypatch.setattr(runs, "REGISTRY", runs.Registry(key_prefix="t-full", per_learner=0))

    async def read() -> list[bytes]:
        return [c async for c in demo_stream(learner="0" * 16, mode="main", client_addr="")]

    chunks = asyncio.run(read())
    assert b"event: end" in chunks[-1] and b"one pair of runs per learner" in chunks[-1]


def test_chat_send_as_a_seat_someone_else_took_is_refused(learner: Client, fake_redis: Any) -> None:
    from sandbox import chat_seats

    room = "room-0000cafe"
    named = learner.post(f"/sandbox/chat/{room}/nick/", {"nick": "ann", "uid": "ch-0000abcd"}, **HX)
    assert named.status_code == 200
    seat = re.search(r'name="seat" value="([^"]+)"', named.content.decode())
    assert seat
    # The seat lapsed and someone else took the nickname meanwhile.
    fake_redis.set(chat_seats.nick_key(room, "ann"), "someone-else")
    resp = learner.post(f"/sandbox/chat/{room}/send/", {"text": "hi", "seat": seat.group(1)}, **HX)
    assert resp.status_code == 409
    assert "Someone else is called ann in this room now" in resp.content.decode()


def test_a_chat_stream_without_a_seat_is_refused(learner: Client) -> None:
    resp = learner.get("/sandbox/chat/room-0000cafe/events/?seat=forged")
    assert resp.status_code == 400
    assert "Choose a nickname first" in resp.content.decode()


def test_a_publish_runs_on_the_event_loop(fake_redis: Any, transactional_db: Any) -> None:
    """No thread for the view (a sync view under ASGI queues for one and then fights the
    loop for the GIL: the slow publishes of bench/results/abuse.md); the middleware's one
    hop is the CSRF check of a POST, and no session is saved."""
    from unittest import mock

    from asgiref.sync import async_to_sync, sync_to_async
    from django.test import AsyncClient

    from learnsite import asyncmiddleware

    async def scenario() -> None:
        client = AsyncClient()
        assert (await client.get("/sandbox/")).status_code == 200
        view_hops = mock.MagicMock(side_effect=sync_to_async)
        middleware_hops = mock.MagicMock(side_effect=sync_to_async)
        with (
            mock.patch("django.core.handlers.base.sync_to_async", view_hops),
            mock.patch.object(asyncmiddleware, "sync_to_async", middleware_hops),
        ):
            response = await client.post(
                "/sandbox/publish/",
                {"channel": "chat", "message": "hi"},
                headers={"HX-Request": "true"},
            )
        assert response.status_code == 200, response.content[:300]
        assert 'data-receivers="0"' in response.content.decode()
        assert view_hops.call_count == 0
        assert middleware_hops.call_count == 1
        assert "sessionid" not in response.cookies

    async_to_sync(scenario)()
