"""The "Kick off a match" control: POST only, CSRF, one match per feed, admission limits.

Against the real Redis, on a demo feed of each test's own. The match itself is not played
here (``matches.match_start`` is replaced): these tests are about who may start one; the
playing is tested in test_matches.py and end to end in test_kickoff_stream.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.test import Client

from live import matches
from live.feeds import FEEDS_KEY, match_key, state_key

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


@pytest.fixture
def demo(ns: str, settings: Any, redis_url: str) -> Iterator[str]:
    feed = f"{ns}-demo"
    settings.LIVE_DEMO_FEEDS = [feed]
    yield feed
    # Its keys go with the ns fixture; its name in the shared set of feeds goes here.
    client = redis.Redis.from_url(redis_url)
    client.srem(FEEDS_KEY, feed)
    client.close()


@pytest.fixture
def rdb(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[matches.Match]:
    """Matches the view started, not played; each keeps its claim (it "plays on")."""
    calls: list[matches.Match] = []
    monkeypatch.setattr(matches, "match_start", lambda *, match: calls.append(match))
    # A claim lives one lease unless renewed; nothing renews it here, so make the lease
    # outlast any test on a loaded machine.
    monkeypatch.setattr(matches, "LEASE_SECONDS", 600.0)
    return calls


@pytest.fixture
def ended_at_once(monkeypatch: pytest.MonkeyPatch, rdb: redis.Redis) -> list[matches.Match]:
    """Matches the view started, each over at once: the claim given back, the feed free."""
    calls: list[matches.Match] = []

    def start(*, match: matches.Match) -> None:
        calls.append(match)
        rdb.delete(match_key(match.feed))

    monkeypatch.setattr(matches, "match_start", start)
    return calls


def _url(feed: str) -> str:
    return f"/live/{feed}/kickoff"


def test_a_get_is_refused(client: Any, demo: str, started: list[matches.Match]) -> None:
    response = client.get(_url(demo))
    assert response.status_code == 405
    assert started == []


def test_a_post_without_the_csrf_token_is_refused(demo: str, started: list[Any]) -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser.post(_url(demo)).status_code == 403
    assert started == []
    page = browser.get(f"/live/{demo}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None, "the kick-off form carries the CSRF token"
    response = browser.post(_url(demo), {"csrfmiddlewaretoken": token.group(1)})
    assert response.status_code == 302
    assert len(started) == 1


def test_a_plain_form_kicks_off_and_returns_to_the_feed(
    client: Any, demo: str, started: list[matches.Match], rdb: redis.Redis
) -> None:
    response = client.post(_url(demo))
    assert response.status_code == 302
    assert response["Location"] == f"/live/{demo}/"
    assert [m.feed for m in started] == [demo]
    assert rdb.get(match_key(demo)) == started[0].id.encode()
    assert started[0].updates[0].kind == "kickoff"
    assert started[0].updates[-1].kind == "fulltime"
    page = client.get(f"/live/{demo}/").content.decode()
    assert 'data-state="running"' in page
    assert "A match\n    is being played on this feed now" in page


def test_a_second_kickoff_while_one_plays_is_refused_with_a_clear_message(
    client: Any, demo: str, started: list[matches.Match]
) -> None:
    first = client.post(_url(demo), headers={"HX-Request": "true"})
    assert first.status_code == 200
    assert "Kick-off:" in first.content.decode()
    # Someone else, with a session of their own, presses too.
    second = Client().post(_url(demo), headers={"HX-Request": "true"})
    assert second.status_code == 409
    body = second.content.decode()
    assert "A match is already being played on this feed" in body
    assert 'role="alert"' in body
    assert 'data-state="running"' in body
    assert len(started) == 1
    # A plain form gets the whole page with the same message.
    plain = Client().post(_url(demo))
    assert plain.status_code == 409
    assert "A match is already being played on this feed" in plain.content.decode()
    assert "<h1>" in plain.content.decode()


def test_many_fresh_sessions_from_one_address_meet_the_address_limit(
    demo: str, ended_at_once: list[matches.Match]
) -> None:
    limit = matches.KICKOFFS.per_address
    assert limit is not None
    assert matches.KICKOFFS.per_learner is not None and matches.KICKOFFS.per_learner < limit
    for _ in range(limit):
        # A new cookie each time: the per-learner limit never applies.
        response = Client(REMOTE_ADDR="203.0.113.7").post(_url(demo))
        assert response.status_code == 302
    refused = Client(REMOTE_ADDR="203.0.113.7").post(_url(demo), headers={"HX-Request": "true"})
    assert refused.status_code == 429
    assert "Your network has kicked off" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    assert len(ended_at_once) == limit
    # Another network is not held back by this one.
    other = Client(REMOTE_ADDR="198.51.100.9").post(_url(demo))
    assert other.status_code == 302


def test_one_learner_meets_the_learner_limit(
    client: Any, demo: str, ended_at_once: list[matches.Match]
) -> None:
    limit = matches.KICKOFFS.per_learner
    assert limit is not None
    for _ in range(limit):
        assert client.post(_url(demo)).status_code == 302
    refused = client.post(_url(demo))
    assert refused.status_code == 429
    assert "You have kicked off" in refused.content.decode()


def test_a_feed_that_is_not_a_demo_feed_cannot_be_kicked_off(
    client: Any, demo: str, ns: str, started: list[matches.Match]
) -> None:
    response = client.post(_url(f"{ns}-cup-final"), headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert "only on the shared demo feed" in response.content.decode()
    assert started == []
    page = client.get(f"/live/{ns}-cup-final/").content.decode()
    assert "Kick off a match" not in page


def test_the_hint_shows_until_a_match_was_played(client: Any, demo: str, rdb: redis.Redis) -> None:
    page = client.get(f"/live/{demo}/").content.decode()
    assert 'data-state="idle"' in page
    assert re.search(r'data-testid="live-kickoff-hint"\s*>', page), "the hint is shown"
    assert "manage.py" not in page and "redis-cli" not in page
    rdb.set(state_key(demo), b'{"kind": "fulltime", "text": "Full-time"}', ex=60)
    page = client.get(f"/live/{demo}/").content.decode()
    assert 'data-state="over"' in page
    assert re.search(r'data-testid="live-kickoff-hint" hidden', page), "the hint is gone"
    assert "That match is over." in page


def test_the_lesson_board_offers_the_kickoff_instead_of_a_terminal_command(
    client: Any, settings: Any, redis_url: str
) -> None:
    """Lesson 4's board is the shared demo feed: a learner there has no terminal."""
    settings.LIVE_DEMO_FEEDS = ["demo"]
    page = client.get("/lessons/from-redis-to-the-browser/").content.decode()
    assert 'action="/live/demo/kickoff"' in page
    assert "Kick off a match" in page
    assert "simulate_match" not in page
