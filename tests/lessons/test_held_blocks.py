"""An embed that asks a question (``holds_output``: predictions) holds back the next
runnable or output block of its section: the lesson's HTML has a slot there, and each
request gets the block or, until the embed's ``reveal`` says yes, the code without its
output and without a Run button. Nothing of the answer reaches a page before that."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from django.test import RequestFactory

from learnsite.content import embeds
from lessons.loader import get_course
from lessons.selectors import held_block, lesson_body
from tests.lessons.conftest import WriteLesson

BODY = """\
Predict first.

::: embed predict first-guess

```python runnable
print("the answer is 42")
```

```output
the answer is 42
```

## Later

```output
not held: a block of another section
```

::: embed predict second-guess

## A heading comes first

```output
not held either: the embed's section ended
```
"""


@pytest.fixture
def revealed(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """Which predictions this test's "learner" has answered (the embed's reveal)."""
    answered: dict[str, bool] = {}
    predict = embeds.get("predict")
    assert predict is not None and predict.holds_output
    replaced = dataclasses.replace(
        predict,
        template="lessons/_embed_unavailable.html",
        context=None,
        reveal=lambda request, use: answered.get(use.arg or "", False),
    )
    monkeypatch.setitem(embeds._embeds, "predict", replaced)
    return answered


def _body(lesson: Any) -> str:
    request = RequestFactory().get("/")
    return str(lesson_body(lesson=lesson, request=request))


def test_the_next_block_of_the_section_is_held(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body=BODY)
    lesson = get_course().lessons[0]
    first, second = lesson.embeds
    assert first.held is not None and second.held is None
    assert "the answer is 42</code>" not in lesson.html.replace(first.held.slot, "")
    assert f'<div class="lesson-held" id="held-predict-first-guess">{first.held.slot}</div>' in (
        lesson.html
    )
    assert "the answer is 42" in first.held.shown and "data-lab " in first.held.shown
    assert "<figcaption>Output</figcaption>" not in first.held.concealed
    assert "data-lab" not in first.held.concealed  # no Run: running prints the answer
    assert "print" in first.held.concealed  # the code is there to reason about
    assert "not held: a block of another section" in lesson.html
    assert "not held either" in lesson.html
    # Search sees the code, never the answer.
    text = " ".join(section_text for _, section_text in lesson.sections)
    assert 'print("the answer is 42")' in text and "hidden until" not in text
    assert text.count("the answer is 42") == 1
    assert held_block(lesson=lesson, embed_name="predict", arg="first-guess") == first.held
    assert held_block(lesson=lesson, embed_name="predict", arg="second-guess") is None


def test_a_page_shows_the_block_only_once_revealed(
    write_lesson: WriteLesson, revealed: dict[str, bool]
) -> None:
    write_lesson("01-a.md", body=BODY)
    lesson = get_course().lessons[0]
    before = _body(lesson)
    assert "the answer is 42</code></pre>" not in before
    assert "The output is hidden until you answer the question above" in before
    revealed["first-guess"] = True
    after = _body(lesson)
    assert "the answer is 42</code></pre>" in after
    assert "The output is hidden" not in after
    assert "<!--lesson-held-" not in before + after


def test_an_embed_that_cannot_say_keeps_the_answer_hidden(
    write_lesson: WriteLesson, monkeypatch: pytest.MonkeyPatch
) -> None:
    predict = embeds.get("predict")
    assert predict is not None

    def broken(request: Any, use: Any) -> bool:
        raise RuntimeError("the database is gone")

    monkeypatch.setitem(
        embeds._embeds,
        "predict",
        dataclasses.replace(predict, template="lessons/_embed_unavailable.html", reveal=broken),
    )
    write_lesson("01-a.md", body=BODY)
    assert "the answer is 42</code></pre>" not in _body(get_course().lessons[0])


def test_the_course_explains_each_held_answer_in_prose_after_it() -> None:
    """Once a prediction is locked in, the held output appears, and the text right after it
    (before the next heading) must say why: a held block followed straight by a heading, a
    table or nothing would leave the revealed answer unexplained."""
    held_count = 0
    for lesson in get_course().lessons:
        for ref in lesson.embeds:
            if ref.held is None:
                continue
            held_count += 1
            after = lesson.html.split(ref.held.slot, 1)[1]
            section_rest = re.split(r"<h[23][ >]", after, maxsplit=1)[0]
            first = re.search(r"<p>(.*?)</p>", section_rest, re.S)
            assert first is not None, f"{lesson.slug}: no prose after the answer of {ref.arg}"
            text = re.sub(r"<[^>]+>", "", first.group(1))
            assert len(text.split()) >= 12, f"{lesson.slug}: {ref.arg} explained by {text!r}"
    assert held_count >= 3  # the course's three predictions
