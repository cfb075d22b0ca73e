"""``Learner.state``, and the triggers that give it a new random value on every insert,
update and delete of a row of the learner's progress (``progress/kept.py`` keeps what a
page read of that progress under it).

Triggers, not the app's code, move it: a bulk ``update()`` (a merge into an account moves
rows from one learner to another), an import's ``bulk_create`` and a row changed by hand
all move it too. A moved row moves both learners'. The value is random, not a counter, so
that a transaction rolled back cannot leave a value that a later write makes again with
other rows behind it.
"""

from typing import Any

from django.db import migrations, models

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
OPS = ("insert", "update", "delete")


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
        f"CREATE TRIGGER learner_state_{table}_{op} AFTER {op.upper()} ON {table} "
        f"BEGIN UPDATE {LEARNER} SET state = random() WHERE id IN ({who}); END"
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
        f"CREATE TRIGGER learner_state_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()"
    )


def create_triggers(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    tables = (*BY_LEARNER, ANSWERS)
    if vendor == "sqlite":
        for table in tables:
            for op in OPS:
                schema_editor.execute(_sqlite(table, op))
    elif vendor == "postgresql":
        schema_editor.execute(_PG_FUNCTIONS)
        for table in tables:
            schema_editor.execute(_postgresql(table))
    # Another database gets no triggers, and progress/kept.py keeps nothing there.


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    tables = (*BY_LEARNER, ANSWERS)
    if vendor == "sqlite":
        for table in tables:
            for op in OPS:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS learner_state_{table}_{op}")
    elif vendor == "postgresql":
        for table in tables:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS learner_state_{table} ON {table}")
        schema_editor.execute("DROP FUNCTION IF EXISTS learner_state_move()")
        schema_editor.execute("DROP FUNCTION IF EXISTS learner_state_move_by_attempt()")


class Migration(migrations.Migration):
    dependencies = [
        ("progress", "0004_prediction_tries"),
    ]

    operations = [
        migrations.AddField(
            model_name="learner",
            name="state",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
