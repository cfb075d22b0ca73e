"""The content core: one error type, one front-matter reader, one section reader, the embed
registry and the content checks' shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from learnsite.content import embeds, frontmatter, sections
from learnsite.content.checks import as_errors, describe
from learnsite.content.errors import ContentError
from learnsite.env import BASE_DIR

SPEC = frontmatter.FrontMatterSpec(
    kind="a thing", examples={"lesson": "lesson: intro", "title": "title: Intro"}
)
CATALOG = sections.SectionsSpec(noun="mistake", keys=("Name", "Why"), example_id="a-b")


def test_error_string_is_file_line_message_then_hint() -> None:
    error = ContentError(BASE_DIR / "content/quizzes/02-x.md", 14, "bad option", "write - [ ] x")
    assert str(error) == "content/quizzes/02-x.md:14: bad option; write - [ ] x"
    assert error.where == "content/quizzes/02-x.md:14"
    assert str(ContentError("/elsewhere/x.md", None, "gone")) == "/elsewhere/x.md: gone"


def test_errors_compare_by_value() -> None:
    assert ContentError("a.md", 1, "m") == ContentError("a.md", 1, "m")
    assert ContentError("a.md", 1, "m") != ContentError("a.md", 1, "m", "hint")


def test_front_matter_fields_keep_their_lines_and_the_body_its_first_line() -> None:
    front, errors = frontmatter.read(
        Path("x.md"), "---\nlesson: intro\ntitle: T\n---\nBody\n", SPEC
    )
    assert errors == []
    assert front is not None
    assert front.fields["title"] == frontmatter.Field("T", 3)
    assert (front.body, front.body_first_line) == ("Body\n", 5)


def test_front_matter_problems_are_on_the_key_line() -> None:
    front, errors = frontmatter.read(Path("x.md"), "---\nlesson: intro\ncolour: red\n---\n", SPEC)
    assert front is not None
    assert [str(e) for e in errors] == [
        'x.md:3: unknown front-matter key "colour"; the keys are lesson and title',
        'x.md:1: front matter is missing "title"; add a line like title: Intro',
    ]


def test_no_front_matter_names_the_kind_of_file() -> None:
    front, errors = frontmatter.read(Path("x.md"), "Body\n", SPEC)
    assert front is None
    assert [str(e) for e in errors] == [
        "x.md:1: a thing must start with front matter: a line ---, then lesson and title, "
        "then a line ---"
    ]


def test_sections_read_values_continuations_and_report_bad_lines() -> None:
    text = "# Title\n\n## a-b\nName: A\nWhy: first\n  and more\nwhat\n\n## a-b\n## Bad Id\n"
    found, errors = sections.read(Path("c.md"), text, CATALOG)
    assert [section.id for section in found] == ["a-b"]
    assert found[0].one("why") == sections.Value("first and more", 5)
    assert [str(e) for e in errors] == [
        "c.md:7: expected \"key: value\" with key one of Name, Why; got 'what'",
        'c.md:9: mistake "a-b" is defined twice; rename one',
        'c.md:10: mistake id "Bad Id" must be lowercase letters, digits and hyphens, e.g. a-b',
    ]


def test_argument_rules() -> None:
    required = embeds.Embed("x", "x.html", arg="required")
    none = embeds.Embed("y", "y.html")
    assert required.line_problem(None) == 'embed "x" needs an argument; write ::: embed x <id>'
    assert required.line_problem("id") is None
    assert none.line_problem("id") == 'embed "y" takes no argument; write ::: embed y'
    assert embeds.Embed("z", "z.html", arg="optional").line_problem(None) is None


def test_each_app_registers_its_embeds_in_ready() -> None:
    assert embeds.names() == (
        "chat",
        "playground",
        "blocking-demo",
        "queue-workers",
        "group-janitor",
        "live-feed",
        "console",
        "streams-vs-pubsub",
        "predict",
    )
    predict = embeds.get("predict")
    assert predict is not None and predict.arg == "required" and predict.validate is not None
    assert [embed.name for embed in embeds.lesson_end()] == ["practice", "exercises"]


def test_two_different_embeds_cannot_share_a_name() -> None:
    chat = embeds.get("chat")
    assert chat is not None
    embeds.register(chat)  # registering the same embed again (ready() twice) is harmless
    with pytest.raises(ImproperlyConfigured):
        embeds.register(embeds.Embed("chat", "other.html"))


def test_check_messages_carry_file_line_and_id() -> None:
    (message,) = as_errors([ContentError("/c/x.md", 4, "bad", "write y")], "quizzes.E001")
    assert (message.msg, message.hint, message.obj, message.id) == (
        "bad",
        "write y",
        "/c/x.md:4",
        "quizzes.E001",
    )
    assert describe(message) == "/c/x.md:4: bad; write y (quizzes.E001)"
