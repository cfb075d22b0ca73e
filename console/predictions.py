"""Predictions ("predict, then run"), written in ``content/predictions.md``.

Each ``## <id>`` section is parsed into a frozen :class:`Prediction`; the code that runs it
live is in ``console/experiments.py``. :func:`content_errors` checks the file and every
``::: embed predict <id>`` line in the lessons, naming file and line.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from lessons.errors import ContentError

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_EMBED_RE = re.compile(r"^:::\s*embed\s+predict(?:\s+(?P<arg>\S+))?\s*$")
_KEYS = ("lesson", "question", "choice", "explain")
_SLUG_RE = re.compile(r"^slug:\s*(?P<slug>\S+)\s*$", re.MULTILINE)


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
    problems: tuple[tuple[int | None, str], ...]


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


def _load() -> _Loaded:
    path = predictions_file()
    stamp = _stamp(path)
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached
        loaded = _parse(path, stamp)
        _cache[path] = loaded
        return loaded


def _parse(path: Path, stamp: tuple[int, int] | None) -> _Loaded:
    if stamp is None:
        return _Loaded(None, {}, ((None, "the predictions file is missing; create it"),))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _Loaded(stamp, {}, ((None, f"cannot read the file as UTF-8 text ({exc})"),))
    problems: list[tuple[int | None, str]] = []
    sections: list[tuple[str, int, dict[str, list[str]]]] = []
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("## "):
            ident = line[3:].strip()
            current = {key: [] for key in _KEYS}
            sections.append((ident, number, current))
            if not _ID_RE.match(ident):
                problems.append(
                    (
                        number,
                        f'prediction id "{ident}" must be lowercase letters, digits and '
                        "hyphens, e.g. publish-count",
                    )
                )
            continue
        if current is None or not line:
            continue
        key, sep, value = line.partition(":")
        if not sep or key.strip() not in _KEYS:
            problems.append(
                (
                    number,
                    f'expected "key: value" with key one of {", ".join(_KEYS)}; got {line[:60]!r}',
                )
            )
            continue
        current[key.strip()].append(value.strip())
    predictions: dict[str, Prediction] = {}
    for ident, number, fields in sections:
        if ident in predictions:
            problems.append((number, f'prediction "{ident}" is defined twice; rename one'))
            continue
        for key in ("lesson", "question", "explain"):
            if len(fields[key]) != 1 or not fields[key][0]:
                problems.append((number, f'prediction "{ident}" needs exactly one "{key}:" line'))
        if len(fields["choice"]) < 2:
            problems.append((number, f'prediction "{ident}" needs at least two "choice:" lines'))
        if len(set(fields["choice"])) != len(fields["choice"]):
            problems.append((number, f'prediction "{ident}" lists the same choice twice'))
        predictions[ident] = Prediction(
            ident,
            (fields["lesson"] or [""])[0],
            (fields["question"] or [""])[0],
            tuple(fields["choice"]),
            (fields["explain"] or [""])[0],
            number,
        )
    return _Loaded(stamp, predictions, tuple(problems))


def all_predictions() -> dict[str, Prediction]:
    return dict(_load().predictions)


def get_prediction(ident: str) -> Prediction | None:
    return _load().predictions.get(ident)


def content_errors() -> list[ContentError]:
    from console.experiments import EXPERIMENTS
    from lessons.errors import ContentError

    path = predictions_file()
    loaded = _load()
    errors = [ContentError(path, line, message) for line, message in loaded.problems]
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
    lessons_dir = Path(settings.CONTENT_DIR) / "lessons"
    slugs: set[str] = set()
    for lesson_path in sorted(lessons_dir.glob("*.md")):
        try:
            text = lesson_path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            continue  # the lessons loader reports unreadable files
        slug_match = _SLUG_RE.search(text.split("\n---", 1)[0])
        slug = slug_match["slug"] if slug_match else None
        if slug:
            slugs.add(slug)
        for number, line in enumerate(text.splitlines(), start=1):
            match = _EMBED_RE.match(line.strip())
            if match is None:
                continue
            ident = match["arg"]
            if ident is None:
                errors.append(
                    ContentError(
                        lesson_path,
                        number,
                        "::: embed predict needs a prediction id, e.g. "
                        "::: embed predict publish-count",
                    )
                )
            elif ident not in loaded.predictions:
                known = ", ".join(sorted(loaded.predictions)) or "none yet"
                errors.append(
                    ContentError(
                        lesson_path,
                        number,
                        f'unknown prediction "{ident}"; define it in content/predictions.md '
                        f"(known: {known})",
                    )
                )
            elif slug and loaded.predictions[ident].lesson != slug:
                errors.append(
                    ContentError(
                        lesson_path,
                        number,
                        f'prediction "{ident}" says "lesson: {loaded.predictions[ident].lesson}" '
                        f'but is embedded in lesson "{slug}"; make its lesson: line {slug}',
                    )
                )
    if slugs:
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
