"""The database triggers that give ``Learner.state`` a new random value on every insert,
update and delete of a row of the learner's progress (``progress/kept.py`` keeps what pages
read of that progress under it).

Triggers, not the app's code, move it: a bulk ``update()`` (a merge into an account moves
rows from one learner to another), an import's ``bulk_create`` and a row changed by hand
all move it too. A moved row moves both learners'. The value is random, not a counter, so
that a transaction rolled back cannot leave a value that a later write makes again with
other rows behind it.

They are made after every ``migrate`` (``post_migrate``, :func:`ensure`), not by a
migration: SQLite remakes a table to change a column, and a trigger naming the table being
remade makes that fail, so on SQLite they are dropped before any migration of this app runs
(``pre_migrate``, :func:`drop`) and made again after. On another database nothing is made,
and ``progress/kept.py`` keeps nothing there.
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

LEARNER = "quizzes_learner"
# The tables holding a learner's progress (every one a page may show), by learner_id.
BY_LEARNER = (
    "quizzes_lessonread",
    "quizzes_quizattempt",
    "quizzes_predictionanswer",
    "progress_exerciseattempt",
    "progress_labdraft",
)
ANSWERS = "quizzes_answer"  # by attempt_id: the attempt's learner
TABLES = (*BY_LEARNER, ANSWERS)
VENDORS = ("sqlite", "postgresql")
_OPS = ("insert", "update", "delete")


def _sqlite(table: str, op: str) -> str:
    if table == ANSWERS:
        rows = {"insert": "NEW.attempt_id", "update": "OLD.attempt_id, NEW.attempt_id"}.get(
            op, "OLD.attempt_id"
        )
        who = f"SELECT learner_id FROM quizzes_quizattempt WHERE id IN ({rows})"
    else:
        who = {"insert": "NEW.learner_id", "update": "OLD.learner_id, NEW.learner_id"}.get(
            op, "OLD.learner_id"
        )
    return (
        f"CREATE TRIGGER IF NOT EXISTS learner_state_{table}_{op} AFTER {op.upper()} ON "
        f"{table} BEGIN UPDATE {LEARNER} SET state = random() WHERE id IN ({who}); END"
    )


_PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION learner_state_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {LEARNER} SET state = (random() * 4e18)::bigint
    WHERE id IN (
        CASE WHEN TG_OP <> 'INSERT' THEN OLD.learner_id END,
        CASE WHEN TG_OP <> 'DELETE' THEN NEW.learner_id END
    );
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION learner_state_move_by_attempt() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {LEARNER} SET state = (random() * 4e18)::bigint
    WHERE id IN (
        SELECT learner_id FROM quizzes_quizattempt WHERE id IN (
            CASE WHEN TG_OP <> 'INSERT' THEN OLD.attempt_id END,
            CASE WHEN TG_OP <> 'DELETE' THEN NEW.attempt_id END
        )
    );
    RETURN NULL;
END $$;
"""


def _postgresql(table: str) -> str:
    function = "learner_state_move_by_attempt" if table == ANSWERS else "learner_state_move"
    return (
        f"CREATE OR REPLACE TRIGGER learner_state_{table} AFTER INSERT OR UPDATE OR DELETE "
        f"ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()"
    )


def _has_state(connection: BaseDatabaseWrapper) -> bool:
    with connection.cursor() as cursor:
        if LEARNER not in connection.introspection.table_names(cursor):
            return False
        columns = connection.introspection.get_table_description(cursor, LEARNER)
    return any(column.name == "state" for column in columns)


def ensure(connection: BaseDatabaseWrapper) -> None:
    """Make the triggers where they are missing (once ``Learner.state`` exists)."""
    if connection.vendor not in VENDORS or not _has_state(connection):
        return
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for table in TABLES:
                for op in _OPS:
                    cursor.execute(_sqlite(table, op))
        else:
            cursor.execute(_PG_FUNCTIONS)
            for table in TABLES:
                cursor.execute(_postgresql(table))


def drop(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for table in TABLES:
                for op in _OPS:
                    cursor.execute(f"DROP TRIGGER IF EXISTS learner_state_{table}_{op}")
        elif connection.vendor == "postgresql":
            for table in TABLES:
                cursor.execute(f"DROP TRIGGER IF EXISTS learner_state_{table} ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS learner_state_move()")
            cursor.execute("DROP FUNCTION IF EXISTS learner_state_move_by_attempt()")


def before_migrate(sender: Any, *, using: str, plan: Any = None, **kwargs: Any) -> None:
    """``pre_migrate``: on SQLite, out of the way of any migration of this app."""
    connection = connections[using]
    if connection.vendor == "sqlite" and any(
        migration.app_label == "progress" for migration, _ in (plan or ())
    ):
        drop(connection)


def after_migrate(sender: Any, *, using: str, **kwargs: Any) -> None:
    """``post_migrate``: made (again) wherever they are missing."""
    ensure(connections[using])
