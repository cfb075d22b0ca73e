"""Format replies exactly as ``redis-cli`` prints them in a terminal."""

from __future__ import annotations

from typing import Any

_REPR_ESCAPES = {
    ord("\\"): "\\\\",
    ord('"'): '\\"',
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    ord("\a"): "\\a",
    ord("\b"): "\\b",
}

# Error codes Redis puts first; redis-py strips a leading "ERR " but keeps these.
ERROR_CODES = frozenset(
    [
        "WRONGTYPE",
        "NOGROUP",
        "BUSYGROUP",
        "NOSCRIPT",
        "OOM",
        "EXECABORT",
        "LOADING",
        "READONLY",
        "NOPERM",
        "NOAUTH",
        "NOPROTO",
        "BUSY",
        "MISCONF",
        "NOREPLICAS",
        "UNBLOCKED",
        "CROSSSLOT",
        "TRYAGAIN",
        "CLUSTERDOWN",
        "MASTERDOWN",
        "MOVED",
        "ASK",
    ]
)


class Status(str):
    """A simple-string reply (``OK``, ``PONG``): printed without quotes."""


class Map(list[tuple[Any, Any]]):
    """A RESP3 map reply, its pairs in order: redis-cli shows ``1# key => value``."""


class Double(float):
    """A RESP3 double (a sorted-set score): redis-cli shows ``(double) 1.5``."""


class ErrorReply(str):
    """An error reply, text as Redis sent it (``ERR ...``, ``WRONGTYPE ...``)."""


def error_text(message: str) -> ErrorReply:
    first = message.split(" ", 1)[0]
    if first in ERROR_CODES or first == "ERR":
        return ErrorReply(message)
    return ErrorReply(f"ERR {message}")


def quote(value: bytes) -> str:
    """``sdscatrepr``: printable ASCII as is, the usual escapes, other bytes as \\xHH."""
    out = ['"']
    for byte in value:
        if byte in _REPR_ESCAPES:
            out.append(_REPR_ESCAPES[byte])
        elif 32 <= byte < 127:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    out.append('"')
    return "".join(out)


def format_reply(reply: Any, prefix: str = "") -> str:
    """The text redis-cli prints for ``reply`` (no trailing newline)."""
    return _format(reply, prefix).rstrip("\n")


def _format(reply: Any, prefix: str) -> str:
    if isinstance(reply, ErrorReply):
        return f"(error) {reply}\n"
    if isinstance(reply, Status):
        return f"{reply}\n"
    if reply is None:
        return "(nil)\n"
    if isinstance(reply, Double):
        return f"(double) {reply:.17g}\n"
    if isinstance(reply, bool):
        return f"(integer) {int(reply)}\n"
    if isinstance(reply, int):
        return f"(integer) {reply}\n"
    if isinstance(reply, bytes):
        return quote(reply) + "\n"
    if isinstance(reply, str):
        return quote(reply.encode()) + "\n"
    if isinstance(reply, Map):
        if not reply:
            return "(empty hash)\n"
        width = len(str(len(reply)))
        inner_prefix = prefix + " " * (width + 2)
        lines = []
        for index, (key, value) in enumerate(reply, start=1):
            head = "" if index == 1 else prefix
            key_text = _format(key, inner_prefix).rstrip("\n")
            line = f"{head}{index:>{width}}# {key_text} => "
            if isinstance(value, list | tuple) and value:
                # An aggregate value starts on a line of its own, every element indented.
                line += "\n" + inner_prefix
            lines.append(line + _format(value, inner_prefix))
        return "".join(lines)
    if isinstance(reply, list | tuple):
        if not reply:
            return "(empty array)\n"
        width = len(str(len(reply)))
        inner_prefix = prefix + " " * (width + 2)
        parts = []
        for index, element in enumerate(reply, start=1):
            head = "" if index == 1 else prefix
            parts.append(f"{head}{index:>{width}}) " + _format(element, inner_prefix))
        return "".join(parts)
    return quote(str(reply).encode()) + "\n"
