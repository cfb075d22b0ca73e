"""Reading a content file's text: UTF-8 (a BOM is allowed), newlines normalised."""

from __future__ import annotations

from pathlib import Path

from learnsite.content.errors import ContentError


def decode(path: Path, raw: bytes) -> str:
    """The text of ``raw``; a ContentError naming the line of the first byte that is not UTF-8."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ContentError(
            path, line, "the file is not valid UTF-8 text; save it as UTF-8"
        ) from exc
    return text.replace("\r\n", "\n")


def read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ContentError(
            path,
            None,
            f"cannot read the file ({exc.strerror or exc}); check it exists and is readable",
        ) from exc
    return decode(path, raw)
