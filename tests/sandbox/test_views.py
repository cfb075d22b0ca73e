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
    assert "def listen_in_main_thread" in page  # the demo's code, shown verbatim


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


def test_demo_start_says_so_when_redis_is_down(
    learner: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from sandbox.demo import runs

    def down(learner: str) -> None:
        raise RedisConnectionError("refused")

    monkeypatch.setattr(runs.REGISTRY, "check", down)
    resp = learner.post("/sandbox/demo/", {"mode": "main"}, **HX)
    assert resp.status_code == 503
    assert "Redis is not answering" in resp.content.decode()


def test_demo_start_refuses_a_second_run_of_the_same_learner(
    learner: Client, fake_redis: Any
) -> None:
    from sandbox.demo import runs

    page = learner.get("/sandbox/").content.decode()
    found = re.search(r"sandbox:([0-9a-f]{16}):", page)
    assert found
    key = found.group(1)
    fake_redis.set(runs.REGISTRY.learner_key(key), "someone-elses-run", ex=30)  # another process
    resp = learner.post("/sandbox/demo/", {"mode": "main"}, **HX)
    assert resp.status_code == 429
    assert "one run per learner" in resp.content.decode()


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
