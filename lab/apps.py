from django.apps import AppConfig


class LabConfig(AppConfig):
    name = "lab"
    verbose_name = "Code lab"

    def ready(self) -> None:
        from lab import checks  # noqa: F401  (registers the exercises' content check)
        from lab.embeds import EXERCISES
        from lab.jobs import export_queue_metrics
        from learnsite import metrics
        from learnsite.content import embeds

        embeds.register_lesson_end(EXERCISES)
        metrics.on_scrape(export_queue_metrics)
