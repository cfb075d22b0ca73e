"""``Learner.state``: a new random value on every write to the learner's progress, made by
database triggers (``progress/triggers.py``). The triggers are made after ``migrate``
(``post_migrate``), not here: on SQLite they would make a later migration that remakes one
of the progress tables fail. Going back drops them."""

from typing import Any

from django.db import migrations, models


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    from progress import triggers

    triggers.drop(schema_editor.connection)


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
        migrations.RunPython(migrations.RunPython.noop, drop_triggers),
    ]
