"""A choice's own fix link (``fix:`` under an option) and a practice set's title, as the
content check sees them: each problem names the file and the line to change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from learnsite.content.checks import describe
from quizzes import checks, loader
from quizzes.loader import load_bank
from tests.quizzes.conftest import CATALOG, LESSONS, quiz_file

FOUR = quiz_file("q-one", "q-two", "q-three", "q-four")
STORE = "- [ ] `store()`\n  mistake: thinks-stored\n"  # lines 17 and 18; a fix goes on 19


def _with_fix(fix: str) -> str:
    return FOUR.replace(STORE, f"{STORE}  fix: {fix}\n", 1)


def _problems(quiz_dir: Path, text: str) -> list[tuple[str, int, str]]:
    (quiz_dir / "quizzes" / "01-intro.md").write_text(text)
    (quiz_dir / "misconceptions.md").write_text(CATALOG)
    _bank, problems = load_bank(quiz_dir, LESSONS)
    return [(p.path.name, p.line, p.message) for p in problems]


@pytest.mark.parametrize(
    ("fix", "url"),
    [
        ("#publishing", "/lessons/intro/#publishing"),
        ("intro#publishing", "/lessons/intro/#publishing"),
    ],
)
def test_a_fix_line_gives_the_choice_its_own_link(quiz_dir: Path, fix: str, url: str) -> None:
    (quiz_dir / "quizzes" / "01-intro.md").write_text(_with_fix(fix))
    bank, problems = load_bank(quiz_dir, LESSONS)
    assert problems == []
    options = bank.questions["q-one"].options
    assert [o.fix_url() for o in options] == [None, None, url, None]
    assert options[2].fix_line == 19
    assert bank.mistakes["thinks-stored"].url == "/lessons/intro/#what-it-does"  # unchanged


def test_a_fix_to_a_missing_section_names_file_and_line(quiz_dir: Path) -> None:
    found = _problems(quiz_dir, _with_fix("#a-background-thread"))
    assert found == [
        (
            "01-intro.md",
            19,
            "question 'q-one': 'fix:' names section '#a-background-thread', which lesson "
            "'intro' does not have; its sections are: publishing, what-it-does",
        )
    ]


def test_a_fix_to_a_missing_lesson_names_file_and_line(quiz_dir: Path) -> None:
    found = _problems(quiz_dir, _with_fix("nowhere#publishing"))
    assert found == [
        (
            "01-intro.md",
            19,
            "question 'q-one': 'fix:' names lesson 'nowhere', which does not exist; "
            "write one of: intro",
        )
    ]


@pytest.mark.parametrize("fix", ["publishing", "intro#", "Intro Lesson#publishing"])
def test_a_malformed_fix_names_file_and_line(quiz_dir: Path, fix: str) -> None:
    found = _problems(quiz_dir, _with_fix(fix))
    on_the_line = [message for name, line, message in found if (name, line) == ("01-intro.md", 19)]
    assert len(on_the_line) == 1, found
    assert f"'fix: {fix}' must be <lesson-slug>#<section-id>" in on_the_line[0]


def test_the_right_option_has_no_fix(quiz_dir: Path) -> None:
    broken = FOUR.replace("- [x] `publish()`\n", "- [x] `publish()`\n  fix: #publishing\n", 1)
    found = _problems(quiz_dir, broken)
    assert ("01-intro.md", 15) in [(name, line) for name, line, _ in found]
    assert any("the right option has a 'fix:' line" in message for _, _, message in found)


def test_a_practice_set_titled_unlike_its_lesson_names_the_title_line(quiz_dir: Path) -> None:
    found = _problems(quiz_dir, quiz_file("q-one", "q-two", "q-three", "q-four", title="Why?"))
    assert found == [
        ("01-intro.md", 3, "title 'Why?' is not the title of lesson 'intro'; write: title: Intro")
    ]


def test_the_content_check_reports_a_bad_fix_anchor(
    quiz_dir: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (quiz_dir / "quizzes" / "01-intro.md").write_text(_with_fix("#no-such-section"))
    settings.CONTENT_DIR = quiz_dir
    monkeypatch.setattr(loader, "course_lessons", lambda: LESSONS)
    messages = checks.quiz_files()
    assert [m.id for m in messages] == ["quizzes.E001"]
    assert str(messages[0].obj).endswith("01-intro.md:19")
    assert describe(messages[0]).endswith(
        "01-intro.md:19: question 'q-one': 'fix:' names section '#no-such-section', which "
        "lesson 'intro' does not have; its sections are: publishing, what-it-does (quizzes.E001)"
    )
