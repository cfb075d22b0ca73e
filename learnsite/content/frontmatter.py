"""Front matter: the YAML ``key: value`` lines between a file's first two ``---`` lines.

One reader for every kind of content file; each kind names its keys in a
:class:`FrontMatterSpec`, so the messages (and their lines) are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from learnsite.content.errors import ContentError


@dataclass(frozen=True)
class FrontMatterSpec:
    kind: str  # what the file is, as a sentence starts: "a lesson"
    examples: Mapping[str, str]  # every key, in order, with an example line: "order: 2"

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.examples)

    @property
    def keys_phrase(self) -> str:
        *first, last = self.keys
        return f"{', '.join(first)} and {last}" if first else last


@dataclass(frozen=True)
class Field:
    value: object
    line: int


@dataclass(frozen=True)
class FrontMatter:
    fields: Mapping[str, Field]  # the spec's keys that are present
    body: str
    body_first_line: int  # line number in the file of the body's first line

    def line(self, key: str, default: int = 1) -> int:
        field = self.fields.get(key)
        return field.line if field is not None else default


def _split(path: Path, text: str, spec: FrontMatterSpec) -> tuple[str, str, int]:
    lines = text.split("\n")
    if lines[0].strip() != "---":
        raise ContentError(
            path,
            1,
            f"{spec.kind} must start with front matter: a line ---, then "
            f"{spec.keys_phrase}, then a line ---",
        )
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :]), index + 2
    raise ContentError(path, 1, "front matter is never closed; add a line --- after its last key")


def _mapping(path: Path, front: str, spec: FrontMatterSpec) -> tuple[yaml.MappingNode, object]:
    try:
        node = yaml.compose(front, Loader=yaml.SafeLoader)
        data: object = yaml.safe_load(front)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "unreadable"
        raise ContentError(
            path,
            mark.line + 2 if mark is not None else 2,
            f"front matter is not valid YAML ({problem}); write one key: value "
            "per line and put quotes around values that contain a colon",
        ) from exc
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML marks nearly everything
        raise ContentError(path, 2, f"front matter is not valid YAML ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise ContentError(path, 2, f"front matter must be key: value lines ({spec.keys_phrase})")
    return node, data


def read(
    path: Path, text: str, spec: FrontMatterSpec
) -> tuple[FrontMatter | None, list[ContentError]]:
    """The front matter and body of ``text``, and every problem with the keys.

    None when there is no readable front matter at all (no body either: without the
    front matter we cannot tell where the body starts)."""
    try:
        front, body, body_first_line = _split(path, text, spec)
        node, data = _mapping(path, front, spec)
    except ContentError as exc:
        return None, [exc]
    assert isinstance(data, dict)
    errors: list[ContentError] = []
    fields: dict[str, Field] = {}
    seen: set[str] = set()
    for key_node, _value_node in node.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 2
        if key in seen:
            errors.append(
                ContentError(path, line, f'duplicate front-matter key "{key}"; keep only one')
            )
        seen.add(key)
        if key not in spec.examples:
            errors.append(
                ContentError(
                    path,
                    line,
                    f'unknown front-matter key "{key}"; the keys are {spec.keys_phrase}',
                )
            )
            continue
        fields[key] = Field(data[key_node.value], line)
    for key in spec.keys:
        if key not in fields:
            errors.append(
                ContentError(
                    path,
                    1,
                    f'front matter is missing "{key}"; add a line like {spec.examples[key]}',
                )
            )
    return FrontMatter(fields, body, body_first_line), errors


def text_value(
    path: Path, front: FrontMatter, spec: FrontMatterSpec, key: str, errors: list[ContentError]
) -> str | None:
    """The key's value as stripped non-empty text; else None, with the problem added to
    ``errors`` (a missing key was reported by :func:`read`)."""
    field = front.fields.get(key)
    if field is None:
        return None
    if not isinstance(field.value, str) or not field.value.strip():
        errors.append(
            ContentError(
                path, field.line, f'"{key}" must be non-empty text; write {spec.examples[key]}'
            )
        )
        return None
    return field.value.strip()
