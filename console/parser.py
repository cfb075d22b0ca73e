"""Split a console line into arguments the way ``redis-cli`` does (its ``sdssplitargs``).

- Arguments are separated by spaces, tabs or line breaks.
- ``"double quotes"`` understand ``\\n \\r \\t \\b \\a \\xHH`` and ``\\<any>`` for that character.
- ``'single quotes'`` only understand ``\\'``; everything else is taken literally.
- ``""`` is an empty argument. A closing quote must be followed by a space or the end.
- A quote inside an unquoted word starts a quoted part (``ab"c d"`` is one argument ``abc d``).

Arguments come back as bytes, because ``"\\xff"`` is a byte and not a character.
"""

from __future__ import annotations

_SIMPLE_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "b": b"\b", "a": b"\a"}
_HEX = set("0123456789abcdefABCDEF")
_BLANKS = " \n\r\t\v\f"


class ParseError(ValueError):
    """The line cannot be split: the message says what is wrong and how to fix it."""


def split_line(line: str) -> list[bytes]:
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _BLANKS:
            i += 1
        if i >= n:
            return args
        current = bytearray()
        quote: str | None = None
        start = i
        while True:
            if i >= n:
                if quote is not None:
                    raise ParseError(
                        f"Unbalanced {_quote_name(quote)} quote in argument {len(args) + 1} "
                        f"(starting at column {start + 1}): close it with {quote}."
                    )
                break
            ch = line[i]
            if quote == '"':
                if ch == "\\" and i + 1 < n and line[i + 1] == "x" and _hex2(line, i + 2):
                    current.append(int(line[i + 2 : i + 4], 16))
                    i += 4
                    continue
                if ch == "\\" and i + 1 < n:
                    escaped = line[i + 1]
                    current += _SIMPLE_ESCAPES.get(escaped, escaped.encode())
                    i += 2
                    continue
                if ch == '"':
                    _check_after_quote(line, i, len(args) + 1)
                    i += 1
                    break
                current += ch.encode()
                i += 1
            elif quote == "'":
                if ch == "\\" and i + 1 < n and line[i + 1] == "'":
                    current += b"'"
                    i += 2
                    continue
                if ch == "'":
                    _check_after_quote(line, i, len(args) + 1)
                    i += 1
                    break
                current += ch.encode()
                i += 1
            else:
                if ch in " \n\r\t":
                    break
                if ch in "\"'":
                    quote = ch
                else:
                    current += ch.encode()
                i += 1
        args.append(bytes(current))


def _hex2(line: str, at: int) -> bool:
    return at + 1 < len(line) and line[at] in _HEX and line[at + 1] in _HEX


def _quote_name(quote: str) -> str:
    return "double" if quote == '"' else "single"


def _check_after_quote(line: str, at: int, number: int) -> None:
    if at + 1 < len(line) and line[at + 1] not in _BLANKS:
        raise ParseError(
            f"A closing quote must be followed by a space or the end of the line "
            f"(argument {number}, column {at + 2}): add a space after the quote."
        )
