"""The one error type every content loader reports: a file, a line, and what to write instead."""

from __future__ import annotations

from pathlib import Path

from learnsite.env import BASE_DIR


class ContentError(Exception):
    """A problem in a content file.

    ``str()`` reads ``content/lessons/03-threads.md:12: unknown callout type "warn"; use note,
    warning or tip``: the path relative to the project when the file lives inside it, the line
    when one is known.
    """

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        super().__init__(str(self))

    @property
    def shown_path(self) -> str:
        try:
            return self.path.resolve().relative_to(BASE_DIR).as_posix()
        except ValueError:
            return str(self.path)

    def __str__(self) -> str:
        where = self.shown_path if self.line is None else f"{self.shown_path}:{self.line}"
        return f"{where}: {self.message}"

    def __repr__(self) -> str:
        return f"ContentError({str(self.path)!r}, {self.line!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContentError):
            return NotImplemented
        return (self.path, self.line, self.message) == (other.path, other.line, other.message)

    def __hash__(self) -> int:
        return hash((self.path, self.line, self.message))
