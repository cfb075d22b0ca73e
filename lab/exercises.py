"""Code-lab exercises: ``content/exercises/*.md``, one exercise per file.

A file is front matter (``title``, ``lesson``: the slug of the lesson it belongs to,
``order``), the task in Markdown, then fenced Python blocks whose info string says what
they are::

    ```python starter        the code the learner starts from
    ```python solution       a worked solution (shown after a real try; must pass)
    ```python check          runs after the learner's program: before(lab), after(lab)
    ```python wrong <id>     a common wrong solution; must fail naming mistake <id>

and a ``## Hints`` section: a numbered list, revealed one at a time. Mistake ids are those
of ``content/misconceptions.md``, so a wrong solution counts towards mastery of the same
concept a quiz question does. Problems are reported with the file and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import markdown
from django.conf import settings

from learnsite.content import files, frontmatter
from learnsite.content.errors import ContentError

SPEC = frontmatter.FrontMatterSpec(
    kind="an exercise",
    examples={
        "title": "title: Move listen() off the main thread",
        "lesson": "lesson: listening-without-freezing",
        "order": "order: 1",
    },
)
_FENCE = re.compile(r"^```python (starter|solution|check|wrong [a-z0-9-]+)\s*$")
_HINT = re.compile(r"^\d+\.\s+(.*)$")
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    lesson_slug: str
    order: int
    task_html: str
    starter: str
    solution: str
    check: str
    wrong: tuple[tuple[str, str], ...]  # (mistake id, code)
    hints_html: tuple[str, ...]
    path: Path

    @property
    def block(self) -> str:
        """The key of the learner's draft of this exercise."""
        return f"exercise:{self.id}"


def exercises_dir() -> Path:
    return Path(settings.CONTENT_DIR) / "exercises"


def _md(text: str) -> str:
    return markdown.markdown(text, extensions=["fenced_code"], output_format="html")


def parse(path: Path, text: str) -> tuple[Exercise | None, list[ContentError]]:
    front, errors = frontmatter.read(path, text, SPEC)
    if front is None:
        return None, errors
    exercise_id = path.stem
    if not ID_RE.match(exercise_id):
        errors.append(
            ContentError(
                path,
                None,
                "an exercise's file name is its id: lowercase letters, digits and dashes, then .md",
            )
        )
    title = frontmatter.text_value(path, front, SPEC, "title", errors)
    lesson = frontmatter.text_value(path, front, SPEC, "lesson", errors)
    order_field = front.fields.get("order")
    order = order_field.value if order_field is not None else 0
    if not isinstance(order, int):
        errors.append(
            ContentError(
                path, front.line("order"), "order must be a whole number", "write order: 1"
            )
        )
        order = 0
    blocks: dict[str, str] = {}
    wrong: list[tuple[str, str]] = []
    task: list[str] = []
    hints: list[str] = []
    lines = front.body.split("\n")
    in_hints = False
    index = 0
    while index < len(lines):
        line = lines[index]
        number = front.body_first_line + index
        match = _FENCE.match(line)
        if match:
            role = match[1]
            end = index + 1
            while end < len(lines) and lines[end].rstrip() != "```":
                end += 1
            if end >= len(lines):
                errors.append(
                    ContentError(
                        path,
                        number,
                        f"the ```python {role} block is never closed",
                        "end it with a line of three backticks",
                    )
                )
                break
            code = "\n".join(lines[index + 1 : end]) + "\n"
            if role.startswith("wrong "):
                wrong.append((role.split()[1], code))
            elif role in blocks:
                errors.append(
                    ContentError(path, number, f"a second ```python {role} block", "keep one")
                )
            else:
                blocks[role] = code
            index = end + 1
            continue
        if line.startswith("```"):
            errors.append(
                ContentError(
                    path,
                    number,
                    f"unknown block {line.strip()!r}",
                    "use ```python starter, solution, check or wrong <mistake-id>",
                )
            )
        elif line.strip().lower() == "## hints":
            in_hints = True
        elif in_hints and line.strip():
            hint = _HINT.match(line.strip())
            if hint:
                hints.append(hint[1])
            elif hints and line.startswith("   "):
                hints[-1] += " " + line.strip()
            else:
                errors.append(
                    ContentError(
                        path,
                        number,
                        "a line in ## Hints that is not a numbered hint",
                        "write 1. <hint>",
                    )
                )
        elif not in_hints:
            task.append(line)
        index += 1
    for role in ("starter", "solution", "check"):
        if role not in blocks:
            errors.append(ContentError(path, None, f"the exercise has no ```python {role} block"))
    if "check" in blocks and "def after(" not in blocks["check"]:
        errors.append(ContentError(path, None, "the check block must define after(lab)"))
    if not hints:
        errors.append(
            ContentError(
                path,
                None,
                "the exercise has no hints",
                "add a ## Hints section with a numbered list",
            )
        )
    if errors or title is None or lesson is None:
        return None, errors
    return Exercise(
        id=exercise_id,
        title=title,
        lesson_slug=lesson,
        order=order,
        task_html=_md("\n".join(task).strip()),
        starter=blocks["starter"],
        solution=blocks["solution"],
        check=blocks["check"],
        wrong=tuple(wrong),
        hints_html=tuple(_md(h) for h in hints),
        path=path,
    ), errors


@dataclass(frozen=True)
class Catalog:
    exercises: dict[str, Exercise]
    errors: tuple[ContentError, ...]

    def for_lesson(self, slug: str) -> list[Exercise]:
        found = [e for e in self.exercises.values() if e.lesson_slug == slug]
        return sorted(found, key=lambda e: (e.order, e.id))


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    if not folder.is_dir():
        return ()
    return tuple(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("*.md"))
    )


@cache
def _load(folder: Path, fingerprint: tuple[tuple[str, int, int], ...]) -> Catalog:
    del fingerprint  # the cache key: a changed file is read again
    found: dict[str, Exercise] = {}
    errors: list[ContentError] = []
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        try:
            text = files.read_text(path)
        except ContentError as exc:
            errors.append(exc)
            continue
        exercise, problems = parse(path, text)
        errors.extend(problems)
        if exercise is not None:
            found[exercise.id] = exercise
    return Catalog(found, tuple(errors))


_settled: dict[Path, Catalog] = {}


def get_catalog(folder: Path | None = None) -> Catalog:
    """The exercises; without ``CONTENT_AUTO_RELOAD`` read once per folder (every lesson
    page asks, and a look at each file's mtime cost a page more than its queries)."""
    folder = folder or exercises_dir()
    if settings.CONTENT_AUTO_RELOAD:
        return _load(folder, _fingerprint(folder))
    catalog = _settled.get(folder)
    if catalog is None:
        catalog = _settled[folder] = _load(folder, _fingerprint(folder))
    return catalog
