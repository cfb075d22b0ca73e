"""Lesson Markdown blocks of our own: diagrams."""

from __future__ import annotations

from lessons.loader import content_errors, get_course
from tests.lessons.conftest import WriteLesson


def test_a_diagram_is_one_image_with_its_sentence_and_no_code_look(
    write_lesson: WriteLesson,
) -> None:
    write_lesson("01-a.md", body="Before.\n\n```diagram A sends to B <b>\na ──> b\n```\n\nAfter.\n")
    html = get_course().lessons[0].html
    assert (
        '<figure class="diagram"><pre role="img" aria-label="A sends to B &lt;b&gt;" '
        'tabindex="0">a ──&gt; b</pre></figure>' in html
    )
    assert "highlight" not in html  # so site.js adds no copy button to it


def test_a_diagram_without_its_sentence_is_an_error_at_its_line(
    write_lesson: WriteLesson,
) -> None:
    path = write_lesson("01-a.md", body="Before.\n\n```diagram\na ──> b\n```\n")
    errors = [str(e) for e in content_errors()]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:"), errors
    assert "a diagram needs words for readers who cannot see it" in errors[0]
    fence_line = path.read_text().splitlines().index("```diagram") + 1
    assert errors[0].startswith(f"{path}:{fence_line}:"), errors
