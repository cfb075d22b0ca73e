"""Every validator message, checked word for word, with the file and line it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from lessons.loader import content_errors, get_course
from tests.lessons.conftest import WriteLesson, lesson_text


def messages() -> list[str]:
    return [f"{Path(e.path).name}:{e.line}: {e.message}" for e in content_errors()]


def test_valid_content_has_no_errors(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="## A\n\n[self](#a) [other](/lessons/b/#b-part)\n")
    write_lesson("02-b.md", slug="b", order=2, body="## B part\n\n[back](/lessons/a-lesson/)\n")
    assert messages() == []


def test_error_string_names_path_relative_to_project() -> None:
    from learnsite.content.errors import ContentError
    from learnsite.env import BASE_DIR

    error = ContentError(
        BASE_DIR / "content/lessons/03-threads.md",
        12,
        'unknown callout type "warn"; use note, warning or tip',
    )
    assert str(error) == (
        'content/lessons/03-threads.md:12: unknown callout type "warn"; use note, warning or tip'
    )
    assert str(ContentError("/elsewhere/x.md", None, "gone")) == "/elsewhere/x.md: gone"


def test_unknown_callout(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body='Text.\n\n!!! warn "Careful"\n    Body.\n')
    assert messages() == ['01-a.md:10: unknown callout type "warn"; use note, warning or tip']


def test_callout_without_indented_body(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="!!! tip\nNot indented.\n")
    assert messages() == [
        "01-a.md:8: callout has no body; indent its text by 4 spaces on the "
        "lines under the !!! line"
    ]


def test_callout_inside_code_is_not_checked(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="```text\n!!! warn\n::: embed nope\n# not a heading\n```\n")
    assert messages() == []


def test_unknown_front_matter_key(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", extra="author: me\n")
    assert messages() == [
        '01-a.md:7: unknown front-matter key "author"; the keys are title, slug, order, summary '
        "and part"
    ]


def test_missing_front_matter_key(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", raw="---\ntitle: T\nslug: t\norder: 1\npart: Pub/sub\n---\nBody\n")
    assert messages() == [
        '01-a.md:1: front matter is missing "summary"; add a line like '
        "summary: One or two sentences shown on the course home."
    ]


def test_no_front_matter(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", raw="# Title\n\nBody\n")
    assert messages() == [
        "01-a.md:1: a lesson must start with front matter: a line ---, then "
        "title, slug, order, summary and part, then a line ---"
    ]


def test_front_matter_never_closed(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", raw="---\ntitle: T\nslug: t\n")
    assert messages() == [
        "01-a.md:1: front matter is never closed; add a line --- after its last key"
    ]


def test_broken_yaml(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", raw="---\ntitle: T\nslug: [t\norder: 1\nsummary: S\n---\nBody\n")
    (message,) = messages()
    assert message.startswith("01-a.md:4: front matter is not valid YAML (")
    assert message.endswith(
        "write one key: value per line and put quotes around values that contain a colon"
    )


def test_front_matter_that_is_not_a_mapping(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", raw="---\n- just\n- a list\n---\nBody\n")
    assert messages() == [
        "01-a.md:2: front matter must be key: value lines (title, slug, order, summary and part)"
    ]


def test_duplicate_front_matter_key(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", extra="title: Again\n")
    assert messages() == ['01-a.md:7: duplicate front-matter key "title"; keep only one']


@pytest.mark.parametrize(
    ("slug", "suggestion"), [("Bad_Slug", "bad-slug"), ("-x", "x"), ("a b", "a-b")]
)
def test_bad_slug(write_lesson: WriteLesson, slug: str, suggestion: str) -> None:
    write_lesson("01-a.md", slug=f'"{slug}"')
    assert messages() == [
        f'01-a.md:3: bad slug "{slug}"; use lowercase letters, digits and '
        f'hyphens, e.g. "{suggestion}"'
    ]


@pytest.mark.parametrize("order", ["two", "0", "1.5", "true"])
def test_bad_order(write_lesson: WriteLesson, order: str) -> None:
    write_lesson("01-a.md", raw=lesson_text().replace("order: 1", f"order: {order}"))
    (message,) = messages()
    assert message.startswith(
        '01-a.md:4: "order" must be a whole number from 1 up, e.g. order: 3 (found '
    )


def test_unknown_part(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", part="Pubsub")
    assert messages() == [
        '01-a.md:6: unknown part "Pubsub"; write part: followed by one of "Pub/sub", '
        '"Queues and streams" or "In production"'
    ]
    assert get_course().lessons == ()


def test_part_must_be_text(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", part="[Pub/sub]")
    assert messages() == ['01-a.md:6: "part" must be non-empty text; write part: Pub/sub']


def test_missing_part(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", raw=lesson_text().replace("part: Pub/sub\n", ""))
    assert messages() == [
        '01-a.md:1: front matter is missing "part"; add a line like part: Pub/sub'
    ]


def test_empty_title(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", title='""')
    assert messages() == [
        '01-a.md:2: "title" must be non-empty text; write title: Publish and '
        "subscribe with redis-py"
    ]


def test_duplicate_slug(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", slug="same", order=1)
    write_lesson("02-b.md", slug="same", order=2)
    assert messages() == ['02-b.md:3: duplicate slug "same"; 01-a.md uses it already']
    assert [lesson.path.name for lesson in get_course().lessons] == ["01-a.md"]


def test_duplicate_order(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", slug="a", order=1)
    write_lesson("02-b.md", slug="b", order=1)
    assert messages() == ["02-b.md:4: duplicate order 1; 01-a.md uses it already"]


def test_unknown_embed(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="Text.\n\n::: embed chatt\n")
    (message,) = messages()
    assert message == (
        '01-a.md:10: unknown embed "chatt"; use one of chat, playground, '
        "blocking-demo, queue-workers, group-janitor, live-feed, console, streams-vs-pubsub, "
        "predict"
    )


def test_embed_missing_its_argument(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="::: embed predict\n")
    assert messages() == [
        '01-a.md:8: embed "predict" needs an argument; write ::: embed predict <id>'
    ]


def test_unreadable_embed_line(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="::: embedd chat\n")
    assert messages() == [
        "01-a.md:8: cannot read this embed line; write ::: embed <name> or "
        "::: embed <name> <arg> on a line of its own"
    ]


def test_link_to_missing_lesson(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="Intro.\n\nSee [next](/lessons/nowhere/).\n")
    assert messages() == ['01-a.md:10: link to a missing lesson "nowhere"; known slugs: a-lesson']


def test_link_to_missing_heading(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="## Real part\n\n[x](/lessons/b/#nope)\n")
    write_lesson("02-b.md", slug="b", order=2, body="## Only this\n")
    assert messages() == [
        '01-a.md:10: link to a missing heading "#nope" in lesson "b"; its headings are: only-this'
    ]


def test_link_to_missing_heading_in_same_lesson(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="## Real part\n\n[x](#real) and [y][ref]\n\n[ref]: #real-part\n")
    assert messages() == [
        '01-a.md:10: link to a missing heading "#real" in lesson "a-lesson"; '
        "its headings are: real-part"
    ]


def test_link_inside_code_span_is_ignored(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="Write `[x](/lessons/nowhere/)` like this.\n")
    assert messages() == []


def test_runnable_block_without_output(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="Text.\n\n```python runnable\nprint(1)\n```\n\nMore text.\n")
    assert messages() == [
        "01-a.md:10: runnable block has no output block after it; add a blank "
        "line and a ```output block with exactly what the code prints"
    ]


def test_unclosed_code_block(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="Text.\n\n```python\nprint(1)\n")
    assert messages() == ["01-a.md:10: code block is never closed; add a line ``` to end it"]


def test_level_one_heading(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="# Big title\n")
    assert messages() == [
        "01-a.md:8: use ## for sections (and ### below them); the lesson's "
        "title comes from its front matter"
    ]


def test_file_that_is_not_utf8(write_lesson: WriteLesson, content_dir: Path) -> None:
    path = content_dir / "lessons" / "01-a.md"
    path.write_bytes(lesson_text().encode() + b"\nline eight \xff\n")
    assert messages() == ["01-a.md:10: the file is not valid UTF-8 text; save it as UTF-8"]


def test_file_that_cannot_be_read(content_dir: Path) -> None:
    (content_dir / "lessons" / "01-a.md").symlink_to(content_dir / "missing.md")
    (message,) = messages()
    assert message.startswith("01-a.md:None: cannot read the file (")
    assert message.endswith("); check it exists and is readable")


def test_missing_lessons_folder(content_dir: Path) -> None:
    (content_dir / "lessons").rmdir()
    (error,) = content_errors()
    assert error.message == (
        "the lessons folder does not exist; create it and add lessons as NN-name.md files"
    )


def test_several_problems_are_all_reported(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body="!!! warn\n    x\n\n::: embed nope\n\n[x](/lessons/zz/)\n")
    assert len(messages()) == 3
