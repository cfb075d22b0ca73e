"""A learner's private corner of Redis: every key and channel they name lives under
``console:<learner_key>:``, and replies show names without that prefix."""

from __future__ import annotations

from dataclasses import dataclass

_GLOB_CHARS = b"*?[]\\"


def glob_escape(text: bytes) -> bytes:
    """Escape glob characters so a pattern matches ``text`` literally."""
    out = bytearray()
    for byte in text:
        if byte in _GLOB_CHARS:
            out += b"\\"
        out.append(byte)
    return bytes(out)


@dataclass(frozen=True)
class Namespace:
    learner: str

    @property
    def prefix(self) -> bytes:
        return f"console:{self.learner}:".encode()

    @property
    def meta_key(self) -> bytes:
        """Our bookkeeping (the set of the learner's keys), outside what they can name."""
        return f"console-meta:{self.learner}".encode()

    @property
    def client_name(self) -> str:
        """CLIENT SETNAME of this learner's subscriber connections (counts PUBSUB NUMPAT)."""
        return f"console-sub:{self.learner}"

    def key(self, name: bytes) -> bytes:
        return self.prefix + name

    def pattern(self, pattern: bytes) -> bytes:
        return glob_escape(self.prefix) + pattern

    def strip(self, name: bytes) -> bytes:
        return name[len(self.prefix) :] if name.startswith(self.prefix) else name

    def strip_pattern(self, pattern: bytes) -> bytes:
        escaped = glob_escape(self.prefix)
        return pattern[len(escaped) :] if pattern.startswith(escaped) else pattern

    def strip_text(self, text: str) -> str:
        """Remove the prefix wherever it appears in an error message."""
        return text.replace(self.prefix.decode(), "").replace(glob_escape(self.prefix).decode(), "")
