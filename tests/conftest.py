"""Shared fixtures: the real Redis, per-test namespaces, a uvicorn server, Chromium."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from learnsite.runner import DEFAULT_LOCAL_REDIS, redis_answers
from tests.support.env import in_ci, require
from tests.support.redis_server import PrivateRedis
from tests.support.servers import AsgiServer, make_database, migrate

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-output"
_private: PrivateRedis | None = None


def _real_redis_url() -> str | None:
    global _private
    configured = os.environ.get("REDIS_URL")
    if configured:
        return configured if redis_answers(configured) else None
    if redis_answers(DEFAULT_LOCAL_REDIS):
        return DEFAULT_LOCAL_REDIS
    if shutil.which("redis-server"):
        _private = PrivateRedis().start()
        return _private.url
    return None


@pytest.fixture(scope="session")
def real_redis_url() -> Iterator[str]:
    url = _real_redis_url()
    require(
        url is not None, "no Redis server: set REDIS_URL, run one on 6379 or install redis-server"
    )
    assert url is not None
    yield url
    if _private is not None:
        _private.close()


@pytest.fixture
def redis_url(real_redis_url: str, settings: Any) -> str:
    """A real Redis, and the site's settings pointed at it for this test."""
    settings.REDIS_URL = real_redis_url
    settings.REDIS_MODE = "external"
    return real_redis_url


@pytest.fixture
def ns(redis_url: str) -> Iterator[str]:
    """A unique prefix for this test's keys and channels; its keys are deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"*{prefix}*", count=500):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of this test's own, free to stop and restart."""
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    server = PrivateRedis().start()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _fakeredis_by_default(request: pytest.FixtureRequest, settings: Any) -> Iterator[None]:
    """Unit tests never reach a real Redis by accident: unless a test asks for one,
    settings point at an address where nothing listens."""
    if "redis_url" not in request.fixturenames and "real_redis_url" not in request.fixturenames:
        settings.REDIS_URL = "redis://127.0.0.1:1/0"
    yield


@pytest.fixture(scope="session")
def site_server(real_redis_url: str) -> Iterator[AsgiServer]:
    """The whole site under uvicorn, with its own database, against the real Redis."""
    database = make_database()
    migrate(database)
    server = AsgiServer(database=database, redis_url=real_redis_url)
    yield server
    server.stop()
    if callable(database.drop):
        database.drop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    require(Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        yield instance
        instance.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pytest_report_header() -> list[str]:
    return [f"CI={in_ci()} chromium={CHROMIUM if Path(CHROMIUM).exists() else 'missing'}"]


@pytest.fixture
def fake_redis(monkeypatch: pytest.MonkeyPatch) -> Any:
    """fakeredis behind the broker module, for tests about our own logic only."""
    import fakeredis

    from learnsite import broker

    server = fakeredis.FakeServer()
    sync = fakeredis.FakeRedis(server=server)
    monkeypatch.setattr(broker, "client", lambda: sync)
    monkeypatch.setattr(broker, "new_client", lambda **_: fakeredis.FakeRedis(server=server))
    monkeypatch.setattr(broker, "async_client", lambda: fakeredis.FakeAsyncRedis(server=server))
    monkeypatch.setattr(
        broker, "new_async_client", lambda **_: fakeredis.FakeAsyncRedis(server=server)
    )
    return sync


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last. Playwright's sync API keeps an event loop running in the main
    thread for as long as the session's browser is open, and `asyncio.run()` refuses to start
    under it; with the browser tests at the end no other test runs under that loop."""
    items.sort(key=lambda item: "browser" in getattr(item, "fixturenames", ()))
