"""The validated shape of the course: frozen dataclasses the loader builds and views read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.urls import reverse

from learnsite.content.errors import ContentError

# The parts the course home groups lessons in, in course order (a lesson's ``part:`` key).
PARTS: tuple[str, ...] = ("Pub/sub", "Queues and streams", "In production")


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
class HeldBlock:
    """The block an embed holds back (its answer): ``slot`` is left in ``Lesson.html`` inside
    an element with id ``dom_id``; a page puts ``shown`` or ``concealed`` there."""

    slot: str
    dom_id: str
    shown: str  # the runnable block (the lab's editor) and its output, as written
    concealed: str  # the code without a Run button, and a note where the output will be


@dataclass(frozen=True)
class EmbedRef:
    """A ``::: embed <name> [<arg>]`` line; ``slot`` is the placeholder left in ``Lesson.html``."""

    name: str
    arg: str | None
    line: int
    slot: str
    held: HeldBlock | None = None


@dataclass(frozen=True)
class Lesson:
    slug: str
    title: str
    order: int
    summary: str
    part: str  # one of PARTS
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
        return reverse("lessons:detail", args=[self.slug])

    def get_absolute_url(self) -> str:
        return self.url


@dataclass(frozen=True)
class Part:
    name: str
    lessons: tuple[Lesson, ...]


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

    @property
    def parts(self) -> tuple[Part, ...]:
        """The parts that have lessons, in course order, each with its lessons in order."""
        return tuple(
            Part(name, group)
            for name in PARTS
            if (group := tuple(lesson for lesson in self.lessons if lesson.part == name))
        )

    def neighbours(self, lesson: Lesson) -> tuple[Lesson | None, Lesson | None]:
        """The lessons before and after ``lesson`` in course order."""
        index = self.lessons.index(lesson)
        before = self.lessons[index - 1] if index > 0 else None
        after = self.lessons[index + 1] if index + 1 < len(self.lessons) else None
        return before, after
