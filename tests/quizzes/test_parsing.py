from __future__ import annotations

from pathlib import Path

import pytest

from quizzes.loader import load_bank
from quizzes.parsing import parse_quiz_file
from tests.quizzes.conftest import CATALOG, LESSONS, QUESTION, quiz_file


def test_parses_question_into_frozen_dataclasses(quiz_dir: Path) -> None:
    practice, problems = parse_quiz_file(quiz_dir / "quizzes" / "01-intro.md")
    assert problems == []
    assert practice is not None
    assert practice.lesson_slug == "intro"
    assert practice.title == "Intro"
    first = practice.questions[0]
    assert first.id == "q-one"
    assert first.line == 6
    assert [o.id for o in first.options] == ["o1", "o2", "o3", "o4"]
    assert first.correct_option.text_html == "<code>publish()</code>"
    assert [o.mistake_id for o in first.options] == [
        None,
        "wrong-method",
        "thinks-stored",
        "wrong-method",
    ]
    assert first.steps_html == ("Sending is publishing.", "So it is <code>publish()</code>.")
    assert first.final_answer_html == "<code>publish()</code>"
    assert first.quick_check_html == "Send = publish."
    assert "<pre" in first.stem_html and "publish" in first.stem_html
    with pytest.raises(AttributeError):
        first.id = "other"  # type: ignore[misc]


def test_content_hash_changes_with_the_question_text(tmp_path: Path) -> None:
    a = tmp_path / "a.md"
    b = tmp_path / "b.md"
    a.write_text(quiz_file("q-one"))
    b.write_text(quiz_file("q-one").replace("What sends", "Which call sends"))
    qa = parse_quiz_file(a)[0]
    qb = parse_quiz_file(b)[0]
    assert qa is not None and qb is not None
    assert qa.questions[0].content_hash != qb.questions[0].content_hash
    assert parse_quiz_file(a)[0].questions[0].content_hash == qa.questions[0].content_hash  # type: ignore[union-attr]


def test_valid_content_has_no_problems(quiz_dir: Path) -> None:
    bank, problems = load_bank(quiz_dir, LESSONS)
    assert problems == []
    assert list(bank.questions) == ["q-one", "q-two", "q-three", "q-four"]
    assert bank.mistake("wrong-method").url == "/lessons/intro/#publishing"  # type: ignore[union-attr]


def _problems(quiz_dir: Path, text: str, catalog: str = CATALOG) -> list[tuple[str, int, str]]:
    (quiz_dir / "quizzes" / "01-intro.md").write_text(text)
    (quiz_dir / "misconceptions.md").write_text(catalog)
    _bank, problems = load_bank(quiz_dir, LESSONS)
    return [(p.path.name, p.line, p.message) for p in problems]


FOUR = quiz_file("q-one", "q-two", "q-three", "q-four")


@pytest.mark.parametrize(
    ("broken", "line", "message"),
    [
        (
            FOUR.replace("- [ ] `store()`\n  mistake: thinks-stored\n", "", 1),
            6,
            "question 'q-one' has 3 options; write exactly four",
        ),
        (
            FOUR.replace("- [ ] `send()`", "- [x] `send()`", 1),
            6,
            "question 'q-one' has 2 options marked right; mark exactly one with '- [x]'",
        ),
        (
            FOUR.replace("- [x] `publish()`", "- [ ] `publish()`", 1),
            6,
            "question 'q-one' has 0 options marked right",
        ),
        (
            FOUR.replace("  mistake: thinks-stored\n", "", 1),
            17,
            "question 'q-one': this wrong option names no mistake; add an indented line "
            "'mistake: <id>'",
        ),
        (
            FOUR.replace("  mistake: thinks-stored", "  mistake: no-such-mistake", 1),
            17,
            "question 'q-one' names unknown mistake 'no-such-mistake'",
        ),
        (
            FOUR.replace("1. Sending is publishing.\n2. So it is `publish()`.\n", "", 1),
            22,
            "question 'q-one': the solution has no steps; write at least one '1. ...' line",
        ),
        (
            FOUR.replace("Final answer: `publish()`\n", "", 1),
            22,
            "question 'q-one' has no 'Final answer: ...' line",
        ),
        (
            FOUR.replace("Quick check: Send = publish.\n", "", 1),
            22,
            "question 'q-one' has no 'Quick check: ...' line",
        ),
        (FOUR.replace("### Solution", "", 1), 6, "question 'q-one' has no '### Solution' section"),
        (
            FOUR.replace("lesson: intro", "lesson: nowhere"),
            2,
            "lesson 'nowhere' does not exist; write one of: intro",
        ),
        (
            FOUR.replace("title: Intro\n", "title: Intro\ncolour: red\n"),
            4,
            'unknown front-matter key "colour"; the keys are lesson and title',
        ),
        (
            FOUR.replace("## Question q-two", "## Question q-one"),
            31,
            "question id 'q-one' is already used in 01-intro.md:6; ids must be unique",
        ),
        (
            FOUR.replace("## Question q-two", "## Q two"),
            31,
            "a '##' heading must be '## Question <id>'",
        ),
        ("no front matter\n", 1, "a practice set must start with front matter"),
        (
            quiz_file("q-one", "q-two", "q-three"),
            1,
            "lesson 'intro' has 3 practice questions; write at least 4",
        ),
    ],
)
def test_each_validation_message_names_file_and_line(
    quiz_dir: Path, broken: str, line: int, message: str
) -> None:
    found = _problems(quiz_dir, broken)
    assert any(
        name == "01-intro.md" and at == line and message in text for name, at, text in found
    ), found


def test_right_option_must_not_name_a_mistake(quiz_dir: Path) -> None:
    broken = FOUR.replace("- [x] `publish()`\n", "- [x] `publish()`\n  mistake: thinks-stored\n", 1)
    found = _problems(quiz_dir, broken)
    assert (
        "01-intro.md",
        15,
        "question 'q-one': the right option has a 'mistake:' tag; "
        "remove it (only wrong options name a mistake)",
    ) in found


def test_unused_mistake_is_reported_in_the_catalog(quiz_dir: Path) -> None:
    catalog = CATALOG + "\n## never-used\nName: Unused\nFix: intro#publishing\nWhy: Nope.\n"
    found = _problems(quiz_dir, FOUR, catalog)
    assert (
        "misconceptions.md",
        13,
        "mistake 'never-used' is not named by any wrong option; use it in a question or remove it",
    ) in found


def test_mistake_section_must_exist_in_its_lesson(quiz_dir: Path) -> None:
    catalog = CATALOG.replace("Fix: intro#publishing", "Fix: intro#no-such-section")
    found = _problems(quiz_dir, FOUR, catalog)
    assert (
        "misconceptions.md",
        8,
        "mistake 'wrong-method': lesson 'intro' has no section "
        "'#no-such-section'; its sections are: publishing, what-it-does",
    ) in found


def test_mistake_lesson_must_exist(quiz_dir: Path) -> None:
    catalog = CATALOG.replace("Fix: intro#publishing", "Fix: elsewhere#publishing")
    found = _problems(quiz_dir, FOUR, catalog)
    assert (
        "misconceptions.md",
        8,
        "mistake 'wrong-method': lesson 'elsewhere' does not exist",
    ) in found


def test_catalog_entry_missing_fields(quiz_dir: Path) -> None:
    catalog = CATALOG.replace("Why: They are not.\n", "")
    found = _problems(quiz_dir, FOUR, catalog)
    assert ("misconceptions.md", 3, "mistake 'thinks-stored' is missing 'Why:'") in found


def test_catalog_fix_must_name_a_section(quiz_dir: Path) -> None:
    catalog = CATALOG.replace("Fix: intro#what-it-does", "Fix: intro")
    found = _problems(quiz_dir, FOUR, catalog)
    assert any(at == 5 and "'Fix:' must be <lesson-slug>#<section-id>" in m for _, at, m in found)


def test_question_text_is_required(quiz_dir: Path) -> None:
    broken = FOUR.replace("What sends a message?\n\n```python\nr.publish('c', 'm')\n```\n", "", 1)
    found = _problems(quiz_dir, broken)
    assert (
        "01-intro.md",
        6,
        "question 'q-one' has no question text: write it under the '## Question' heading",
    ) in found


def test_seed_template_is_well_formed() -> None:
    assert QUESTION.count("- [") == 4
