"""Shared fixtures: the real Redis, per-test namespaces, a uvicorn server, Chromium."""

from __future__ import annotations

import contextlib
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
    # Learner data follows REDIS_URL; no ACL users on the shared server (tests that check
    # ACL isolation start a redis-server of their own).
    settings.SANDBOX_REDIS_URL = None
    settings.SANDBOX_ACL = False
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
def fast_password_hasher(settings: Any) -> None:
    """Tests in this process hash with MD5: PBKDF2's million rounds cost ~0.5 s per log-in
    (a wrong password for an unknown user is hashed too), and the throttle tests make
    dozens. Servers the tests start keep the real hashers (their own settings)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def admission_prefix(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    """Admission claims and rate counters under keys of this test's own: tests share one
    Redis (and one process's fallback counters), and a limit one test used up must not
    refuse another. Deleted afterwards when the test used the real Redis."""
    prefix = f"tadm{uuid.uuid4().hex[:12]}"
    settings.ADMISSION_PREFIX = prefix
    yield prefix
    if "redis_url" in request.fixturenames or "real_redis_url" in request.fixturenames:
        client = redis.Redis.from_url(request.getfixturevalue("real_redis_url"))
        try:
            for key in client.scan_iter(match=f"{prefix}:*", count=500):
                client.delete(key)
        finally:
            client.close()


@pytest.fixture(autouse=True)
def _fakeredis_by_default(request: pytest.FixtureRequest, settings: Any) -> Iterator[None]:
    """Unit tests never reach a real Redis by accident: unless a test asks for one,
    settings point at an address where nothing listens."""
    if "redis_url" not in request.fixturenames and "real_redis_url" not in request.fixturenames:
        settings.REDIS_URL = "redis://127.0.0.1:1/0"
        settings.SANDBOX_REDIS_URL = None
    from learnsite import sandbox_acl

    sandbox_acl.reset()  # what a process learnt about ACL users belongs to one test
    yield
    sandbox_acl.reset()


@pytest.fixture(scope="session")
def site_server(real_redis_url: str) -> Iterator[AsgiServer]:
    """The whole site under uvicorn, with its own database, against the real Redis."""
    database = make_database()
    migrate(database)
    # No ACL users on the shared Redis (see the redis_url fixture).
    server = AsgiServer(database=database, redis_url=real_redis_url, extra_env={"SANDBOX_ACL": "0"})
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
    # The sandbox Redis is the same fake; fakeredis has no ACL users: the rewrite alone.
    monkeypatch.setattr(broker, "sandbox_client", lambda *_, **__: sync)
    monkeypatch.setattr(
        broker, "new_sandbox_client", lambda *_, **__: fakeredis.FakeRedis(server=server)
    )
    monkeypatch.setattr(
        broker, "sandbox_async_client", lambda *_, **__: fakeredis.FakeAsyncRedis(server=server)
    )
    monkeypatch.setattr(
        broker,
        "new_sandbox_async_client",
        lambda *_, **__: fakeredis.FakeAsyncRedis(server=server),
    )
    from learnsite import sandbox_acl

    monkeypatch.setattr(sandbox_acl, "_state", sandbox_acl.Isolation("rewrite-only", "fakeredis"))
    return sync


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last. Playwright's sync API keeps an event loop running in the main
    thread for as long as the session's browser is open, and `asyncio.run()` refuses to start
    under it; with the browser tests at the end no other test runs under that loop."""
    items.sort(key=lambda item: "browser" in getattr(item, "fixturenames", ()))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing test that talked to the site's server gets that server's last log lines
    in its report: on CI they are the only record of what the server saw."""
    report = yield
    if report.failed and call.when == "call":
        funcargs = getattr(item, "funcargs", {})
        server = funcargs.get("site_server")
        if isinstance(server, AsgiServer):
            with contextlib.suppress(OSError):
                report.sections.append(("site_server log (tail)", server.output()[-6000:]))
    return report
