"""``## <id>`` sections of ``Key: value`` lines: the mistakes catalog and the predictions.

Text before the first section (a title, a description of the format) is ignored. A line
indented by two spaces or more that is not itself ``key: value`` continues the value above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from learnsite.content.errors import ContentError

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class SectionsSpec:
    noun: str  # "prediction", "mistake"
    keys: tuple[str, ...]  # as authors write them; matched case-insensitively
    example_id: str


@dataclass(frozen=True)
class Value:
    text: str
    line: int


@dataclass
class Section:
    id: str
    line: int
    values: dict[str, list[Value]] = field(default_factory=dict)  # by lower-case key

    def all(self, key: str) -> list[Value]:
        return self.values.get(key.lower(), [])

    def last(self, key: str) -> Value | None:
        """The key's last value, unless it is empty."""
        found = self.all(key)
        return found[-1] if found and found[-1].text else None

    def one(self, key: str) -> Value | None:
        """The key's value when it is given exactly once and is not empty."""
        found = self.all(key)
        return found[0] if len(found) == 1 and found[0].text else None


def read(path: Path, text: str, spec: SectionsSpec) -> tuple[list[Section], list[ContentError]]:
    """Every section whose id is valid and not taken, in file order, and every problem."""
    keys = {key.lower(): key for key in spec.keys}
    sections: list[Section] = []
    errors: list[ContentError] = []
    current: Section | None = None
    last: tuple[str, int] | None = None  # the key and index of the value a continuation extends
    for number, raw in enumerate(text.split("\n"), start=1):
        if raw.startswith("## "):
            current, last = Section(raw[3:].strip(), number), None
            sections.append(current)
            continue
        line = raw.strip()
        if current is None or not line:
            continue
        key, sep, value = line.partition(":")
        name = key.strip().lower()
        if sep and name in keys:
            current.values.setdefault(name, []).append(Value(value.strip(), number))
            last = (name, len(current.values[name]) - 1)
            continue
        if last is not None and raw.startswith("  "):
            previous = current.values[last[0]][last[1]]
            current.values[last[0]][last[1]] = Value(f"{previous.text} {line}", previous.line)
            continue
        errors.append(
            ContentError(
                path,
                number,
                f'expected "key: value" with key one of {", ".join(spec.keys)}; got {line[:60]!r}',
            )
        )
    kept: list[Section] = []
    taken: set[str] = set()
    for section in sections:
        if not ID_RE.match(section.id):
            errors.append(
                ContentError(
                    path,
                    section.line,
                    f'{spec.noun} id "{section.id}" must be lowercase letters, digits and '
                    f"hyphens, e.g. {spec.example_id}",
                )
            )
        elif section.id in taken:
            errors.append(
                ContentError(
                    path, section.line, f'{spec.noun} "{section.id}" is defined twice; rename one'
                )
            )
        else:
            taken.add(section.id)
            kept.append(section)
    errors.sort(key=lambda error: error.line or 0)
    return kept, errors
