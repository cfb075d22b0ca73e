"""Importing an exported progress file: a round trip, replays, forgeries, bad files."""

from __future__ import annotations

import html
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from lessons.loader import get_course
from progress import imports
from progress.models import Answer, Learner, LessonRead, PredictionAnswer, QuizAttempt
from quizzes.loader import get_bank

pytestmark = pytest.mark.django_db

LESSON = "why-a-broker"


def _learner_a() -> Learner:
    """A learner who read two lessons, finished one practice set (one answer wrong), half
    did another, and locked in a prediction (with a second try)."""
    learner = Learner.objects.create(key="aaaaaaaaaaaaaaaa")
    start = timezone.now() - timedelta(days=2)
    for slug in (LESSON, "publish-and-subscribe"):
        LessonRead.objects.create(learner=learner, lesson_slug=slug)
    bank = get_bank()
    for lesson, upto in ((LESSON, None), ("publish-and-subscribe", 2)):
        questions = bank.sets[lesson].questions
        attempt = QuizAttempt.objects.create(
            learner=learner, lesson_slug=lesson, seed=7, total=len(questions)
        )
        for number, q in enumerate(questions[:upto]):
            option = q.options[1] if number == 0 else q.correct_option
            Answer.objects.create(
                attempt=attempt,
                question_id=q.id,
                lesson_slug=lesson,
                question_hash=q.content_hash,
                option_id=option.id,
                shown_label="B",
                correct=option.correct,
                mistake_id=option.mistake_id or "",
                first_try=True,
            )
        answers = attempt.answers.all()
        attempt.score = sum(1 for a in answers if a.correct)
        attempt.finished_at = start if upto is None else None
        attempt.save()
    for number in (1, 2):
        PredictionAnswer.objects.create(
            learner=learner,
            prediction_id="publish-count",
            lesson_slug="publish-and-subscribe",
            try_number=number,
            answer="2",
            actual="2",
            correct=number == 2,
        )
    return learner


def _export(client: Client) -> dict[str, Any]:
    return json.loads(client.get("/quizzes/progress.json").content)


def _upload(client: Client, body: bytes, name: str = "my-progress.json") -> Any:
    file = io.BytesIO(body)
    file.name = name
    return client.post("/quizzes/progress/import/", {"file": file})


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "course": data["course"],
        "mastery": data["mastery"],
        "lessons_read": data["lessons_read"],
        "attempts": data["attempts"],
        "predictions": data["predictions"],
    }


def _exported_a() -> tuple[dict[str, Any], bytes]:
    user = User.objects.create_user("ann", password="x")
    learner = _learner_a()
    learner.user = user
    learner.save()
    a = Client()
    a.force_login(user)
    body = a.get("/quizzes/progress.json").content
    return json.loads(body), body


def test_a_round_trip_gives_b_the_progress_of_a(client: Client) -> None:
    exported, body = _exported_a()
    response = _upload(client, body)
    assert response.status_code == 302
    page = html.unescape(client.get(response.url).content.decode())
    assert "2 lessons read, 6 answers and 2 predictions moved into your progress." in page
    assert _comparable(_export(client)) == _comparable(exported)


def test_a_replay_adds_nothing(client: Client) -> None:
    _, body = _exported_a()
    _upload(client, body)
    counts = (LessonRead.objects.count(), Answer.objects.count(), PredictionAnswer.objects.count())
    response = _upload(client, body)
    assert response.status_code == 302
    assert "Nothing new was added" in html.unescape(client.get(response.url).content.decode())
    after = (LessonRead.objects.count(), Answer.objects.count(), PredictionAnswer.objects.count())
    assert after == counts


def test_forged_rows_only_ever_add_to_the_importer_and_are_checked(client: Client) -> None:
    exported, _ = _exported_a()
    a_rows = (Answer.objects.filter(attempt__learner__user__username="ann").count(),)
    forged = dict(exported)
    first = forged["attempts"][0]
    for answer in first["answers"]:
        answer["correct"] = True  # every pick claimed right
    first["score"] = 99
    first["answers"].append(dict(first["answers"][0]))  # the same question twice
    first["answers"].append({**first["answers"][0], "question": "no-such-question"})
    forged["learner"] = {"account": "ann", "since": exported["learner"]["since"]}
    response = _upload(client, json.dumps(forged).encode())
    assert response.status_code == 302
    page = html.unescape(client.get(response.url).content.decode())
    assert "2 entries were left out" in page
    # Ann's own rows are untouched; the importer's round is scored from the bank.
    assert (Answer.objects.filter(attempt__learner__user__username="ann").count(),) == a_rows
    mine = QuizAttempt.objects.exclude(learner__user__username="ann").get(lesson_slug=LESSON)
    assert (mine.score, mine.total, mine.answers.count()) == (3, 4, 4)
    assert not mine.answers.get(question_id=get_bank().sets[LESSON].questions[0].id).correct


def test_a_file_that_is_not_json_is_refused_and_adds_nothing(client: Client) -> None:
    response = _upload(client, b"\x89PNG not json at all")
    assert response.status_code == 400
    assert "not JSON" in html.unescape(response.content.decode())
    assert Learner.objects.count() == 0 or not LessonRead.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        [1, 2, 3],
        {"something": "else"},
        {"lessons_read": "x", "attempts": [], "predictions": []},
        {
            "lessons_read": [{"lesson": LESSON, "read_at": "yesterday"}],
            "attempts": [],
            "predictions": [],
        },
        {
            "lessons_read": [],
            "predictions": [],
            "attempts": [
                {
                    "kind": "practice",
                    "lesson": LESSON,
                    "total": "four",
                    "answers": [],
                    "started_at": "2026-01-01T00:00:00+00:00",
                }
            ],
        },
    ],
)
def test_a_malformed_file_is_refused_with_a_reason(client: Client, data: Any) -> None:
    response = _upload(client, json.dumps(data).encode())
    assert response.status_code == 400
    assert "was not imported" in html.unescape(response.content.decode())
    assert not LessonRead.objects.exists() and not QuizAttempt.objects.exists()


def test_an_oversized_file_is_refused_with_a_413(client: Client) -> None:
    body = b'{"lessons_read": [], "attempts": [], "predictions": [], "pad": "'
    body += b"x" * imports.MAX_IMPORT_BYTES + b'"}'
    response = _upload(client, body)
    assert response.status_code == 413
    assert "at most 60 KB" in html.unescape(response.content.decode())


def test_too_many_rows_are_refused() -> None:
    rows = [{"lesson": LESSON, "read_at": "2026-01-01T00:00:00+00:00"}] * (imports.MAX_ROWS + 1)
    with pytest.raises(imports.ImportRejected, match="at most"):
        imports.progress_file_parse(
            json.dumps({"lessons_read": rows, "attempts": [], "predictions": []}).encode()
        )


def test_a_get_of_the_import_url_shows_the_form_and_writes_nothing(client: Client) -> None:
    response = client.get("/quizzes/progress/import/")
    assert response.status_code == 200
    assert b'data-testid="progress-import-form"' in response.content
    assert not Learner.objects.exists()


def test_no_file_is_a_clear_error(client: Client) -> None:
    response = client.post("/quizzes/progress/import/", {})
    assert response.status_code == 400
    assert "Choose your progress file" in html.unescape(response.content.decode())


def test_known_names_the_courses_predictions() -> None:
    from quizzes.selectors import import_known

    known = import_known(bank=get_bank(), course=get_course())
    assert known.predictions["publish-count"] == "publish-and-subscribe"
    assert LESSON in known.lessons


def _known() -> imports.Known:
    return imports.Known(
        lessons=frozenset({"intro", "other"}),
        questions={
            "q1": imports.KnownQuestion("intro", "v1", {"o1": (True, ""), "o2": (False, "m")}),
            "q2": imports.KnownQuestion("other", "v2", {"o1": (True, "")}),
        },
        predictions={"p1": "intro"},
    )


T = "2026-11-30T10:00:00+00:00"


def test_what_the_course_does_not_have_is_skipped_and_locked_predictions_stay() -> None:
    learner = Learner.objects.create(key="bbbbbbbbbbbbbbbb")
    PredictionAnswer.objects.create(
        learner=learner, prediction_id="p1", lesson_slug="intro", answer="1", correct=False
    )

    def answer(question: str, option: str, version: str) -> dict[str, Any]:
        return {
            "question": question,
            "option": option,
            "question_version": version,
            "shown_label": "A",
            "answered_at": T,
        }

    data = {
        "lessons_read": [{"lesson": "intro", "read_at": T}],
        "attempts": [
            {
                "kind": "retry",
                "lesson": "intro",
                "started_at": T,
                "finished_at": T,
                "total": 1,
                "answers": [answer("q1", "o1", "v1")],
            },
            {
                "kind": "practice",
                "lesson": "intro",
                "started_at": T,
                "finished_at": None,
                "total": 2,
                "answers": [
                    answer("q2", "o1", "v2"),
                    answer("q1", "o2", "old"),
                    answer("q1", "o9", "v1"),
                    answer("q1", "o2", "v1"),
                ],
            },
            {
                "kind": "review",
                "lesson": None,
                "started_at": T,
                "finished_at": T,
                "total": 1,
                "answers": [answer("q2", "o1", "v2")],
            },
        ],
        "predictions": [
            {"prediction": "p1", "try": 1, "answer": "2", "correct": True, "answered_at": T},
            {"prediction": "p9", "try": 1, "answer": "2", "correct": True, "answered_at": T},
        ],
    }
    done = imports.progress_import(learner=learner, data=data, known=_known())
    assert (done.reads, done.answers, done.predictions) == (1, 2, 0)
    # retry (1), another lesson's question, a changed question, an unknown option, p9
    assert (done.skipped, done.already) == (5, 1)
    assert learner.predictions.get().answer == "1"  # the locked one is final
    practice = learner.attempts.get(kind="practice")
    assert (practice.score, practice.total, practice.finished_at) == (0, 2, None)
    review = learner.attempts.get(kind="review")
    assert review.finished_at is not None and review.score == 1
    firsts = Answer.objects.filter(attempt__learner=learner, first_try=True)
    assert sorted(firsts.values_list("question_id", flat=True)) == ["q1", "q2"]
