"""What a learner reads talks about Redis and their own project, never about how this site
is built or tested: no "the test suite", "pytest", "make run" or paths of our repository in
templates, lessons, practice sets or the messages views send."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from lab import jobs
from lessons.loader import get_course
from live.streams import UnknownFeed

ROOT = Path(settings.BASE_DIR)
DEVELOPER_SPEAK = re.compile(
    r"test suite|pytest|by the tests|make run|make test|bench/results|whoever runs this site",
    re.IGNORECASE,
)
# Shown only under DEBUG to whoever is editing the content: developer-speak is the point.
DEVELOPER_ONLY = {"lessons/templates/lessons/_content_errors.html"}


def _learner_files() -> list[Path]:
    files = [*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")]
    content = ROOT / "content"
    files += [*content.glob("lessons/*.md"), *content.glob("quizzes/*.md")]
    files += [*content.glob("exercises/*.md"), content / "misconceptions.md"]
    return [
        path
        for path in files
        if ".venv" not in path.parts and str(path.relative_to(ROOT)) not in DEVELOPER_ONLY
    ]


@pytest.mark.parametrize("path", _learner_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_developer_speak_in_what_learners_read(path: Path) -> None:
    found = DEVELOPER_SPEAK.findall(path.read_text())
    assert not found, f"{path.relative_to(ROOT)} says {found}"


def test_messages_views_send_speak_to_the_learner() -> None:
    for message in (jobs.NO_RUNNER_TEXT, str(UnknownFeed("nope"))):
        assert "manage.py" not in message and not DEVELOPER_SPEAK.search(message)


def test_rendered_lessons_carry_no_developer_speak() -> None:
    """What the renderer adds (badges, their tooltips, notes) counts too."""
    for lesson in get_course().lessons:
        held = "".join(ref.held.shown + ref.held.concealed for ref in lesson.embeds if ref.held)
        assert not DEVELOPER_SPEAK.search(lesson.html + held), lesson.slug
