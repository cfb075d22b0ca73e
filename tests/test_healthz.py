"""/healthz: ``ok``/``degraded`` (200/503) to anyone; what failed, which Redis and the error
texts only to staff and the local host (the test client's REMOTE_ADDR is 127.0.0.1)."""

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
    assert body["failed"] == []
    assert body["database"]["state"] == "ok"
    assert body["redis"]["state"] == "ok"
    assert body["content"]["state"] == "ok"
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
    assert body["failed"] == ["redis"]
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


WORLD = "203.0.113.9"


def test_the_world_sees_only_ok(client: Client, settings: Any) -> None:
    settings.REDIS_URL = "redis://user:s3cret@redis.internal:1/0"
    response = client.get("/healthz", REMOTE_ADDR=WORLD)
    assert response.status_code == 503
    assert response.json() == {"status": "degraded"}
    assert b"redis.internal" not in response.content and b"s3cret" not in response.content


@pytest.mark.redis
def test_the_world_sees_ok_when_all_is_well(client: Client, redis_url: str) -> None:
    response = client.get("/healthz", REMOTE_ADDR=WORLD)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_the_world_sees_no_database_error(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import DatabaseError, connection

    def broken_cursor(*_args: Any, **_kwargs: Any) -> Any:
        raise DatabaseError('connection to server at "db.internal" failed: password for "site"')

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz", REMOTE_ADDR=WORLD)
    assert response.json() == {"status": "degraded"}
    assert b"db.internal" not in response.content


def test_ipv6_loopback_sees_details(client: Client) -> None:
    body = client.get("/healthz", REMOTE_ADDR="::1").json()
    assert body["redis"]["state"] == "down"  # unit tests point Redis where nothing listens


def test_staff_see_details_from_anywhere(client: Client, admin_user: Any) -> None:
    client.force_login(admin_user)
    body = client.get("/healthz", REMOTE_ADDR=WORLD).json()
    assert body["failed"] == ["redis"]
    assert "url" in body["redis"]


def test_a_logged_in_learner_is_still_the_world(client: Client, django_user_model: Any) -> None:
    client.force_login(django_user_model.objects.create_user("ann", password="x-long-pass-1"))
    assert client.get("/healthz", REMOTE_ADDR=WORLD).json() == {"status": "degraded"}


def test_a_local_proxy_does_not_make_the_world_local(client: Client, settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    response = client.get("/healthz", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=WORLD)
    assert response.json() == {"status": "degraded"}
    local = client.get("/healthz", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert "redis" in local.json()


def test_a_forged_forwarded_for_from_the_world_is_not_local(client: Client) -> None:
    response = client.get("/healthz", REMOTE_ADDR=WORLD, HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.json() == {"status": "degraded"}


def test_invalid_content_served_from_the_last_good_copy_is_degraded(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from learnsite.content import lastgood

    problem = "content/lessons/01-x.md:3: missing title; add title: ..."
    monkeypatch.setattr(lastgood, "_state", lastgood.ContentState(False, "last-good", (problem,)))
    body = client.get("/healthz").json()
    assert "content" in body["failed"]
    assert body["content"] == {"state": "invalid", "serving": "last-good", "problems": [problem]}
    assert client.get("/healthz", REMOTE_ADDR=WORLD).json() == {"status": "degraded"}
