"""RESP2 and RESP3, read incrementally and written back: what the lab's proxy needs.

A reply is read into a ``Reply`` (its type byte, its value, and the exact bytes it came
in), so one the proxy does not change goes on byte for byte, and one it changes (a key or
channel name with the learner's prefix taken off) is written back in the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_BULK = 8 * 1024 * 1024  # a longer bulk string is refused (the proxy closes the link)
MAX_ITEMS = 1024 * 1024
MAX_DEPTH = 32


class ProtocolError(ValueError):
    """The bytes are not RESP the proxy is willing to carry."""


class Incomplete(Exception):
    """More bytes are needed."""


@dataclass
class Reply:
    kind: bytes  # b"+", b"-", b":", b"$", b"*", b">", b"%", b"~", b"|", b"_", ...
    value: Any  # bytes, int, list[Reply], or (for maps) list[Reply] of keys and values
    raw: bytes

    def text(self) -> bytes | None:
        """The value of a bulk or simple string, else None."""
        return self.value if self.kind in (b"$", b"+") and isinstance(self.value, bytes) else None


_AGGREGATES = {b"*": 1, b">": 1, b"~": 1, b"%": 2, b"|": 2}
_LINES = (b"+", b"-", b":", b"_", b",", b"#", b"(")


def _line(buf: bytes | bytearray, pos: int) -> tuple[bytes, int]:
    end = buf.find(b"\r\n", pos)
    if end < 0:
        if len(buf) - pos > 64 * 1024:
            raise ProtocolError("a RESP line longer than 64 KB")
        raise Incomplete
    return bytes(buf[pos:end]), end + 2


def _int(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ProtocolError(f"not a number: {raw[:20]!r}") from None


def parse(buf: bytes | bytearray, pos: int = 0, depth: int = 0) -> tuple[Reply, int]:
    """One reply from ``buf`` at ``pos``; raises ``Incomplete`` when it is not all there."""
    if depth > MAX_DEPTH:
        raise ProtocolError("RESP nested too deep")
    if pos >= len(buf):
        raise Incomplete
    kind = bytes(buf[pos : pos + 1])
    start = pos
    line, pos = _line(buf, pos + 1)
    if kind in _LINES:
        value: Any = _int(line) if kind == b":" else line
        return Reply(kind, value, bytes(buf[start:pos])), pos
    if kind in (b"$", b"=", b"!"):
        size = _int(line)
        if size < 0:
            return Reply(kind, None, bytes(buf[start:pos])), pos
        if size > MAX_BULK:
            raise ProtocolError(f"a bulk string of {size} bytes")
        if len(buf) < pos + size + 2:
            raise Incomplete
        value = bytes(buf[pos : pos + size])
        pos += size + 2
        return Reply(kind, value, bytes(buf[start:pos])), pos
    if kind in _AGGREGATES:
        count = _int(line)
        if count < 0:
            return Reply(kind, None, bytes(buf[start:pos])), pos
        if count > MAX_ITEMS:
            raise ProtocolError(f"an aggregate of {count} items")
        items: list[Reply] = []
        for _ in range(count * _AGGREGATES[kind]):
            item, pos = parse(buf, pos, depth + 1)
            items.append(item)
        reply = Reply(kind, items, bytes(buf[start:pos]))
        if kind == b"|":  # an attribute comes before the reply it describes
            inner, pos = parse(buf, pos, depth + 1)
            inner.raw = bytes(buf[start:pos])
            return inner, pos
        return reply, pos
    raise ProtocolError(f"unknown RESP type byte {kind!r}")


def encode(reply: Reply) -> bytes:
    """``reply`` as bytes: its own bytes unless something in it was changed."""
    if reply.raw:
        return reply.raw
    if reply.value is None:
        return reply.kind + (b"-1\r\n" if reply.kind in (b"$", b"*") else b"\r\n")
    if reply.kind in (b"$", b"=", b"!"):
        return b"%s%d\r\n%s\r\n" % (reply.kind, len(reply.value), reply.value)
    if reply.kind in _AGGREGATES:
        items = reply.value
        count = len(items) // _AGGREGATES[reply.kind]
        return b"%s%d\r\n" % (reply.kind, count) + b"".join(encode(item) for item in items)
    if reply.kind == b":":
        return b":%d\r\n" % reply.value
    value: bytes = reply.value
    return reply.kind + value + b"\r\n"


def bulk(value: bytes) -> Reply:
    return Reply(b"$", value, b"")


def error(text: str) -> bytes:
    return b"-" + text.replace("\r", " ").replace("\n", " ").encode() + b"\r\n"


def parse_command(buf: bytes | bytearray, pos: int = 0) -> tuple[list[bytes], int]:
    """One client command (an array of bulk strings) from ``buf`` at ``pos``."""
    if pos >= len(buf):
        raise Incomplete
    if buf[pos : pos + 1] != b"*":
        raise ProtocolError("the lab's Redis link takes commands as RESP arrays only")
    reply, end = parse(buf, pos, depth=MAX_DEPTH - 1)  # one level: no nesting in commands
    if not reply.value:
        raise ProtocolError("an empty command")
    args: list[bytes] = []
    for item in reply.value:
        if item.kind != b"$" or item.value is None:
            raise ProtocolError("a command's arguments must be bulk strings")
        args.append(item.value)
    return args, end


def pack_command(args: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
