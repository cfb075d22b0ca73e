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
    if isinstance(reply, bool):
        return f"(integer) {int(reply)}\n"
    if isinstance(reply, int):
        return f"(integer) {reply}\n"
    if isinstance(reply, bytes):
        return quote(reply) + "\n"
    if isinstance(reply, str):
        return quote(reply.encode()) + "\n"
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
