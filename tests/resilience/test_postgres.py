"""PostgreSQL under trouble, with the site's own settings (no options in DATABASE_URL):
a table lock makes an answer fail fast with 503 "try again" (``lock_timeout``) instead of
hanging for as long as the lock is held; after the server ends the site's connections
(``pg_terminate_backend``, as a restart or failover does) the next pages still succeed,
because the pool checks a connection before handing it out.

Run with DATABASE_URL pointing at PostgreSQL (CI's ``make test-pg``); on SQLite there is
no such setting to test and the tests say so when skipped.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import httpx
import pytest

from learnsite.errors import DATABASE_BUSY
from tests.resilience.client import Browser, quiz_fields, quiz_forms
from tests.resilience.test_database_locked import SLUG, locked, stored
from tests.support.servers import AsgiServer, Database, make_database, migrate

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def postgres_site(real_redis_url: str) -> Iterator[tuple[AsgiServer, Database]]:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        pytest.skip(
            "not applicable on SQLite: lock_timeout, statement_timeout and the connection "
            "pool are PostgreSQL settings (make test-pg runs these)"
        )
    database = make_database()  # a PostgreSQL database of its own; failing here fails
    migrate(database)
    # A one-second lock wait keeps the test short; the default is DB_LOCK_TIMEOUT=5.
    server = AsgiServer(
        database=database, redis_url=real_redis_url, extra_env={"DB_LOCK_TIMEOUT": "1"}
    )
    yield server, database
    server.stop()
    if callable(database.drop):
        database.drop()


def test_an_answer_behind_a_table_lock_fails_fast_with_a_503(
    postgres_site: tuple[AsgiServer, Database],
) -> None:
    server, database = postgres_site

    async def scenario() -> None:
        # A read timeout of 30 s: without lock_timeout the answer waits for the lock, which
        # this test holds for longer, and the request times out instead of answering.
        ann = Browser(server.base_url, client=httpx.AsyncClient(timeout=30))
        try:
            page = await ann.get(f"/quizzes/{SLUG}/")
            assert page.status_code == 200
            fields = quiz_fields(quiz_forms(page.text)[0])
            with locked(database):
                during = await ann.post("/quizzes/answer/", fields)
                assert during.status_code == 503, during.text[:300]
                assert DATABASE_BUSY in during.text
            assert stored(database, fields["attempt"], fields["question"]) == 0
            retry = await ann.post("/quizzes/answer/", fields)
            assert retry.status_code == 200
            assert stored(database, fields["attempt"], fields["question"]) == 1
        finally:
            await ann.client.aclose()

    asyncio.run(scenario())


def test_pages_succeed_after_the_server_ends_every_site_connection(
    postgres_site: tuple[AsgiServer, Database],
) -> None:
    import psycopg

    server, database = postgres_site
    name = database.url.rpartition("/")[2]
    with httpx.Client(base_url=server.base_url, timeout=15) as client:
        for _ in range(10):  # fill the pool with connections that then sit idle
            assert client.get("/healthz").json()["database"]["state"] == "ok"
        with psycopg.connect(database.url, autocommit=True) as pg:
            ended = pg.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            ).fetchone()
        assert ended is not None and ended[0] >= 1
        states = [client.get("/healthz").json()["database"]["state"] for _ in range(30)]
        assert states == ["ok"] * 30
        assert client.get(f"/quizzes/{SLUG}/").status_code == 200
