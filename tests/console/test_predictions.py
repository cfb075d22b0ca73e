"""Predictions: the content file is validated (file:line), every embed names a known one,
and each experiment's real result is one of its choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from console import predictions
from console.experiments import EXPERIMENTS, choice_matches
from console.namespace import Namespace
from tests.console.conftest import run_async

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
    return [str(e).replace(str(content) + "/", "") for e in predictions.content_errors()]


def test_real_content_is_valid() -> None:
    assert predictions.content_errors() == []
    assert {"publish-count", "first-message"} <= set(predictions.all_predictions())


def test_good_file(content: Path) -> None:
    write(content, GOOD, "intro\n::: embed predict publish-count\n")
    assert messages(content) == []
    prediction = predictions.get_prediction("publish-count")
    assert prediction is not None
    assert prediction.choices == ("(integer) 0", "(integer) 2")
    assert prediction.lesson == "publish-and-subscribe"


def test_unknown_and_missing_ids_in_lessons(content: Path) -> None:
    write(content, GOOD, "a\n::: embed predict nope\n\n::: embed predict\n")
    found = messages(content)
    assert found[0].startswith('lessons/02-x.md:2: unknown prediction "nope"; define it in')
    assert found[1].startswith("lessons/02-x.md:4: ::: embed predict needs a prediction id")


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
    lesson = "---\ntitle: X\nslug: other-lesson\n---\n\n::: embed predict publish-count\n"
    write(content, GOOD, lesson)
    found = messages(content)
    assert (
        'lessons/02-x.md:6: prediction "publish-count" says "lesson: publish-and-subscribe" but '
        'is embedded in lesson "other-lesson"; make its lesson: line other-lesson'
    ) in found
    assert (
        'predictions.md:3: prediction "publish-count" names lesson "publish-and-subscribe", '
        "which does not exist; use one of other-lesson"
    ) in found


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
