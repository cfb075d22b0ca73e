"""Learner progress. Nothing here is ever deleted by the app: history is the point."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Learner(models.Model):
    """One learner: anonymous (found by the session's learner key) or linked to an account.

    When an anonymous learner logs in to an account that already has a learner, their
    progress moves to that learner and this row records where it went (`merged_into`).
    """

    key = models.CharField(max_length=16, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="learner",
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.user.get_username() if self.user else f"anonymous {self.key}"


class LessonRead(models.Model):
    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="reads")
    lesson_slug = models.SlugField(max_length=100)
    read_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["learner", "lesson_slug"], name="read_once")]

    def __str__(self) -> str:
        return f"{self.learner} read {self.lesson_slug}"


class QuizAttempt(models.Model):
    """One pass through a practice set (or one round of "review my mistakes").

    `seed` fixes the shuffled option order for this attempt.
    """

    class Kind(models.TextChoices):
        PRACTICE = "practice", "Practice set"
        REVIEW = "review", "Review my mistakes"

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="attempts")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PRACTICE)
    lesson_slug = models.SlugField(max_length=100, blank=True)  # "" for review rounds
    seed = models.BigIntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    score = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["learner", "kind", "lesson_slug", "-started_at"])]

    def __str__(self) -> str:
        what = self.lesson_slug or "review"
        return f"{self.learner} {what} #{self.pk}: {self.score}/{self.total}"


class Answer(models.Model):
    attempt = models.ForeignKey(QuizAttempt, on_delete=models.CASCADE, related_name="answers")
    question_id = models.SlugField(max_length=100)
    lesson_slug = models.SlugField(max_length=100)
    question_hash = models.CharField(max_length=16)
    option_id = models.CharField(max_length=8)
    shown_label = models.CharField(max_length=1)
    correct = models.BooleanField()
    mistake_id = models.SlugField(max_length=100, blank=True)
    # The learner's first ever answer to this question (for "right at first try").
    first_try = models.BooleanField(default=False)
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["attempt", "question_id"], name="answer_once")
        ]
        indexes = [models.Index(fields=["question_id"]), models.Index(fields=["mistake_id"])]

    def __str__(self) -> str:
        return f"{self.question_id}: {self.shown_label} ({'right' if self.correct else 'wrong'})"


class PredictionAnswer(models.Model):
    """A "predict, then run" answer from a lesson embed; counted with quiz answers."""

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="predictions")
    prediction_id = models.SlugField(max_length=100)
    lesson_slug = models.SlugField(max_length=100)
    answer = models.CharField(max_length=500)
    correct = models.BooleanField()
    answered_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.learner} predicted {self.prediction_id}"
