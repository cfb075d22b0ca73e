"""What pages read of a learner's progress is kept per process under ``Learner.state``,
which database triggers move on every write (``progress/kept.py``, migration 0005). Run on
SQLite (`make test`) and on PostgreSQL (its phase of `.ci/run`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import RequestFactory

from progress import kept
from progress.models import (
    Answer,
    ExerciseAttempt,
    LabDraft,
    Learner,
    LessonRead,
    PredictionAnswer,
    QuizAttempt,
)
from progress.selectors import learner_find, learner_reads, prediction_tries
from quizzes.selectors import attempt_latest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _nothing_kept() -> Iterator[None]:
    kept.forget()
    yield
    kept.forget()


def _state(learner: Learner) -> int:
    return Learner.objects.values_list("state", flat=True).get(pk=learner.pk)


def _attempt(learner: Learner) -> QuizAttempt:
    return QuizAttempt.objects.create(learner=learner, lesson_slug="intro", seed=7, total=3)


def _answer(attempt: QuizAttempt, question: str = "q1") -> Answer:
    return Answer.objects.create(
        attempt=attempt,
        question_id=question,
        lesson_slug="intro",
        question_hash="0" * 16,
        option_id="o1",
        shown_label="A",
        correct=True,
    )


# Each progress table: a function making one row of it for a learner.
ROWS: dict[str, Callable[[Learner], Any]] = {
    "read": lambda who: LessonRead.objects.create(learner=who, lesson_slug="intro"),
    "attempt": _attempt,
    "answer": lambda who: _answer(_attempt(who)),
    "prediction": lambda who: PredictionAnswer.objects.create(
        learner=who, prediction_id="p", lesson_slug="intro", answer="2", correct=False
    ),
    "exercise": lambda who: ExerciseAttempt.objects.create(
        learner=who, exercise_id="e", lesson_slug="intro", code="x", passed=True, reason="ok"
    ),
    "draft": lambda who: LabDraft.objects.create(learner=who, block="b", code="x"),
}


@pytest.mark.parametrize("table", ROWS)
def test_every_write_to_a_progress_table_moves_the_learners_state(table: str) -> None:
    learner = Learner.objects.create(key="k" * 16)
    other = Learner.objects.create(key="o" * 16)
    before = _state(learner)

    row = ROWS[table](learner)
    made = _state(learner)
    assert made != before, "an insert"

    # A bulk update, as a merge into an account makes (no save(), no signal).
    model = type(row)
    field = "correct" if model is Answer else "lesson_slug" if model is not LabDraft else "code"
    value: object = False if field == "correct" else "changed"
    model.objects.filter(pk=row.pk).update(**{field: value})
    updated = _state(learner)
    assert updated != made, "a bulk update"

    untouched = _state(other)
    if model is Answer:
        moved_to = _attempt(other)
        untouched = _state(other)
        model.objects.filter(pk=row.pk).update(attempt=moved_to)
    else:
        model.objects.filter(pk=row.pk).update(learner=other)
    assert _state(learner) != updated, "a row moved away moves the learner it left"
    assert _state(other) != untouched, "and the learner it went to"

    left = _state(other)
    model.objects.filter(pk=row.pk).delete()
    assert _state(other) != left, "a delete"


def test_a_write_in_sql_of_its_own_moves_the_state_too() -> None:
    learner = Learner.objects.create(key="k" * 16)
    before = _state(learner)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO quizzes_lessonread (learner_id, lesson_slug, read_at) VALUES (%s, %s, %s)",
            [learner.pk, "by-hand", connection.ops.adapt_datetimefield_value(learner.created_at)],
        )
    assert _state(learner) != before


def test_a_write_rolled_back_leaves_the_state_as_it_was() -> None:
    learner = Learner.objects.create(key="k" * 16)
    before = _state(learner)
    with pytest.raises(RuntimeError), transaction.atomic():
        LessonRead.objects.create(learner=learner, lesson_slug="intro")
        assert _state(learner) != before
        raise RuntimeError("roll back")
    assert _state(learner) == before


def test_every_progress_table_has_its_triggers() -> None:
    """A migration that remakes a table on SQLite (a changed column) drops the triggers on
    it: it must make them again, or pages would show what a learner did before it."""
    tables = {
        "quizzes_lessonread",
        "quizzes_quizattempt",
        "quizzes_answer",
        "quizzes_predictionanswer",
        "progress_exerciseattempt",
        "progress_labdraft",
    }
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT tbl_name, count(*) FROM sqlite_master WHERE type = 'trigger' "
                "AND name LIKE 'learner_state_%' GROUP BY tbl_name"
            )
            expected = 3  # insert, update, delete
        else:
            cursor.execute(
                "SELECT event_object_table, count(*) FROM information_schema.triggers "
                "WHERE trigger_name LIKE 'learner_state_%' GROUP BY event_object_table"
            )
            expected = 3  # one trigger, listed once per event
        found = dict(cursor.fetchall())
    assert found == dict.fromkeys(tables, expected)


def _request(learner: Learner, method: str = "get") -> Any:
    from django.contrib.auth.models import AnonymousUser

    from learnsite.learners import SESSION_KEY

    request = getattr(RequestFactory(), method)("/")
    request.session = {SESSION_KEY: learner.key}
    request.user = AnonymousUser()
    return request


def _found(method: str = "get") -> Learner:
    """The learner keyed k...k as a new request finds them (one query)."""
    learner = learner_find(request=_request(Learner(key="k" * 16), method))
    assert learner is not None
    return learner


def test_a_page_reads_progress_once_per_state(django_assert_num_queries: Any) -> None:
    learner = Learner.objects.create(key="k" * 16)
    LessonRead.objects.create(learner=learner, lesson_slug="intro")

    with django_assert_num_queries(2):  # the learner, and their reads
        assert learner_reads(learner=_found()) == {"intro"}
    with django_assert_num_queries(1):  # the learner: their reads are kept
        assert learner_reads(learner=_found()) == {"intro"}

    LessonRead.objects.create(learner=learner, lesson_slug="next")
    with django_assert_num_queries(2):  # a new state: read again
        assert learner_reads(learner=_found()) == {"intro", "next"}


def test_a_request_that_writes_reads_progress_every_time(django_assert_num_queries: Any) -> None:
    learner = Learner.objects.create(key="k" * 16)
    found = _found("post")
    with django_assert_num_queries(1):
        assert learner_reads(learner=found) == frozenset()
    LessonRead.objects.create(learner=learner, lesson_slug="intro")
    with django_assert_num_queries(1):  # its own write, seen (the state it was found in
        assert learner_reads(learner=found) == {"intro"}  # is not the state now)
    assert len(kept._kept) == 0


def test_a_learner_made_anew_with_an_old_id_and_key_is_not_shown_the_old_ones_progress() -> None:
    """SQLite gives a rolled-back row's id to the next row; the key can repeat in tests."""
    learner = Learner.objects.create(key="k" * 16)
    LessonRead.objects.create(learner=learner, lesson_slug="intro")
    assert learner_reads(learner=_found()) == {"intro"}
    pk = learner.pk
    learner.delete()
    again = Learner.objects.create(pk=pk, key="k" * 16)
    assert learner_reads(learner=_found()) == frozenset()
    assert again.pk == pk


def test_kept_rows_are_copied_for_each_request() -> None:
    learner = Learner.objects.create(key="k" * 16)
    _attempt(learner)
    PredictionAnswer.objects.create(
        learner=learner, prediction_id="p", lesson_slug="intro", answer="2", correct=False
    )
    first = attempt_latest(learner=_found(), lesson_slug="intro")
    assert first is not None
    first.score = 99  # a caller that changes what it was given
    again = attempt_latest(learner=_found(), lesson_slug="intro")
    assert again is not None and again.score == 0

    request = _request(learner)
    tries = prediction_tries(request=request)
    tries["p"][0].answer = "changed"
    assert prediction_tries(request=_request(learner))["p"][0].answer == "2"


def test_a_thousand_fresh_learners_keep_no_more_than_the_store_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from learnsite.kept import Kept

    monkeypatch.setattr(kept, "_kept", Kept(size=50, ttl=60))
    learners = Learner.objects.bulk_create(Learner(key=f"{n:016d}") for n in range(1000))
    for each in learners:
        request = _request(each)
        found = learner_find(request=request)
        assert found is not None and learner_reads(learner=found) == frozenset()
    assert len(kept._kept) == 50


def test_a_learner_who_writes_a_thousand_times_leaves_one_read_kept() -> None:
    learner = Learner.objects.create(key="k" * 16)
    for n in range(100):
        LessonRead.objects.create(learner=learner, lesson_slug=f"lesson-{n}")
        assert len(learner_reads(learner=_found())) == n + 1
    assert len(kept._kept) == 1  # each new state replaced the last one's


def test_a_read_that_grows_with_the_history_is_kept_only_while_small(
    monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    from quizzes.loader import get_bank
    from quizzes.selectors import review_state

    monkeypatch.setattr("quizzes.selectors.MAX_ROWS", 2)
    learner = Learner.objects.create(key="k" * 16)
    attempt = _attempt(learner)
    for n in range(3):
        _answer(attempt, question=f"q{n}")
    bank = get_bank()
    found = _found()
    review_state(learner=found, bank=bank)
    with django_assert_num_queries(1):  # three answers: over the limit, read again
        review_state(learner=found, bank=bank)
    assert len(kept._kept) == 0
    monkeypatch.setattr("quizzes.selectors.MAX_ROWS", 3)
    review_state(learner=found, bank=bank)
    with django_assert_num_queries(0):
        review_state(learner=found, bank=bank)


def test_a_full_save_of_a_learner_read_earlier_keeps_the_state_the_triggers_made() -> None:
    """The admin saves the whole learner it loaded when its form was posted: a write
    committed meanwhile moved the state, and the save must not put the old one back."""
    learner = Learner.objects.create(key="k" * 16)
    loaded = Learner.objects.get(pk=learner.pk)
    LessonRead.objects.create(learner=learner, lesson_slug="intro")  # another request
    moved = _state(learner)
    loaded.key = "n" * 16  # what the form changed
    loaded.save()
    assert _state(learner) == moved
    assert Learner.objects.get(pk=learner.pk).key == "n" * 16


def test_kept_prediction_rows_are_tied_to_no_requests_learner() -> None:
    learner = Learner.objects.create(key="k" * 16)
    PredictionAnswer.objects.create(
        learner=learner, prediction_id="p", lesson_slug="intro", answer="2", correct=False
    )
    first = _request(learner)
    prediction_tries(request=first)
    row = prediction_tries(request=_request(learner))["p"][0]
    assert "learner" not in row._state.fields_cache  # loaded afresh if asked for


@pytest.mark.django_db(transaction=True)
def test_a_migration_that_remakes_a_progress_table_on_sqlite_runs_and_keeps_the_triggers() -> None:
    """SQLite remakes a table to change a column, and fails if a trigger names that table:
    the triggers are dropped before this app's migrations and made again after."""
    from django.db.migrations import Migration

    from progress import triggers

    if connection.vendor != "sqlite":
        pytest.skip("not applicable: PostgreSQL alters tables in place, triggers and all")
    with pytest.raises(Exception, match="no such table"), connection.schema_editor() as editor:
        editor._remake_table(QuizAttempt)  # what AlterField on it does: refused with them
    plan = [(Migration("0099_remake", "progress"), False)]
    triggers.before_migrate(None, using="default", plan=plan)
    with connection.schema_editor() as editor:
        editor._remake_table(QuizAttempt)
        editor._remake_table(Learner)
    triggers.after_migrate(None, using="default")
    test_every_progress_table_has_its_triggers()
    learner = Learner.objects.create(key="k" * 16)
    before = _state(learner)
    _attempt(learner)
    assert _state(learner) != before


@pytest.mark.django_db(transaction=True)
def test_a_log_in_beside_an_answer_of_the_same_learner_does_not_deadlock() -> None:
    """PostgreSQL: an answer locks its learner's row (the trigger on its insert) and then its
    attempt (the new score); the merge into an account moves that attempt and locks the
    learner for its trigger. The merge locks both learners' rows first, so one waits for
    the other instead of each for the other."""
    import threading
    import time

    from django.contrib.auth.models import User
    from django.db import OperationalError, connections

    from progress import services
    from quizzes.services import _attempt_rescore

    if connection.vendor != "postgresql":
        pytest.skip("not applicable: SQLite lets one writer in at a time")
    user = User.objects.create_user("ada", password="x")
    Learner.objects.create(key="b" * 16, user=user)
    anonymous = Learner.objects.create(key="a" * 16)
    attempt = _attempt(anonymous)
    inserted, go = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def answer() -> None:
        try:
            with transaction.atomic():
                _answer(attempt)  # its trigger locks the anonymous learner's row
                inserted.set()
                go.wait(5)
                _attempt_rescore(attempt=attempt)  # then the attempt's
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def merge() -> None:
        inserted.wait(5)
        request: Any = RequestFactory().post("/")
        request.session = {"learner_key": anonymous.key}
        try:
            services.learner_merge(request=request, user=user)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=answer), threading.Thread(target=merge)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the merge waits on a learner's row by now
    go.set()
    for thread in threads:
        thread.join(20)
    assert not any(isinstance(e, OperationalError) for e in errors), errors
    assert errors == []
    account = Learner.objects.get(user=user)
    assert Answer.objects.filter(attempt__learner=account).count() == 1
