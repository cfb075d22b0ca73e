"""Importing an exported progress file (``/quizzes/progress.json``) into a learner.

A write, called by a POST view only. The file is the learner's word, so nothing in it is
trusted: it is parsed strictly (:func:`progress_file_parse`), and :func:`progress_import`
only ever *adds* rows to the learner it is given, never touches another learner, and never
adds a row twice (importing the same file again adds nothing). Whether an answer was right
is worked out again from the question bank (``known.options``), not read from the file;
questions, lessons and predictions the course does not have are skipped and counted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from progress.models import Answer, Learner, LessonRead, PredictionAnswer, QuizAttempt

MAX_IMPORT_BYTES = 60 * 1024  # under the site's 64 KB request body limit
MAX_ROWS = 2000  # attempts + answers + predictions + reads in one file
MAX_TRIES = 50


class ImportRejected(ValueError):
    """The file is not an export this site can read; the message says what is wrong."""


@dataclass(frozen=True)
class KnownQuestion:
    lesson: str
    version: str  # the question's content hash: its option ids mean what they meant then
    options: Mapping[str, tuple[bool, str]]  # option id -> (right?, the mistake it names)


@dataclass(frozen=True)
class Known:
    """What the course has: lesson slugs, questions by id, each prediction's lesson."""

    lessons: frozenset[str]
    questions: Mapping[str, KnownQuestion]
    predictions: Mapping[str, str]


@dataclass(frozen=True)
class Imported:
    reads: int = 0
    answers: int = 0
    predictions: int = 0
    skipped: int = 0  # questions, lessons or predictions the course does not have
    already: int = 0  # rows the learner had already (a second import of the same file)

    @property
    def anything(self) -> bool:
        return bool(self.reads or self.answers or self.predictions)


def _fail(where: str, what: str) -> ImportRejected:
    return ImportRejected(f"{where}: {what}. Upload the file exactly as it was downloaded.")


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise _fail(key, "should be a list")
    return value


def _text(row: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> str:
    value = row.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str) or not value or len(value) > 500:
        raise _fail(where, f"'{key}' should be a short text")
    return value


def _time_or_none(row: Mapping[str, Any], key: str, where: str) -> datetime | None:
    return None if row.get(key) is None else _time(row, key, where)


def _time(row: Mapping[str, Any], key: str, where: str) -> datetime:
    value = row.get(key)
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _fail(where, f"'{key}' should be a date and time")
    return moment


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, "should be an object")
    return value


def progress_file_parse(raw: bytes) -> Mapping[str, Any]:
    """The file's data, or ImportRejected saying what is wrong with it."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise ImportRejected(
            f"The file is {len(raw) // 1024} KB; at most {MAX_IMPORT_BYTES // 1024} KB can be "
            "imported."
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ImportRejected(
            "This is not a progress file: it is not JSON. Download it again from "
            "“Download my progress” and upload that file."
        ) from None
    data = _object(data, "The file")
    if not {"lessons_read", "attempts", "predictions"} <= data.keys():
        raise ImportRejected(
            "This JSON file is not a progress file from this site (it has no lessons_read, "
            "attempts and predictions)."
        )
    rows = sum(len(_list(data, k)) for k in ("lessons_read", "attempts", "predictions"))
    rows += sum(len(_list(_object(a, "attempts"), "answers")) for a in data["attempts"])
    if rows > MAX_ROWS:
        raise ImportRejected(f"The file has {rows} entries; at most {MAX_ROWS} can be imported.")
    return data


def progress_import(*, learner: Learner, data: Mapping[str, Any], known: Known) -> Imported:
    """Add the file's lessons read, practice and review rounds with their answers, and
    predictions to ``learner``; all or nothing. ImportRejected for a malformed entry."""
    counts = {"reads": 0, "answers": 0, "predictions": 0, "skipped": 0, "already": 0}
    with transaction.atomic():
        # One import at a time per learner: two tabs uploading at once cannot both add.
        Learner.objects.select_for_update().filter(pk=learner.pk).first()
        _reads_import(learner, _list(data, "lessons_read"), known, counts)
        for index, row in enumerate(_list(data, "attempts")):
            _attempt_import(learner, _object(row, f"attempts[{index}]"), index, known, counts)
        _predictions_import(learner, _list(data, "predictions"), known, counts)
        if counts["answers"]:
            _first_tries_set(learner)
    return Imported(**counts)


def _reads_import(learner: Learner, rows: list[Any], known: Known, counts: dict[str, int]) -> None:
    for index, value in enumerate(rows):
        row = _object(value, f"lessons_read[{index}]")
        slug = _text(row, "lesson", f"lessons_read[{index}]")
        read_at = _time(row, "read_at", f"lessons_read[{index}]")
        if slug not in known.lessons:
            counts["skipped"] += 1
            continue
        read, created = LessonRead.objects.get_or_create(learner=learner, lesson_slug=slug)
        if created:
            LessonRead.objects.filter(pk=read.pk).update(read_at=read_at)
            counts["reads"] += 1
        else:
            counts["already"] += 1


_KINDS = {QuizAttempt.Kind.PRACTICE.value, QuizAttempt.Kind.REVIEW.value}


def _attempt_import(
    learner: Learner, row: Mapping[str, Any], index: int, known: Known, counts: dict[str, int]
) -> None:
    where = f"attempts[{index}]"
    kind = _text(row, "kind", where)
    lesson = _text(row, "lesson", where, optional=True)
    started = _time(row, "started_at", where)
    finished = _time_or_none(row, "finished_at", where)
    total = row.get("total")
    if not isinstance(total, int) or isinstance(total, bool) or not 0 <= total <= 100:
        raise _fail(where, "'total' should be a number of questions")
    answers = [_object(a, f"{where}.answers") for a in _list(row, "answers")]
    if kind not in _KINDS or (kind == "practice" and lesson not in known.lessons):
        # A retry belongs to a round the file cannot name; an unknown lesson is not ours.
        counts["skipped"] += max(len(answers), 1)
        return
    if learner.attempts.filter(kind=kind, lesson_slug=lesson, started_at=started).exists():
        counts["already"] += len(answers)
        return
    kept: list[Answer] = []
    seen: set[str] = set()
    for answer in answers:
        question_id = _text(answer, "question", f"{where}.answers")
        option_id = _text(answer, "option", f"{where}.answers")
        answered = _time(answer, "answered_at", f"{where}.answers")
        question = known.questions.get(question_id)
        option = question.options.get(option_id) if question else None
        if (
            question is None
            or option is None
            or question_id in seen
            or answer.get("question_version") != question.version
            or (kind == "practice" and question.lesson != lesson)
        ):
            # Not a question of the course, or one whose text has changed since.
            counts["skipped"] += 1
            continue
        seen.add(question_id)
        label = answer.get("shown_label")
        kept.append(
            Answer(
                question_id=question_id,
                lesson_slug=question.lesson,
                question_hash=question.version,
                option_id=option_id[:8],
                shown_label=label[:1] if isinstance(label, str) else "",
                correct=option[0],
                mistake_id="" if option[0] else option[1],
                answered_at=answered,
            )
        )
    if not kept:
        return
    total = max(total, len(kept))
    attempt = QuizAttempt.objects.create(
        learner=learner,
        kind=kind,
        lesson_slug=lesson,
        seed=0,
        score=sum(1 for a in kept if a.correct),
        total=total,
        finished_at=finished if finished is not None and len(kept) >= total else None,
    )
    QuizAttempt.objects.filter(pk=attempt.pk).update(started_at=started)  # auto_now_add
    for row_answer in kept:
        row_answer.attempt = attempt
    times = [row_answer.answered_at for row_answer in kept]  # auto_now_add overwrites them
    created = Answer.objects.bulk_create(kept)
    for made, answered_at in zip(created, times, strict=True):
        Answer.objects.filter(pk=made.pk).update(answered_at=answered_at)
    counts["answers"] += len(created)


def _predictions_import(
    learner: Learner, rows: list[Any], known: Known, counts: dict[str, int]
) -> None:
    held = set(learner.predictions.values_list("prediction_id", flat=True))
    by_prediction: dict[str, list[Mapping[str, Any]]] = {}
    for index, value in enumerate(rows):
        row = _object(value, f"predictions[{index}]")
        prediction_id = _text(row, "prediction", f"predictions[{index}]")
        by_prediction.setdefault(prediction_id, []).append(row)
    for prediction_id, tries in by_prediction.items():
        lesson = known.predictions.get(prediction_id)
        if lesson is None:
            counts["skipped"] += len(tries)
            continue
        if prediction_id in held:
            # Locked already: a locked prediction is final, so the file cannot change it.
            counts["already"] += len(tries)
            continue
        numbers: set[int] = set()
        for row in tries:
            where = f"predictions ({prediction_id})"
            number = row.get("try")
            if not isinstance(number, int) or isinstance(number, bool):
                raise _fail(where, "'try' should be a number")
            if not 1 <= number <= MAX_TRIES or number in numbers:
                counts["skipped"] += 1
                continue
            numbers.add(number)
            answered = _time(row, "answered_at", where)
            correct = row.get("correct")
            if not isinstance(correct, bool):
                raise _fail(where, "'correct' should be true or false")
            made = PredictionAnswer.objects.create(
                learner=learner,
                prediction_id=prediction_id[:100],
                lesson_slug=lesson,
                try_number=number,
                answer=_text(row, "answer", where)[:500],
                actual=actual[:500] if isinstance(actual := row.get("actual"), str) else "",
                correct=correct,
            )
            PredictionAnswer.objects.filter(pk=made.pk).update(answered_at=answered)
            counts["predictions"] += 1


def _first_tries_set(learner: Learner) -> None:
    """The learner's earliest answer to each question is its first try, the others not."""
    first: dict[str, int] = {}
    rows = Answer.objects.filter(attempt__learner=learner).order_by("answered_at", "pk")
    for answer_id, question_id in rows.values_list("pk", "question_id"):
        first.setdefault(question_id, answer_id)
    Answer.objects.filter(attempt__learner=learner).exclude(pk__in=first.values()).filter(
        first_try=True
    ).update(first_try=False)
    Answer.objects.filter(pk__in=first.values(), first_try=False).update(first_try=True)
