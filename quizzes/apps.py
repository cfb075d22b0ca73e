from __future__ import annotations

from django.apps import AppConfig


class QuizzesConfig(AppConfig):
    name = "quizzes"

    def ready(self) -> None:
        from learnsite.content import embeds, practice, searchable
        from quizzes import checks  # noqa: F401  (registers the content check)
        from quizzes.embeds import PRACTICE, practice_set_lessons
        from quizzes.pages import review_due_count
        from quizzes.searching import question_documents

        embeds.register_lesson_end(PRACTICE)
        practice.register(practice_set_lessons)
        practice.register_review(review_due_count)
        searchable.register(question_documents)
