"""Moving a live server's clock on, for the review's spaced schedule: the learner's stored
answers are moved back in time instead (the server's own database, SQLite or PostgreSQL)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta


def answers_move_back(database_url: str, *, by: timedelta, since: datetime) -> int:
    """Move every answer given at or after ``since`` (this test's, on a server whose tests run
    one after another) back by ``by``; returns how many moved."""
    if database_url.startswith(("postgres://", "postgresql://")):
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            cursor = conn.execute(
                "UPDATE quizzes_answer SET answered_at = answered_at - %s WHERE answered_at >= %s",
                (by, since),
            )
            return cursor.rowcount
    path = database_url.removeprefix("sqlite:///")
    # Django keeps SQLite datetimes as naive UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff'.
    start = since.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT id, answered_at FROM quizzes_answer WHERE answered_at >= ?", (start,)
        ).fetchall()
        for pk, at in rows:
            moved = datetime.fromisoformat(at) - by
            conn.execute(
                "UPDATE quizzes_answer SET answered_at = ? WHERE id = ?",
                (moved.isoformat(sep=" ", timespec="microseconds"), pk),
            )
    return len(rows)
