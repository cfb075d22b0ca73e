"""Lesson Markdown that reads well on a phone: tables in a scrolling box, long inline code
with break points after its punctuation (never inside a name)."""

from __future__ import annotations

from lessons.loader import get_course
from quizzes.parsing import render_inline
from tests.lessons.conftest import WriteLesson


def test_a_table_scrolls_in_its_own_box(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="| key | value |\n|---|---|\n| `type` | `'message'` |\n")
    html = get_course().lessons[0].html
    assert '<div class="table-scroll"><table>' in html
    assert html.count("</table></div>") == 1


def test_long_inline_code_breaks_after_punctuation_only(write_lesson: WriteLesson) -> None:
    write_lesson(
        "01-a.md",
        body="Use `r.pubsub(ignore_subscribe_messages=True)` or `0.5`, `a.b`, `pattern`.\n\n"
        "```python\nr.pubsub(ignore_subscribe_messages=True)\n```\n",
    )
    lesson = get_course().lessons[0]
    assert "<code>r.<wbr>pubsub(<wbr>ignore_subscribe_messages=<wbr>True)</code>" in lesson.html
    assert "<code>0.5</code>" in lesson.html and "<code>a.b</code>" in lesson.html  # short
    # The code block is not touched, and search and reading time see the plain text.
    assert lesson.html.count("<wbr>") == 3
    assert any("r.pubsub(ignore_subscribe_messages=True)" in text for _h, text in lesson.sections)


def test_a_long_number_or_name_keeps_its_dots(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="`timeout=1234567.891011` and `redis.asyncio.client`\n")
    html = get_course().lessons[0].html
    assert "<code>timeout=<wbr>1234567.891011</code>" in html  # no break inside the number
    assert "<code>redis.<wbr>asyncio.<wbr>client</code>" in html


def test_practice_questions_get_the_same_break_points() -> None:
    html = render_inline("Call `r.pubsub(ignore_subscribe_messages=True)` first.")
    # Their Markdown writes XHTML-style empty tags: <wbr />.
    assert "<code>r.<wbr />pubsub(<wbr />ignore_subscribe_messages=<wbr />True)</code>" in html
