from django.apps import AppConfig


class LearnsiteConfig(AppConfig):
    name = "learnsite"
    verbose_name = "Learn site"
