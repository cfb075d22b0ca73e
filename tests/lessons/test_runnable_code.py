"""Every runnable block of every real lesson, executed against a real Redis of our own.

Each block runs in a fresh Python subprocess whose ``redis.Redis()`` (and any client aimed at
localhost:6379, sync or asyncio) is pointed at a private redis-server, so PUBLISH counts are
exact: nothing else is connected. Its stdout must equal the lesson's output block.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from lessons import loader
from lessons.course import Lesson, RunnableBlock
from tests.lessons.conftest import WriteLesson
from tests.support.env import require
from tests.support.redis_server import PrivateRedis

# A guard against a block that hangs (a thread left running), not a speed target: a block
# takes about a second, but a loaded 2-core CI machine has been seen to need over 5 s.
TIMEOUT = 20.0
BOOTSTRAP = """
import os, runpy, sys
import redis.asyncio.connection, redis.connection

PORT = int(os.environ["LESSON_REDIS_PORT"])

def redirect(cls):
    original = cls.__init__
    def __init__(self, *args, **kwargs):
        host, port = kwargs.get("host", "localhost"), kwargs.get("port", 6379)
        if host in ("localhost", "127.0.0.1") and int(port) == 6379:
            kwargs["host"], kwargs["port"] = "127.0.0.1", PORT
        original(self, *args, **kwargs)
    cls.__init__ = __init__

redirect(redis.connection.Connection)
redirect(redis.asyncio.connection.Connection)
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def _real_blocks() -> list[tuple[Lesson, RunnableBlock]]:
    from django.conf import settings

    from learnsite.env import BASE_DIR

    saved = settings.CONTENT_DIR
    settings.CONTENT_DIR = BASE_DIR / "content"
    loader.reset_cache()
    try:
        course = loader.get_course()
    finally:
        settings.CONTENT_DIR = saved
        loader.reset_cache()
    return [(lesson, block) for lesson in course.lessons for block in lesson.runnable_blocks]


REAL_BLOCKS = _real_blocks()


@pytest.fixture(scope="module")
def lesson_redis() -> Iterator[PrivateRedis]:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    server = PrivateRedis().start()
    yield server
    server.close()


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def run_block(code: str, server: PrivateRedis, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    client = redis.Redis.from_url(server.url)
    try:
        client.flushall()
    finally:
        client.close()
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    # A block runs as in a reader's shell: not inside this project's Django settings (which
    # pytest-django exports, and which Celery's Django fix-up would try to import).
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "-c", BOOTSTRAP, str(script)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=env | {"LESSON_REDIS_PORT": str(server.port), "PYTHONUNBUFFERED": "1"},
    )


def assert_block_prints_its_output(
    block: RunnableBlock, where: str, server: PrivateRedis, tmp_path: Path
) -> None:
    try:
        result = run_block(block.code, server, tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{where}: the block ran longer than {TIMEOUT} s (a thread left running?)")
    assert result.returncode == 0, f"{where}: the block failed:\n{result.stderr}"
    assert _normalise(result.stdout) == _normalise(block.expected_output), (
        f"{where}: the output block does not match what the code prints.\n"
        f"--- printed ---\n{result.stdout}\n--- lesson says ---\n{block.expected_output}"
    )


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize(
    ("lesson", "block"),
    REAL_BLOCKS,
    ids=[f"{lesson.slug}:{block.line}" for lesson, block in REAL_BLOCKS],
)
def test_lesson_block_prints_what_the_lesson_says(
    lesson: Lesson, block: RunnableBlock, lesson_redis: PrivateRedis, tmp_path: Path
) -> None:
    where = f"{lesson.path.name}:{block.line}"
    assert_block_prints_its_output(block, where, lesson_redis, tmp_path)


def test_the_course_has_runnable_blocks() -> None:
    assert len(REAL_BLOCKS) >= 6


# The harness itself, on lessons written to tmp_path.


@pytest.mark.redis
def test_harness_points_default_client_at_the_private_server(
    write_lesson: WriteLesson, lesson_redis: PrivateRedis, tmp_path: Path
) -> None:
    code = (
        "import redis\n"
        "r = redis.Redis()\n"
        "r.set('probe', 'here')\n"
        "print(r.publish('nobody', 'hi'))\n"
        "print(redis.Redis.from_url('redis://localhost:6379/0').get('probe'))\n"
    )
    result = run_block(code, lesson_redis, tmp_path)
    assert result.stdout == "0\nb'here'\n", result.stderr
    assert redis.Redis.from_url(lesson_redis.url).get("probe") == b"here"


@pytest.mark.redis
def test_harness_points_asyncio_clients_too(lesson_redis: PrivateRedis, tmp_path: Path) -> None:
    code = (
        "import asyncio, redis.asyncio as aredis\n"
        "async def main():\n"
        "    r = aredis.Redis()\n"
        "    await r.set('async-probe', 1)\n"
        "    print(await r.get('async-probe'))\n"
        "    await r.aclose()\n"
        "asyncio.run(main())\n"
    )
    result = run_block(code, lesson_redis, tmp_path)
    assert result.stdout == "b'1'\n", result.stderr


@pytest.mark.redis
def test_harness_catches_a_wrong_output_block(
    write_lesson: WriteLesson, lesson_redis: PrivateRedis, tmp_path: Path
) -> None:
    write_lesson("01-a.md", body="```python runnable\nprint(2 + 2)\n```\n\n```output\n5\n```\n")
    (block,) = loader.get_course().lessons[0].runnable_blocks
    with pytest.raises(AssertionError, match="01-a.md:7: the output block does not match"):
        assert_block_prints_its_output(block, "01-a.md:7", lesson_redis, tmp_path)


@pytest.mark.redis
def test_harness_ignores_trailing_whitespace(
    write_lesson: WriteLesson, lesson_redis: PrivateRedis, tmp_path: Path
) -> None:
    write_lesson(
        "01-a.md", body="```python runnable\nprint('a  ')\nprint()\n```\n\n```output\na\n```\n"
    )
    (block,) = loader.get_course().lessons[0].runnable_blocks
    assert_block_prints_its_output(block, "01-a.md:7", lesson_redis, tmp_path)
