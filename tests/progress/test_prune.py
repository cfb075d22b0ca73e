"""manage.py prune: rows on both sides of the cut-off, signed-up learners never touched."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.utils import timezone

from progress.models import ExerciseAttempt, LabDraft, Learner, LessonRead, PredictionAnswer

pytestmark = [pytest.mark.django_db]


def _learner(key: str, *, days_old: int, user: object = None) -> Learner:
    learner = Learner.objects.create(key=key, user=user)
    Learner.objects.filter(pk=learner.pk).update(
        created_at=timezone.now() - timedelta(days=days_old)
    )
    return learner


def test_prune_removes_only_old_anonymous_learners_who_left_nothing() -> None:
    old_empty = _learner("a" * 16, days_old=40)
    young_empty = _learner("b" * 16, days_old=5)
    old_reader = _learner("c" * 16, days_old=40)
    LessonRead.objects.create(learner=old_reader, lesson_slug="why-a-broker")
    old_predictor = _learner("d" * 16, days_old=40)
    PredictionAnswer.objects.create(
        learner=old_predictor, prediction_id="p", lesson_slug="l", answer="a", correct=True
    )
    old_coder = _learner("e" * 16, days_old=40)
    LabDraft.objects.create(learner=old_coder, block="lab:free", code="print(1)")
    old_exerciser = _learner("f" * 16, days_old=40)
    ExerciseAttempt.objects.create(
        learner=old_exerciser,
        exercise_id="x",
        lesson_slug="l",
        code="c",
        passed=False,
        mistake_id="",
        reason="finished",
    )
    account = get_user_model().objects.create_user("ana", password="a-long-password-1")
    old_signed_up = _learner("0" * 16, days_old=400, user=account)
    shell = _learner("1" * 16, days_old=40)
    shell.merged_into = old_signed_up
    shell.save(update_fields=["merged_into"])
    Session.objects.create(
        session_key="expired" + "x" * 25,
        session_data="",
        expire_date=timezone.now() - timedelta(days=1),
    )
    Session.objects.create(
        session_key="current" + "x" * 25,
        session_data="",
        expire_date=timezone.now() + timedelta(days=1),
    )

    out = io.StringIO()
    call_command("prune", "--days", "30", "--batch", "1", stdout=out)

    kept = set(Learner.objects.values_list("key", flat=True))
    assert old_empty.key not in kept and shell.key not in kept
    assert {
        young_empty.key,
        old_reader.key,
        old_predictor.key,
        old_coder.key,
        old_exerciser.key,
        old_signed_up.key,
    } <= kept
    assert set(Session.objects.values_list("session_key", flat=True)) == {"current" + "x" * 25}
    assert "Removed 2 anonymous learner(s)" in out.getvalue()
    assert "1 expired session(s)" in out.getvalue()
    # Run again: nothing more to remove.
    again = io.StringIO()
    call_command("prune", stdout=again)
    assert "Removed 0 anonymous learner(s)" in again.getvalue()


def test_prune_refuses_a_retention_under_a_day() -> None:
    with pytest.raises(CommandError, match="at least one day"):
        call_command("prune", "--days", "0", stdout=io.StringIO())
