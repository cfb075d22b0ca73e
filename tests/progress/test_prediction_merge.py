"""Logging in moves an anonymous learner's predictions into the account: every try is
kept, a prediction both made keeps the earliest as try 1 (the one that counts), and the
unique (learner, prediction, try) constraint holds throughout."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from django.utils import timezone

from learnsite.learners import SESSION_KEY
from progress import services
from progress.models import Learner, PredictionAnswer
from progress.selectors import progress_export

pytestmark = pytest.mark.django_db


def _request_with_session(key: str) -> Any:
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.session[SESSION_KEY] = key
    return request


def _tried(
    learner: Learner, prediction_id: str, try_number: int, answer: str, minutes_ago: int
) -> None:
    row = services.prediction_lock(
        learner=learner,
        prediction_id=prediction_id,
        lesson_slug="publish-and-subscribe",
        try_number=try_number,
        answer=answer,
        actual="(integer) 2",
        correct=answer == "(integer) 2",
    )
    assert row is not None
    when = timezone.now() - timedelta(minutes=minutes_ago)
    PredictionAnswer.objects.filter(pk=row.pk).update(answered_at=when)


def _tries(learner: Learner, prediction_id: str) -> list[tuple[int, str]]:
    rows = learner.predictions.filter(prediction_id=prediction_id).order_by("try_number")
    return list(rows.values_list("try_number", "answer"))


def test_merge_keeps_the_earliest_locked_prediction_as_the_one_that_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = User.objects.create_user("ada", password="x")
    account = Learner.objects.create(key="c" * 16, user=user)
    anonymous = Learner.objects.create(key="d" * 16)
    # The anonymous learner locked publish-count first (30 min ago), then tried again;
    # the account locked it later, on another device.
    _tried(anonymous, "publish-count", 1, "(integer) 1", minutes_ago=30)
    _tried(anonymous, "publish-count", 2, "(integer) 2", minutes_ago=20)
    _tried(account, "publish-count", 1, "(integer) 0", minutes_ago=10)
    # Only the account has first-message; only the anonymous learner has publish-nobody.
    _tried(account, "first-message", 1, "x", minutes_ago=50)
    _tried(anonymous, "publish-nobody", 1, "y", minutes_ago=5)

    with caplog.at_level(logging.INFO, logger="progress.services"):
        merged = services.learner_merge(request=_request_with_session("d" * 16), user=user)

    assert merged == account
    assert _tries(account, "publish-count") == [
        (1, "(integer) 1"),  # the anonymous learner's, the earliest: it counts
        (2, "(integer) 2"),
        (3, "(integer) 0"),  # the account's own later lock is kept, as practice
    ]
    assert _tries(account, "first-message") == [(1, "x")]
    assert _tries(account, "publish-nobody") == [(1, "y")]
    assert anonymous.predictions.count() == 0
    assert PredictionAnswer.objects.count() == 5  # nothing dropped
    exported = progress_export(learner=account)["predictions"]
    counted = {(p["prediction"], p["answer"]) for p in exported if p["counts"]}
    assert counted == {
        ("publish-count", "(integer) 1"),
        ("first-message", "x"),
        ("publish-nobody", "y"),
    }
    said = [r.getMessage() for r in caplog.records if "merge: prediction" in r.getMessage()]
    assert len(said) == 1 and "publish-count" in said[0]
    assert "kept the earliest (anonymous's try 1" in said[0] and "3 tries in all" in said[0]


def test_merge_when_the_account_locked_first_keeps_the_account_s(
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = User.objects.create_user("bob", password="x")
    account = Learner.objects.create(key="e" * 16, user=user)
    anonymous = Learner.objects.create(key="f" * 16)
    _tried(account, "publish-count", 1, "(integer) 2", minutes_ago=60)
    _tried(anonymous, "publish-count", 1, "OK", minutes_ago=1)
    with caplog.at_level(logging.INFO, logger="progress.services"):
        services.learner_merge(request=_request_with_session("f" * 16), user=user)
    assert _tries(account, "publish-count") == [(1, "(integer) 2"), (2, "OK")]
    assert any("(account's try 1" in r.getMessage() for r in caplog.records)
