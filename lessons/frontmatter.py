"""Front matter of a lesson file: the YAML between the first two ``---`` lines."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lessons.errors import ContentError

KEYS = ("title", "slug", "order", "summary")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_HINTS = {
    "title": "title: Publish and subscribe with redis-py",
    "slug": "slug: publish-and-subscribe",
    "order": "order: 2",
    "summary": "summary: One or two sentences shown on the course home.",
}


@dataclass(frozen=True)
class FrontMatter:
    title: str
    slug: str
    order: int
    summary: str
    slug_line: int
    order_line: int


@dataclass(frozen=True)
class SplitFile:
    front: str
    body: str
    body_first_line: int  # line number in the file of the body's first line


def split(path: Path, text: str) -> SplitFile:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise ContentError(
            path,
            1,
            "a lesson must start with front matter: a line ---, then title, slug, "
            "order and summary, then a line ---",
        )
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return SplitFile(
                front="\n".join(lines[1:index]),
                body="\n".join(lines[index + 1 :]),
                body_first_line=index + 2,
            )
    raise ContentError(path, 1, "front matter is never closed; add a line --- after its last key")


def _slug_suggestion(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "my-lesson"


def parse(path: Path, front: str) -> tuple[FrontMatter | None, list[ContentError]]:
    """Validate the front matter; returns it (or None) and every problem found."""
    try:
        node = yaml.compose(front, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(front)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 2 if mark is not None else 2
        problem = exc.problem or exc.context or "unreadable"
        return None, [
            ContentError(
                path,
                line,
                f"front matter is not valid YAML ({problem}); write one key: value "
                "per line and put quotes around values that contain a colon",
            )
        ]
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML marks nearly everything
        return None, [ContentError(path, 2, f"front matter is not valid YAML ({exc})")]
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        return None, [
            ContentError(
                path, 2, "front matter must be key: value lines (title, slug, order and summary)"
            )
        ]
    errors: list[ContentError] = []
    lines: dict[str, int] = {}
    for key_node, _value_node in node.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 2
        if key in lines:
            errors.append(
                ContentError(path, line, f'duplicate front-matter key "{key}"; keep only one')
            )
        lines[key] = line
        if key not in KEYS:
            errors.append(
                ContentError(
                    path,
                    line,
                    f'unknown front-matter key "{key}"; the keys are title, slug, '
                    "order and summary",
                )
            )
    for key in KEYS:
        if key not in data:
            errors.append(
                ContentError(
                    path, 1, f'front matter is missing "{key}"; add a line like {_HINTS[key]}'
                )
            )
    for key in ("title", "summary"):
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            errors.append(
                ContentError(
                    path, lines[key], f'"{key}" must be non-empty text; write {_HINTS[key]}'
                )
            )
    slug = data.get("slug")
    if "slug" in data and (not isinstance(slug, str) or not SLUG_RE.match(slug)):
        errors.append(
            ContentError(
                path,
                lines["slug"],
                f'bad slug "{slug}"; use lowercase letters, digits and hyphens, '
                f'e.g. "{_slug_suggestion(str(slug))}"',
            )
        )
    order = data.get("order")
    if "order" in data and (isinstance(order, bool) or not isinstance(order, int) or order < 1):
        errors.append(
            ContentError(
                path,
                lines["order"],
                f'"order" must be a whole number from 1 up, e.g. order: 3 (found {order!r})',
            )
        )
    if errors:
        return None, errors
    assert isinstance(slug, str) and isinstance(order, int)
    return FrontMatter(
        title=data["title"].strip(),
        slug=slug,
        order=order,
        summary=data["summary"].strip(),
        slug_line=lines["slug"],
        order_line=lines["order"],
    ), []
