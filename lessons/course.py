"""The validated shape of the course: frozen dataclasses the loader builds and views read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lessons.errors import ContentError


@dataclass(frozen=True)
class Heading:
    id: str
    text: str
    level: int


@dataclass(frozen=True)
class RunnableBlock:
    code: str
    expected_output: str
    line: int


@dataclass(frozen=True)
class EmbedRef:
    """A ``::: embed <name> [<arg>]`` line; ``slot`` is the placeholder left in ``Lesson.html``."""

    name: str
    arg: str | None
    line: int
    slot: str


@dataclass(frozen=True)
class Lesson:
    slug: str
    title: str
    order: int
    summary: str
    path: Path
    html: str
    headings: tuple[Heading, ...]
    reading_minutes: int
    runnable_blocks: tuple[RunnableBlock, ...]
    embeds: tuple[EmbedRef, ...]
    # Plain text of the body, one entry per section (intro first), for the search index.
    sections: tuple[tuple[Heading | None, str], ...] = ()

    @property
    def url(self) -> str:
        return f"/lessons/{self.slug}/"


@dataclass(frozen=True)
class Course:
    lessons: tuple[Lesson, ...]
    errors: tuple[ContentError, ...] = ()
    # A digest of every lesson file: changes whenever any content changes.
    version: str = ""

    def by_slug(self, slug: str) -> Lesson | None:
        for lesson in self.lessons:
            if lesson.slug == slug:
                return lesson
        return None

    def neighbours(self, lesson: Lesson) -> tuple[Lesson | None, Lesson | None]:
        """The lessons before and after ``lesson`` in course order."""
        index = self.lessons.index(lesson)
        before = self.lessons[index - 1] if index > 0 else None
        after = self.lessons[index + 1] if index + 1 < len(self.lessons) else None
        return before, after
