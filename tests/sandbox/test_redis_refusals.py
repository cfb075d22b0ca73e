"""A Redis that is there but refuses writes (full under ``noeviction``: OOM; a replica:
READONLY) is answered like a Redis that is down: a 503 that says what happened and what to
do, never a 500. Each test runs its own redis-server: the shared one's config is not touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from django.test import Client

from learnsite import broker
from learnsite.runner import free_port
from tests.support.redis_server import PrivateRedis

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

HX = {"HTTP_HX_REQUEST": "true"}


def _point_at(settings: Any, server: PrivateRedis) -> None:
    settings.REDIS_URL = server.url
    settings.SANDBOX_REDIS_URL = server.url


@pytest.fixture
def full_redis(private_redis: PrivateRedis, settings: Any) -> Iterator[PrivateRedis]:
    """Over its maxmemory with nothing it may evict: every write is refused with OOM."""
    raw = redis.Redis.from_url(private_redis.url)
    raw.config_set("maxmemory-policy", "noeviction")
    raw.set("filler", b"x" * 4 * 1024 * 1024)
    raw.config_set("maxmemory", str(int(raw.info("memory")["used_memory"]) // 2))
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        raw.incr("probe")
    raw.close()
    _point_at(settings, private_redis)
    yield private_redis


@pytest.fixture
def replica_redis(private_redis: PrivateRedis, settings: Any) -> Iterator[PrivateRedis]:
    """A replica of a primary that does not exist: every write is refused with READONLY."""
    raw = redis.Redis.from_url(private_redis.url)
    raw.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))
    with pytest.raises(redis.exceptions.ReadOnlyError):
        raw.incr("probe")
    raw.close()
    _point_at(settings, private_redis)
    yield private_redis


@pytest.fixture
def learner(client: Client) -> Client:
    assert client.get("/sandbox/").status_code == 200
    return client


def _publish(learner: Client) -> Any:
    return learner.post("/sandbox/publish/", {"channel": "news", "message": "hi"}, **HX)


def _chat_send(learner: Client) -> Any:
    room = "room-0000abcd"
    # A nickname is claimed in Redis: where nothing can be stored, that is the 503.
    named = learner.post(f"/sandbox/chat/{room}/nick/", {"nick": "ann"}, **HX)
    if named.status_code != 200:
        return named
    return learner.post(f"/sandbox/chat/{room}/send/", {"text": "hello"}, **HX)


def _demo_start(learner: Client) -> Any:
    return learner.post("/sandbox/demo/", {"mode": "thread"}, **HX)


SENDS = pytest.mark.parametrize(
    "send", [_publish, _chat_send, _demo_start], ids=["publish", "chat-send", "demo-start"]
)


@SENDS
def test_redis_out_of_memory_is_never_a_500(
    full_redis: PrivateRedis, learner: Client, send: Any
) -> None:
    # PUBLISH needs no memory, so a publish may still go out (limits then count in this
    # process, see learnsite.admission); whatever must be stored is refused with a 503.
    response = send(learner)
    text = response.content.decode()
    assert response.status_code in (200, 503), text[:300]
    if response.status_code == 503:
        assert "Redis is out of memory" in text and "Try again in a minute" in text
        assert full_redis.url not in text


@SENDS
def test_a_read_only_replica_is_never_a_500(
    replica_redis: PrivateRedis, learner: Client, send: Any
) -> None:
    response = send(learner)
    text = response.content.decode()
    assert response.status_code in (200, 503), text[:300]
    if response.status_code == 503:
        assert "Redis is read-only right now" in text


def test_a_demo_run_redis_cannot_store_is_a_503_naming_the_cause(
    full_redis: PrivateRedis, learner: Client
) -> None:
    response = _demo_start(learner)
    assert response.status_code == 503
    assert "Redis is out of memory" in response.content.decode()


def test_a_demo_run_a_replica_cannot_store_is_a_503_naming_the_cause(
    replica_redis: PrivateRedis, learner: Client
) -> None:
    response = _demo_start(learner)
    assert response.status_code == 503
    assert "Redis is read-only right now" in response.content.decode()


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (redis.exceptions.OutOfMemoryError("OOM command not allowed"), "Redis is out of memory"),
        (redis.exceptions.ReadOnlyError("READONLY You can't write"), "Redis is read-only"),
    ],
)
@pytest.mark.parametrize("send", [_publish, _chat_send], ids=["publish", "chat-send"])
def test_a_refused_publish_is_a_503_naming_the_cause(
    learner: Client,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    send: Any,
    error: BaseException,
    says: str,
) -> None:
    # The refusal a server under failover or full of streams gives PUBLISH's neighbours,
    # raised where the view meets it: at the publish itself.
    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise error

    async def arefused(*_args: Any, **_kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(redis.Redis, "publish", refused)  # a chat line, in a thread
    monkeypatch.setattr(redis.asyncio.Redis, "publish", arefused)  # a publish, on the loop
    response = send(learner)
    assert response.status_code == 503
    assert says in response.content.decode()


def test_the_pool_exhausted_is_a_503_that_says_busy_not_down(
    learner: Client, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def exhausted(*_args: Any, **_kwargs: Any) -> Any:
        raise redis.exceptions.MaxConnectionsError("Too many connections")

    monkeypatch.setattr(redis.asyncio.Redis, "publish", exhausted)
    response = _publish(learner)
    assert response.status_code == 503
    text = response.content.decode()
    assert "every connection to Redis is in use" in text
    assert "not answering" not in text


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (redis.exceptions.OutOfMemoryError("OOM command not allowed"), "out of memory"),
        (redis.exceptions.ReadOnlyError("READONLY"), "read-only"),
        (redis.exceptions.MaxConnectionsError("Too many connections"), "every connection"),
        (redis.exceptions.ConnectionError("refused"), "not answering"),
        (None, "not answering"),
    ],
)
def test_every_unavailable_error_has_a_sentence(error: BaseException | None, says: str) -> None:
    if error is not None:
        assert isinstance(error, broker.UNAVAILABLE_ERRORS)
    assert says in broker.unavailable_text(error)
