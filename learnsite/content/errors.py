"""The one error every content reader reports: a file, a line, what is wrong, what to write."""

from __future__ import annotations

from pathlib import Path

from learnsite.env import BASE_DIR


class ContentError(Exception):
    """A problem in a content file.

    ``str()`` reads ``content/lessons/03-threads.md:12: unknown callout type "warn"; use note,
    warning or tip``: the path relative to the project when the file lives inside it, the line
    when one is known, then the hint (if any) after a semicolon.
    """

    def __init__(
        self, path: Path | str, line: int | None, message: str, hint: str | None = None
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    @property
    def shown_path(self) -> str:
        try:
            return self.path.resolve().relative_to(BASE_DIR).as_posix()
        except ValueError:
            return str(self.path)

    @property
    def where(self) -> str:
        """``content/quizzes/02-x.md:14``, or the path alone when no line is known."""
        return self.shown_path if self.line is None else f"{self.shown_path}:{self.line}"

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text}; {self.hint}" if self.hint else text

    def __repr__(self) -> str:
        return f"ContentError({str(self.path)!r}, {self.line!r}, {self.message!r}, {self.hint!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContentError):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[Path, int | None, str, str | None]:
        return (self.path, self.line, self.message, self.hint)
