from __future__ import annotations

from django.apps import AppConfig


class ProgressConfig(AppConfig):
    name = "progress"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate, pre_migrate

        from progress import counting, signals, triggers  # noqa: F401  (signals: the merge)

        counting.connect()
        # The triggers that move Learner.state (progress/triggers.py): out of the way of
        # this app's migrations on SQLite, made (again) after every migrate.
        pre_migrate.connect(triggers.before_migrate, sender=self)
        post_migrate.connect(triggers.after_migrate, sender=self)
