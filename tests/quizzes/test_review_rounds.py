"""Review rounds on the schedule: a page's unsaved round is created by its first answer, a
second tab's first answer joins that round, and a page older than a round started since is
refused (nothing recorded). And the registries the course home and the search read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.test import RequestFactory

from learnsite.content import practice, searchable
from learnsite.content.errors import ContentError
from progress.models import Answer, Learner, QuizAttempt
from quizzes import services
from quizzes.loader import QuizBank


def _record(bank: QuizBank, learner: Learner, attempt: str, qid: str, option: str) -> Answer:
    return services.answer_record(
        learner=learner,
        bank=bank,
        attempt_id=attempt,
        question_id=qid,
        question_hash=bank.questions[qid].content_hash,
        option_id=option,
    ).answer


def _missed(bank: QuizBank, learner: Learner, *qids: str) -> None:
    """``qids`` answered wrong in the practice set, and due since (11 minutes ago)."""
    for qid in qids:
        _record(bank, learner, "new-practice", qid, "o2")
    Answer.objects.update(answered_at=F("answered_at") - timedelta(minutes=11))


@pytest.mark.django_db
def test_two_tabs_first_answers_share_one_review_round(small_bank: QuizBank) -> None:
    learner = Learner.objects.create(key="t" * 16)
    _missed(small_bank, learner, "q-one", "q-two")
    _record(small_bank, learner, "new-review", "q-one", "o1")  # tab 1 creates the round
    _record(small_bank, learner, "new-review", "q-two", "o1")  # tab 2, same page
    review = QuizAttempt.objects.get(kind="review")
    assert (review.total, review.answers.count(), review.score) == (2, 2, 2)
    assert review.finished_at is not None


@pytest.mark.django_db
def test_a_page_older_than_a_new_round_records_nothing(small_bank: QuizBank) -> None:
    learner = Learner.objects.create(key="u" * 16)
    _missed(small_bank, learner, "q-one")
    services.review_round_start(learner=learner, total=1)  # "Start a new review round"
    with pytest.raises(services.StaleAttempt):
        _record(small_bank, learner, "new-review", "q-one", "o1")
    assert not Answer.objects.filter(attempt__kind="review").exists()


@pytest.mark.django_db
def test_the_round_after_a_finished_one_gets_a_seed_of_its_own(small_bank: QuizBank) -> None:
    learner = Learner.objects.create(key="v" * 16)
    _missed(small_bank, learner, "q-one")
    _record(small_bank, learner, "new-review", "q-one", "o2")  # wrong again: round 1 done
    Answer.objects.update(answered_at=F("answered_at") - timedelta(minutes=11))
    _record(small_bank, learner, "new-review", "q-one", "o1")
    first, second = QuizAttempt.objects.filter(kind="review").order_by("pk")
    assert first.seed != second.seed and second.answers.get().correct


def test_a_source_that_cannot_read_its_content_counts_nothing() -> None:
    def broken(*_: object) -> object:
        raise ContentError("x.md", None, "bad", "fix it")

    request = RequestFactory().get("/")
    practice._review_sources.append(broken)  # type: ignore[arg-type]
    searchable._sources.append(broken)  # type: ignore[arg-type]
    try:
        assert practice.review_due(request, None) == 0
        assert "unreadable" in searchable.documents().version
        practice.register_review(broken)  # type: ignore[arg-type]  (once is enough)
        assert practice._review_sources.count(broken) == 1  # type: ignore[arg-type]
    finally:
        practice._review_sources.remove(broken)  # type: ignore[arg-type]
        searchable._sources.remove(broken)  # type: ignore[arg-type]
