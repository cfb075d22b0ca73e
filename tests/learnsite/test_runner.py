"""How `make run` finds a Redis: REDIS_URL, else 6379, else a private server, else embedded."""

from __future__ import annotations

import shutil
import threading

import pytest
import redis

from learnsite import runner
from tests.support.env import require


def test_redis_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example.invalid:6379/3")
    found = runner.find_redis()
    assert (found.url, found.mode) == ("redis://example.invalid:6379/3", "external")


def test_private_server_when_nothing_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(runner, "DEFAULT_LOCAL_REDIS", f"redis://127.0.0.1:{runner.free_port()}/0")
    found = runner.find_redis()
    try:
        assert found.mode == "private"
        assert runner.redis_answers(found.url)
    finally:
        found.stop()
    assert not runner.redis_answers(found.url)


def test_embedded_fallback_carries_pubsub_between_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(runner, "DEFAULT_LOCAL_REDIS", f"redis://127.0.0.1:{runner.free_port()}/0")
    monkeypatch.setattr(runner.shutil, "which", lambda _name: None)
    found = runner.find_redis()
    try:
        assert found.mode == "embedded"
        subscriber = redis.Redis.from_url(found.url)
        publisher = redis.Redis.from_url(found.url)
        pubsub = subscriber.pubsub()
        pubsub.subscribe("chat")
        first = pubsub.get_message(timeout=2)
        assert first is not None and first["type"] == "subscribe"
        assert publisher.publish("chat", "hello") == 1
        message = pubsub.get_message(timeout=2)
        assert message is not None and message["data"] == b"hello"
        pubsub.close()
        subscriber.close()
        publisher.close()
    finally:
        found.stop()
    assert not any(t.name == "fakeredis" and t.is_alive() for t in threading.enumerate())


def test_embedded_banner_is_loud() -> None:
    assert "EMBEDDED" in runner.EMBEDDED_BANNER
    assert "REDIS_URL" in runner.EMBEDDED_BANNER
