"""Predictions: the content file is validated (file:line), every embed names a known one,
and each experiment's real result is one of its choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from console import predictions
from console.experiments import EXPERIMENTS, choice_matches
from console.namespace import Namespace
from lessons import loader
from lessons.checks import embed_use_errors
from tests.console.conftest import run_async
from tests.lessons.conftest import lesson_text

GOOD = """# Predictions

## publish-count
lesson: publish-and-subscribe
question: What does `PUBLISH` return?
choice: (integer) 0
choice: (integer) 2
explain: Two subscribers.
"""


def write(tmp_path: Path, text: str, lesson: str = "") -> None:
    (tmp_path / "predictions.md").write_text(text)
    (tmp_path / "lessons").mkdir(exist_ok=True)
    (tmp_path / "lessons" / "02-x.md").write_text(lesson)


@pytest.fixture
def content(tmp_path: Path, settings: pytest.FixtureRequest) -> Path:
    settings.CONTENT_DIR = tmp_path  # type: ignore[attr-defined]
    return tmp_path


def messages(content: Path) -> list[str]:
    """Every problem with these files: the lessons' (embed lines included) and the file's."""
    loader.reset_cache()
    found = [*loader.content_errors(), *embed_use_errors(), *predictions.content_errors()]
    return [str(e).replace(str(content) + "/", "") for e in found]


def test_real_content_is_valid() -> None:
    assert predictions.content_errors() == []
    assert {"publish-count", "first-message"} <= set(predictions.all_predictions())


ANSWERED = "intro\n\n::: embed predict publish-count\n\n```output\n(integer) 2\n```\n"


def test_good_file(content: Path) -> None:
    lesson = lesson_text(slug="publish-and-subscribe", body=ANSWERED)
    write(content, GOOD, lesson)
    assert messages(content) == []
    prediction = predictions.get_prediction("publish-count")
    assert prediction is not None
    assert prediction.choices == ("(integer) 0", "(integer) 2")
    assert prediction.lesson == "publish-and-subscribe"


def test_unknown_and_missing_ids_in_lessons(content: Path) -> None:
    body = "a\n::: embed predict nope\n\n::: embed predict\n"
    write(content, GOOD, lesson_text(slug="publish-and-subscribe", body=body))
    found = messages(content)
    assert any(
        m.startswith('lessons/02-x.md:9: unknown prediction "nope"; define it in') for m in found
    )
    # One line, one message: the embed line is read in one place only.
    assert [m for m in found if m.startswith("lessons/02-x.md:11:")] == [
        'lessons/02-x.md:11: embed "predict" needs an argument; write ::: embed predict <id>'
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD + "\n## publish-count\nlesson: a\nquestion: q\nchoice: 1\nchoice: 2\nexplain: e\n",
            'predictions.md:10: prediction "publish-count" is defined twice; rename one',
        ),
        (
            GOOD.replace("choice: (integer) 0\n", ""),
            'predictions.md:3: prediction "publish-count" needs at least two "choice:" lines',
        ),
        (
            GOOD.replace("explain: Two subscribers.\n", ""),
            'predictions.md:3: prediction "publish-count" needs exactly one "explain:" line',
        ),
        (
            GOOD.replace("lesson:", "lessen:"),
            'predictions.md:4: expected "key: value" with key one of lesson, question, choice, '
            "explain; got 'lessen: publish-and-subscribe'",
        ),
        (
            GOOD.replace("## publish-count", "## Publish Count"),
            'predictions.md:3: prediction id "Publish Count" must be lowercase letters, digits and '
            "hyphens, e.g. publish-count",
        ),
        (
            GOOD.replace("## publish-count", "## made-up"),
            'predictions.md:3: prediction "made-up" has no experiment to run; use one of '
            "first-message, publish-count, publish-nobody or add one in console/experiments.py",
        ),
    ],
)
def test_file_errors_name_the_line(content: Path, text: str, expected: str) -> None:
    write(content, text)
    assert expected in messages(content)


def test_embed_in_the_wrong_lesson(content: Path) -> None:
    lesson = lesson_text(slug="other-lesson", body="::: embed predict publish-count\n")
    write(content, GOOD, lesson)
    found = messages(content)
    assert (
        'lessons/02-x.md:8: prediction "publish-count" says "lesson: publish-and-subscribe" but '
        'is embedded in lesson "other-lesson"; make its lesson: line other-lesson'
    ) in found
    assert (
        'predictions.md:3: prediction "publish-count" names lesson "publish-and-subscribe", '
        "which does not exist; use one of other-lesson"
    ) in found


def test_a_prediction_with_nothing_to_hold_back_is_an_error(content: Path) -> None:
    body = "intro\n\n::: embed predict publish-count\n\n## Next\n\n```output\n(integer) 2\n```\n"
    write(content, GOOD, lesson_text(slug="publish-and-subscribe", body=body))
    assert messages(content) == [
        'lessons/02-x.md:10: prediction "publish-count" has no block to hold back until it is '
        "locked in; put the runnable (or output) block that answers it after this line, before "
        "the next heading"
    ]


def test_missing_file(content: Path) -> None:
    (content / "lessons").mkdir()
    assert messages(content) == ["predictions.md: the predictions file is missing; create it"]


def test_choice_matching() -> None:
    assert choice_matches("(integer) 2", "(integer) 2")
    assert choice_matches("(integer) 0 (the message is dropped)", "(integer) 0")
    assert not choice_matches("(integer) 2", "(integer) 0")
    assert not choice_matches("(integer) 20", "(integer) 2")


@pytest.mark.redis
@pytest.mark.parametrize("ident", sorted(EXPERIMENTS))
def test_each_experiment_result_is_exactly_one_choice(redis_url: str, ns: str, ident: str) -> None:
    prediction = predictions.get_prediction(ident)
    assert prediction is not None
    outcome = run_async(EXPERIMENTS[ident](Namespace((ns + "0000")[:16])))
    assert sum(choice_matches(c, outcome.actual) for c in prediction.choices) == 1
    assert outcome.actual in outcome.transcript


def test_the_file_is_read_once_in_production_and_followed_in_development(
    content: Path, settings: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lesson page asks for each prediction box: without CONTENT_AUTO_RELOAD the file is
    not looked at again (a stat per ask was a tenth of the page's view); with it, an
    edited file is read anew."""
    write(content, GOOD)
    looks: list[Path] = []
    stamp = predictions._stamp
    monkeypatch.setattr(predictions, "_stamp", lambda path: looks.append(path) or stamp(path))
    settings.CONTENT_AUTO_RELOAD = False  # type: ignore[attr-defined]
    assert predictions.get_prediction("publish-count") is not None
    looks.clear()
    for _ in range(5):
        assert predictions.get_prediction("publish-count") is not None
    assert looks == []

    settings.CONTENT_AUTO_RELOAD = True  # type: ignore[attr-defined]
    write(content, GOOD.replace("publish-count", "renamed-count"))
    assert predictions.get_prediction("renamed-count") is not None
    assert predictions.get_prediction("publish-count") is None
    assert looks
