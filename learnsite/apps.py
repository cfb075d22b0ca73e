from django.apps import AppConfig


class LearnsiteConfig(AppConfig):
    name = "learnsite"
    verbose_name = "Learn site"

    def ready(self) -> None:
        from learnsite import checks  # registers the deploy checks

        checks.recognise_site_middleware()
