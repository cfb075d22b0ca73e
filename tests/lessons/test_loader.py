"""The loader: parse, render once, cache, notice edits in development."""

from __future__ import annotations

import os
from typing import Any

from lessons.course import Heading, RunnableBlock
from lessons.loader import content_errors, get_course
from tests.lessons.conftest import WriteLesson

BODY = """\
Intro paragraph with **bold** words.

## Why not a loop?

A loop over users does not scale.

### One more level

!!! note "Remember"
    Pub/sub stores nothing.

::: embed predict first-guess

```python runnable
print("hello")
```

```output
hello
```

```redis
PUBLISH chat hello
```

| a | b |
|---|---|
| 1 | 2 |
"""


def test_lessons_are_ordered_by_order_not_file_name(write_lesson: WriteLesson) -> None:
    write_lesson("a.md", slug="second", order=2)
    write_lesson("b.md", slug="first", order=1)
    course = get_course()
    assert [lesson.slug for lesson in course.lessons] == ["first", "second"]
    assert course.errors == ()


def test_front_matter_fields_reach_the_lesson(write_lesson: WriteLesson) -> None:
    path = write_lesson(
        "01-a.md", title="Why a broker?", slug="why", order=3, summary="The problem."
    )
    lesson = get_course().by_slug("why")
    assert lesson is not None
    assert (lesson.title, lesson.order, lesson.summary, lesson.path) == (
        "Why a broker?",
        3,
        "The problem.",
        path,
    )
    assert get_course().by_slug("nope") is None


def test_headings_get_ids_from_their_text(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body=BODY)
    lesson = get_course().lessons[0]
    assert lesson.headings == (
        Heading("why-not-a-loop", "Why not a loop?", 2),
        Heading("one-more-level", "One more level", 3),
    )
    assert '<h2 id="why-not-a-loop">Why not a loop?</h2>' in lesson.html


def test_markdown_features_render(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body=BODY)
    html = get_course().lessons[0].html
    assert '<div class="admonition note" role="note">' in html
    assert '<p class="admonition-title">Remember</p>' in html
    assert "<table>" in html
    assert '<div class="highlight"><pre tabindex="0">' in html
    assert "PUBLISH chat hello" in html
    assert '<span class="k">' not in html.split("PUBLISH")[1]  # redis blocks are plain text


def test_runnable_block_and_its_output(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body=BODY)
    lesson = get_course().lessons[0]
    # Front matter is lines 1-7; the fence sits on body line 14, file line 21.
    assert lesson.runnable_blocks == (RunnableBlock('print("hello")', "hello", 21),)
    # The prediction before it holds it back (tests/lessons/test_held_blocks.py).
    held = lesson.embeds[0].held
    assert held is not None and held.slot in lesson.html
    assert 'class="badge-tested"' in held.shown
    assert "<figcaption>Output</figcaption>" in held.shown
    assert '<span class="nb">print</span>' in held.shown


def test_embed_becomes_a_placeholder(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body=BODY)
    lesson = get_course().lessons[0]
    (embed,) = lesson.embeds
    assert (embed.name, embed.arg, embed.line) == ("predict", "first-guess", 19)
    assert embed.slot in lesson.html
    assert ":::" not in lesson.html


def test_reading_time_counts_words(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", slug="short", order=1, body="Just a few words.\n")
    write_lesson("02-b.md", slug="long", order=2, body="word " * 1000 + "\n")
    course = get_course()
    assert [lesson.reading_minutes for lesson in course.lessons] == [1, 5]


def test_rendered_once_and_cached(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body=BODY)
    assert get_course() is get_course()


def test_edited_lesson_shows_without_restart(write_lesson: WriteLesson, settings: Any) -> None:
    settings.CONTENT_AUTO_RELOAD = True
    path = write_lesson("01-a.md", title="Old title")
    assert get_course().lessons[0].title == "Old title"
    write_lesson("01-a.md", title="New title")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert get_course().lessons[0].title == "New title"


def test_new_file_shows_without_restart(write_lesson: WriteLesson, settings: Any) -> None:
    settings.CONTENT_AUTO_RELOAD = True
    write_lesson("01-a.md")
    assert len(get_course().lessons) == 1
    write_lesson("02-b.md", slug="b", order=2)
    assert len(get_course().lessons) == 2


def test_without_auto_reload_the_course_is_read_once(
    write_lesson: WriteLesson, settings: Any
) -> None:
    settings.CONTENT_AUTO_RELOAD = False
    path = write_lesson("01-a.md", title="Old title")
    first = get_course()
    write_lesson("01-a.md", title="New title")
    os.utime(path, ns=(0, 10**18))
    assert get_course() is first


def test_touching_a_file_without_changing_it_keeps_the_course(
    write_lesson: WriteLesson, settings: Any
) -> None:
    settings.CONTENT_AUTO_RELOAD = True
    path = write_lesson("01-a.md")
    first = get_course()
    os.utime(path, ns=(0, 10**18))
    assert get_course() is first


def test_content_errors_lists_problems_fresh_from_disk(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md")
    assert content_errors() == []
    path = write_lesson("02-b.md", slug="b", order=2, extra="tags: x\n")
    assert [str(e) for e in content_errors()] == [
        f'{path}:7: unknown front-matter key "tags"; the keys are title, slug, order, summary '
        "and part"
    ]


def test_course_order_is_part_by_part_then_order(write_lesson: WriteLesson) -> None:
    write_lesson("01.md", slug="pubsub-one", order=1)
    write_lesson("02.md", slug="production", order=2, part="In production")
    write_lesson("03.md", slug="queues", order=3, part="Queues and streams")
    write_lesson("04.md", slug="pubsub-two", order=4)
    course = get_course()
    assert [lesson.slug for lesson in course.lessons] == [
        "pubsub-one",
        "pubsub-two",
        "queues",
        "production",
    ]
    assert [(part.name, [lesson.slug for lesson in part.lessons]) for part in course.parts] == [
        ("Pub/sub", ["pubsub-one", "pubsub-two"]),
        ("Queues and streams", ["queues"]),
        ("In production", ["production"]),
    ]
    assert course.neighbours(course.lessons[1])[1] is course.by_slug("queues")


def test_parts_without_lessons_are_left_out(write_lesson: WriteLesson) -> None:
    write_lesson("01.md", slug="only", order=1, part="In production")
    assert [part.name for part in get_course().parts] == ["In production"]


def test_neighbours(write_lesson: WriteLesson) -> None:
    for order in (1, 2, 3):
        write_lesson(f"0{order}.md", slug=f"l{order}", order=order)
    course = get_course()
    first, middle, last = course.lessons
    assert course.neighbours(first) == (None, middle)
    assert course.neighbours(middle) == (first, last)
    assert course.neighbours(last) == (middle, None)


def test_real_lessons_load_without_errors(settings: Any) -> None:
    from learnsite.env import BASE_DIR
    from lessons import loader

    settings.CONTENT_DIR = BASE_DIR / "content"
    loader.reset_cache()
    course = get_course()
    lesson_errors = [str(e) for e in course.errors]
    assert lesson_errors == []
    assert len(course.lessons) >= 1
