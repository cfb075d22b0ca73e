"""The database is locked for a moment while a learner submits an answer.

The learner must be told to try again (not a 500), and the retry must record the answer
exactly once. The server gets a short lock wait (SQLite ``timeout=1`` / PostgreSQL
``lock_timeout=1s``, passed through DATABASE_URL) and the test holds a lock for longer:
``BEGIN EXCLUSIVE`` on SQLite, ``LOCK TABLE ... ACCESS EXCLUSIVE`` on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.resilience.client import Browser, quiz_fields, quiz_forms
from tests.support.servers import AsgiServer, Database, make_database, migrate

pytestmark = [pytest.mark.redis, pytest.mark.slow]

SLUG = "why-a-broker"


@pytest.fixture
def impatient_site(real_redis_url: str) -> Iterator[tuple[AsgiServer, Database]]:
    database = make_database()
    migrate(database)
    if database.url.startswith("sqlite"):
        url = f"{database.url}?timeout=1"
    else:
        url = f"{database.url}?options={quote('-c lock_timeout=1000')}"
    server = AsgiServer(database=Database(url), redis_url=real_redis_url)
    yield server, database
    server.stop()
    if callable(database.drop):
        database.drop()


@contextlib.contextmanager
def locked(database: Database) -> Iterator[None]:
    """Hold the whole database (SQLite) or the answers table (PostgreSQL) locked."""
    if database.url.startswith("sqlite"):
        conn = sqlite3.connect(database.url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    import psycopg

    with psycopg.connect(database.url) as pg:
        pg.execute("LOCK TABLE quizzes_answer IN ACCESS EXCLUSIVE MODE")
        yield
        pg.rollback()


def stored(database: Database, attempt: str, question: str) -> int:
    """Answers to ``question`` in ``attempt``; for a round its first answer creates
    (``new-practice``), in any attempt: the server's database is this test's alone."""
    if attempt.isdigit():
        sql = "SELECT count(*) FROM quizzes_answer WHERE attempt_id = {0} AND question_id = {0}"
        params: tuple[object, ...] = (int(attempt), question)
    else:
        sql = "SELECT count(*) FROM quizzes_answer WHERE question_id = {0}"
        params = (question,)
    if database.url.startswith("sqlite"):
        conn = sqlite3.connect(database.url.removeprefix("sqlite:///"))
        try:
            return int(conn.execute(sql.format("?"), params).fetchone()[0])
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(database.url) as pg:
        row: Any = pg.execute(sql.format("%s"), params).fetchone()
        return int(row[0])


def test_answer_during_a_database_lock_asks_for_a_retry_and_the_retry_counts_once(
    impatient_site: tuple[AsgiServer, Database],
) -> None:
    server, database = impatient_site

    async def scenario() -> None:
        ann = Browser(server.base_url)
        try:
            page = await ann.get(f"/quizzes/{SLUG}/")
            assert page.status_code == 200
            fields = quiz_fields(quiz_forms(page.text)[0])
            with locked(database):
                during = await ann.post("/quizzes/answer/", fields)
            assert during.status_code != 500, "a database lock ended in a 500"
            assert 400 <= during.status_code < 600
            assert "again" in during.text.lower()
            assert stored(database, fields["attempt"], fields["question"]) == 0
            retry = await ann.post("/quizzes/answer/", fields)
            assert retry.status_code == 200 and "quiz-options is-answered" in retry.text
            again = await ann.post("/quizzes/answer/", fields)
            assert again.status_code == 200
            assert stored(database, fields["attempt"], fields["question"]) == 1
        finally:
            await ann.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 60))
