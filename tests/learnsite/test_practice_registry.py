"""The registry through which the course home learns which lessons have a practice set."""

from __future__ import annotations

from collections.abc import Collection, Iterator

import pytest

from learnsite.content import practice
from learnsite.content.errors import ContentError


@pytest.fixture
def sources(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[practice.PracticeSource]]:
    found: list[practice.PracticeSource] = []
    monkeypatch.setattr(practice, "_sources", found)
    yield found


def test_only_lessons_a_source_names_have_practice(sources: list[practice.PracticeSource]) -> None:
    assert practice.lessons_with_practice(["a", "b"]) == frozenset()
    practice.register(lambda: {"a", "gone"})
    assert practice.lessons_with_practice(["a", "b"]) == frozenset({"a"})


def test_unreadable_content_never_makes_the_course_look_complete(
    sources: list[practice.PracticeSource],
) -> None:
    def broken() -> Collection[str]:
        raise ContentError("content/quizzes/01.md", 3, "bad")

    practice.register(broken)
    assert practice.lessons_with_practice(["a", "b"]) == frozenset({"a", "b"})


def test_the_quizzes_app_registers_its_practice_sets() -> None:
    from quizzes.embeds import practice_set_lessons

    assert practice_set_lessons in practice._sources
