"""Predictions ("predict, then run"), written in ``content/predictions.md``.

Each ``## <id>`` section (read by the content core's section reader, like the mistakes
catalog) becomes a frozen :class:`Prediction`; the code that runs it live is in
``console/experiments.py``. :func:`content_errors` checks the file; :func:`embed_problems`
is the ``predict`` embed's validator, which the lessons' content check runs for every
``::: embed predict <id>`` line.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from learnsite.content import files, sections
from learnsite.content.embeds import EmbedUse
from learnsite.content.errors import ContentError
from lessons.loader import get_course

SPEC = sections.SectionsSpec(
    noun="prediction", keys=("lesson", "question", "choice", "explain"), example_id="publish-count"
)


@dataclass(frozen=True)
class Prediction:
    id: str
    lesson: str
    question: str
    choices: tuple[str, ...]
    explain: str
    line: int


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[int, int] | None
    predictions: dict[str, Prediction]
    problems: tuple[ContentError, ...]


_lock = threading.Lock()
_cache: dict[Path, _Loaded] = {}


def predictions_file() -> Path:
    return Path(settings.CONTENT_DIR) / "predictions.md"


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


_settled: list[tuple[object, _Loaded]] = []  # (CONTENT_DIR, what was read) without reloads


def _load() -> _Loaded:
    """The predictions; re-read when the file changes in development only (like the
    course, ``lessons.loader.get_course``): a page asks for each of its boxes, and a
    ``stat()`` per ask was a tenth of a cookie-less lesson page's view (issue 16)."""
    content_dir = settings.CONTENT_DIR
    if not settings.CONTENT_AUTO_RELOAD and _settled and _settled[0][0] == content_dir:
        return _settled[0][1]
    loaded = _read()
    _settled[:] = [(content_dir, loaded)]
    return loaded


def _read() -> _Loaded:
    path = predictions_file()
    stamp = _stamp(path)
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached
        loaded = _parse(path, stamp)
        _cache[path] = loaded
        return loaded


def _prediction(path: Path, section: sections.Section, problems: list[ContentError]) -> Prediction:
    def problem(message: str) -> None:
        problems.append(ContentError(path, section.line, message))

    for key in ("lesson", "question", "explain"):
        if section.one(key) is None:
            problem(f'prediction "{section.id}" needs exactly one "{key}:" line')
    choices = tuple(value.text for value in section.all("choice"))
    if len(choices) < 2:
        problem(f'prediction "{section.id}" needs at least two "choice:" lines')
    if len(set(choices)) != len(choices):
        problem(f'prediction "{section.id}" lists the same choice twice')
    lesson, question, explain = (section.one(key) for key in ("lesson", "question", "explain"))
    return Prediction(
        section.id,
        lesson.text if lesson else "",
        question.text if question else "",
        choices,
        explain.text if explain else "",
        section.line,
    )


def _parse(path: Path, stamp: tuple[int, int] | None) -> _Loaded:
    if stamp is None:
        return _Loaded(
            None, {}, (ContentError(path, None, "the predictions file is missing; create it"),)
        )
    try:
        text = files.read_text(path)
    except ContentError as exc:
        return _Loaded(stamp, {}, (exc,))
    found, problems = sections.read(path, text, SPEC)
    predictions = {section.id: _prediction(path, section, problems) for section in found}
    return _Loaded(stamp, predictions, tuple(problems))


def all_predictions() -> dict[str, Prediction]:
    return dict(_load().predictions)


def get_prediction(ident: str) -> Prediction | None:
    return _load().predictions.get(ident)


def embed_problems(use: EmbedUse) -> list[str]:
    """The ``predict`` embed's validator: the id is defined, for the lesson embedding it."""
    predictions = _load().predictions
    prediction = predictions.get(use.arg or "")
    if prediction is None:
        known = ", ".join(sorted(predictions)) or "none yet"
        return [
            f'unknown prediction "{use.arg}"; define it in content/predictions.md (known: {known})'
        ]
    if prediction.lesson != use.lesson_slug:
        return [
            f'prediction "{prediction.id}" says "lesson: {prediction.lesson}" but is embedded '
            f'in lesson "{use.lesson_slug}"; make its lesson: line {use.lesson_slug}'
        ]
    return []


def content_errors() -> list[ContentError]:
    """Problems in the predictions file (its syntax, experiments, and lessons it names) and
    predict embeds with no block after them to hold back (their answer would show)."""
    from console.experiments import EXPERIMENTS

    path = predictions_file()
    loaded = _read()  # fresh from disk, as the lessons' content_errors
    _settled[:] = [(settings.CONTENT_DIR, loaded)]
    errors = list(loaded.problems)
    for prediction in loaded.predictions.values():
        if prediction.id not in EXPERIMENTS:
            errors.append(
                ContentError(
                    path,
                    prediction.line,
                    f'prediction "{prediction.id}" has no experiment to run; use one of '
                    f"{', '.join(sorted(EXPERIMENTS))} or add one in console/experiments.py",
                )
            )
    course = get_course()
    for lesson in course.lessons:
        for ref in lesson.embeds:
            if ref.name == "predict" and ref.arg in loaded.predictions and ref.held is None:
                # Its answer would be on the page, under the question, for everyone.
                errors.append(
                    ContentError(
                        lesson.path,
                        ref.line,
                        f'prediction "{ref.arg}" has no block to hold back until it is locked '
                        "in; put the runnable (or output) block that answers it after this "
                        "line, before the next heading",
                    )
                )
    slugs = {lesson.slug for lesson in course.lessons}
    if slugs:  # without lessons, the lessons' own check says what is wrong
        for prediction in loaded.predictions.values():
            if prediction.lesson and prediction.lesson not in slugs:
                errors.append(
                    ContentError(
                        path,
                        prediction.line,
                        f'prediction "{prediction.id}" names lesson "{prediction.lesson}", which '
                        f"does not exist; use one of {', '.join(sorted(slugs))}",
                    )
                )
    return errors
