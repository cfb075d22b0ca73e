"""The console splits lines exactly as redis-cli does (checked against the real binary)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import redis

from console.parser import ParseError, split_line
from tests.support.env import require

CASES: list[tuple[str, list[bytes]]] = [
    ("PING", [b"PING"]),
    ("  SET   a    b  ", [b"SET", b"a", b"b"]),
    ('SET a "hello world"', [b"SET", b"a", b"hello world"]),
    ("SET a 'hello world'", [b"SET", b"a", b"hello world"]),
    ('SET a ""', [b"SET", b"a", b""]),
    ("SET a ''", [b"SET", b"a", b""]),
    ('ECHO "a\\nb\\tc\\rd"', [b"ECHO", b"a\nb\tc\rd"]),
    ('ECHO "q\\"q"', [b"ECHO", b'q"q']),
    ('ECHO "back\\\\slash"', [b"ECHO", b"back\\slash"]),
    ('ECHO "\\x41\\x00\\xff"', [b"ECHO", b"A\x00\xff"]),
    ('ECHO "\\xZZ"', [b"ECHO", b"xZZ"]),
    ('ECHO "\\q"', [b"ECHO", b"q"]),
    ("ECHO 'it\\'s'", [b"ECHO", b"it's"]),
    ("ECHO 'no\\nescape'", [b"ECHO", b"no\\nescape"]),
    ('ECHO ab"c d"', [b"ECHO", b"abc d"]),
    ("ECHO caf\u00e9", [b"ECHO", "caf\u00e9".encode()]),
    ('ECHO "a" "b"', [b"ECHO", b"a", b"b"]),
]

BAD = ['ECHO "unterminated', "ECHO 'unterminated", 'ECHO "a"b', "ECHO 'a'b", 'ECHO "ends\\']


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_split_line(line: str, expected: list[bytes]) -> None:
    assert split_line(line) == expected


@pytest.mark.parametrize("line", BAD)
def test_malformed_lines_get_a_clear_error(line: str) -> None:
    with pytest.raises(ParseError) as info:
        split_line(line)
    message = str(info.value)
    assert "quote" in message
    assert any(hint in message for hint in ("close it with", "add a space"))


def test_blank_line_is_no_arguments() -> None:
    assert split_line("   \t ") == []


@pytest.mark.redis
def test_cases_agree_with_redis_cli(redis_url: str, ns: str) -> None:
    """Feed every case to redis-cli as `RPUSH <key> <args>` and read back what it stored."""
    require(shutil.which("redis-cli") is not None, "redis-cli is not installed")
    client = redis.Redis.from_url(redis_url)
    port = client.connection_pool.connection_kwargs["port"]
    script = "".join(f"RPUSH {ns}:case{i} {line}\n" for i, (line, _) in enumerate(CASES))
    script += "".join(f"RPUSH {ns}:bad{i} {line}\n" for i, line in enumerate(BAD))
    done = subprocess.run(
        ["redis-cli", "-p", str(port)], input=script.encode(), capture_output=True, timeout=20
    )
    assert done.stdout.count(b"Invalid argument(s)") == len(BAD)
    for i, (_, expected) in enumerate(CASES):
        assert client.lrange(f"{ns}:case{i}", 0, -1) == expected, CASES[i][0]
    for i in range(len(BAD)):
        assert not client.exists(f"{ns}:bad{i}")
