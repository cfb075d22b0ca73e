from __future__ import annotations

from django.contrib import admin

from progress.models import Answer, Learner, LessonRead, PredictionAnswer, QuizAttempt


class AnswerInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Answer
    extra = 0
    can_delete = False
    readonly_fields = (
        "question_id",
        "question_hash",
        "option_id",
        "shown_label",
        "correct",
        "mistake_id",
        "first_try",
        "answered_at",
    )


@admin.register(Learner)
class LearnerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("__str__", "user", "created_at", "merged_into")
    search_fields = ("key", "user__username")
    list_select_related = ("user", "merged_into")
    raw_id_fields = ("user", "merged_into")


@admin.register(QuizAttempt)
class QuizAttemptAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "pk",
        "learner",
        "kind",
        "lesson_slug",
        "score",
        "total",
        "started_at",
        "finished_at",
    )
    list_filter = ("kind", "lesson_slug")
    list_select_related = ("learner", "learner__user")
    raw_id_fields = ("learner",)
    inlines = [AnswerInline]


@admin.register(LessonRead)
class LessonReadAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("learner", "lesson_slug", "read_at")
    list_filter = ("lesson_slug",)
    raw_id_fields = ("learner",)


@admin.register(PredictionAnswer)
class PredictionAnswerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "learner",
        "prediction_id",
        "try_number",
        "lesson_slug",
        "correct",
        "answered_at",
    )
    list_filter = ("lesson_slug", "correct")
    raw_id_fields = ("learner",)
