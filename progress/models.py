"""Learner progress: who the learner is, what they read, answered and predicted.

Nothing here is ever deleted by the app: history is the point. The tables keep the names
they had when these models lived in the quizzes app (``db_table``), so moving the models
moved no rows.
"""

from __future__ import annotations

from typing import Any

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
    # A new random value on every write to this learner's progress, made by the database
    # (triggers on each progress table, progress/triggers.py), never by the app: what a page
    # read of their progress is kept per process under it (``progress/kept.py``).
    state = models.BigIntegerField(default=0, editable=False)

    class Meta:
        db_table = "quizzes_learner"

    def __str__(self) -> str:
        return self.user.get_username() if self.user else f"anonymous {self.key}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A save of a learner read earlier (the admin's form) writes every field but
        ``state``: writing back the value it was read with would undo the moves the
        triggers made since, and pages would show progress kept from before them."""
        if not self._state.adding and kwargs.get("update_fields") is None and not args:
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name != "state"
            ]
        super().save(*args, **kwargs)


class LessonRead(models.Model):
    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="reads")
    lesson_slug = models.SlugField(max_length=100)
    read_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "quizzes_lessonread"
        constraints = [models.UniqueConstraint(fields=["learner", "lesson_slug"], name="read_once")]

    def __str__(self) -> str:
        return f"{self.learner} read {self.lesson_slug}"


class QuizAttempt(models.Model):
    """One pass through a practice set (or one round of "review my mistakes", or the retry of
    one question of a finished practice round).

    `seed` fixes the shuffled option order for this attempt. A retry is a round of its own
    (`retry_of` the finished round, `question_id` the one question it asks), so a finished
    round's score never changes after the fact.
    """

    class Kind(models.TextChoices):
        PRACTICE = "practice", "Practice set"
        REVIEW = "review", "Review my mistakes"
        RETRY = "retry", "Retry of one question"

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="attempts")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PRACTICE)
    lesson_slug = models.SlugField(max_length=100, blank=True)  # "" for review rounds
    seed = models.BigIntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    score = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="retries"
    )
    question_id = models.SlugField(max_length=100, blank=True)  # a retry's one question

    class Meta:
        db_table = "quizzes_quizattempt"
        indexes = [models.Index(fields=["learner", "kind", "lesson_slug", "-started_at"])]

    def __str__(self) -> str:
        what = self.lesson_slug or "review"
        return f"{self.learner} {what} #{self.pk}: {self.score}/{self.total}"

    @property
    def form_ref(self) -> str:
        """What a quiz form sends as its attempt: the id, or ``new-<kind>`` for a round that
        its first answer will create (pages only read, so they never create one)."""
        return str(self.pk) if self.pk is not None else f"new-{self.kind}"


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
        db_table = "quizzes_answer"
        constraints = [
            models.UniqueConstraint(fields=["attempt", "question_id"], name="answer_once")
        ]
        indexes = [models.Index(fields=["question_id"]), models.Index(fields=["mistake_id"])]

    def __str__(self) -> str:
        return f"{self.question_id}: {self.shown_label} ({'right' if self.correct else 'wrong'})"


class PredictionAnswer(models.Model):
    """One locked "predict, then run" answer from a lesson embed.

    Try 1 is the learner's prediction, final once locked: it is what counts in progress.
    "Try again" adds try 2, 3, ... (practice after seeing the answer). The unique
    constraint is the lock: two posts of the same try can never both be stored.
    """

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="predictions")
    prediction_id = models.SlugField(max_length=100)
    lesson_slug = models.SlugField(max_length=100)
    try_number = models.PositiveIntegerField(default=1)
    answer = models.CharField(max_length=500)
    actual = models.CharField(max_length=500, blank=True)  # what the run returned
    correct = models.BooleanField()
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "quizzes_predictionanswer"
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "prediction_id", "try_number"], name="prediction_try_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.learner} predicted {self.prediction_id} (try {self.try_number})"

    @property
    def counts(self) -> bool:
        """Only the first, locked prediction counts; later tries are practice."""
        return self.try_number == 1


class LabDraft(models.Model):
    """The learner's last version of one code-lab block (a lesson's runnable block, an
    exercise, or the free lab page): what they see when they come back."""

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="lab_drafts")
    block = models.CharField(max_length=120)
    code = models.TextField()
    saved_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["learner", "block"], name="one_draft_per_block")
        ]

    def __str__(self) -> str:
        return f"{self.learner}'s draft of {self.block}"


class ExerciseAttempt(models.Model):
    """One graded run of a code-lab exercise: the code, whether every check passed, and
    the mistake its first failed check names (an id of the mistakes catalog)."""

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="exercise_attempts")
    exercise_id = models.SlugField(max_length=100)
    lesson_slug = models.SlugField(max_length=100)
    code = models.TextField()
    passed = models.BooleanField()
    mistake_id = models.SlugField(max_length=100, blank=True)
    reason = models.CharField(max_length=20)  # how the run ended: finished, timeout, ...
    ran_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["learner", "exercise_id"], name="exercise_by_learner")]

    def __str__(self) -> str:
        return f"{self.learner} {'passed' if self.passed else 'tried'} {self.exercise_id}"
