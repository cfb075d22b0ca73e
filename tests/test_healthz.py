"""/healthz: JSON with the state of the database and of Redis, and which Redis it is."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.support.redis_server import PrivateRedis

pytestmark = pytest.mark.django_db


@pytest.mark.redis
def test_ok_with_a_real_redis(client: Client, redis_url: str) -> None:
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["database"]["state"] == "ok"
    assert body["redis"]["state"] == "ok"
    assert body["redis"]["url"] == redis_url
    assert body["redis"]["mode"] == "external"
    assert body["redis"]["latency_ms"] >= 0


@pytest.mark.redis
def test_redis_down_is_a_503_that_says_so(
    client: Client, private_redis: PrivateRedis, settings: Any
) -> None:
    settings.REDIS_URL = private_redis.url
    assert client.get("/healthz").json()["redis"]["state"] == "ok"
    private_redis.stop()
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "degraded"
    assert body["redis"]["state"] == "down"
    assert body["redis"]["error"]
    assert body["database"]["state"] == "ok"


def test_password_in_the_redis_url_is_hidden(client: Client, settings: Any) -> None:
    settings.REDIS_URL = "redis://user:s3cret@127.0.0.1:1/0"
    body = client.get("/healthz").json()
    assert "s3cret" not in str(body)
    assert body["redis"]["url"] == "redis://user:***@127.0.0.1:1/0"
    assert body["redis"]["state"] == "down"


@pytest.mark.redis
def test_embedded_mode_is_reported(client: Client, redis_url: str, settings: Any) -> None:
    settings.REDIS_MODE = "embedded"
    body = client.get("/healthz").json()
    assert body["redis"]["state"] == "embedded"
    assert body["status"] == "ok"


def test_database_down_is_reported(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import DatabaseError, connection

    def broken_cursor(*_args: Any, **_kwargs: Any) -> Any:
        raise DatabaseError("database is locked")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == {
        "state": "down",
        "vendor": connection.vendor,
        "error": "database is locked",
    }


def test_healthz_is_never_cached_and_get_only(client: Client) -> None:
    response = client.get("/healthz")
    assert "no-cache" in response["Cache-Control"]
    assert client.post("/healthz").status_code == 405
