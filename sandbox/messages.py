"""How a message from redis-py is shown in a playground panel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox import names


@dataclass(frozen=True)
class ShownMessage:
    raw: str  # the dict as redis-py returns it (prefix stripped), as Python prints it
    type: str
    pattern: str | None
    channel: str
    data: str


def _decode(value: Any) -> Any:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def shown_message(message: dict[str, Any], *, prefix: str) -> ShownMessage:
    """The message exactly as redis-py gave it, with the learner's namespace prefix taken
    off ``channel`` and ``pattern`` (the page says that the real names carry it)."""
    raw_prefix = prefix.encode()
    display = dict(message)
    for field in ("channel", "pattern"):
        value = display.get(field)
        if isinstance(value, bytes):
            display[field] = names.strip_prefix(value, raw_prefix)
    pattern = display.get("pattern")
    return ShownMessage(
        raw=repr(display),
        type=str(display.get("type")),
        pattern=None if pattern is None else str(_decode(pattern)),
        channel=str(_decode(display.get("channel"))),
        data=str(_decode(display.get("data"))),
    )
