"""The practice questions' code, run against a real Redis: the right answers are true."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from learnsite.env import BASE_DIR
from tests.support.redis_server import PrivateRedis

pytestmark = pytest.mark.redis
QUIZZES = BASE_DIR / "content" / "quizzes"


def question_code(file: str, question_id: str) -> str:
    """The first ```python block of a question, exactly as the learner reads it."""
    text = (QUIZZES / file).read_text()
    section = text.split(f"## Question {question_id}\n", 1)[1].split("\n## Question ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no code in {question_id}"
    return match.group(1)


def localise(code: str, url: str, ns: str, channel: str) -> str:
    """Point the code at the test's Redis and give its channel this test's prefix."""
    code = code.replace("redis.Redis()", f"redis.Redis.from_url({url!r})")
    return code.replace(f"'{channel}'", f"'{ns}{channel}'")


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


def subscribers(r: redis.Redis, channel: str) -> int:
    return int(r.pubsub_numsub(channel)[0][1])


def test_seed_question_3_prints_received_hello_everyone(
    client: redis.Redis, redis_url: str, ns: str, tmp_path: Path
) -> None:
    script = tmp_path / "q3.py"
    script.write_text(
        localise(
            question_code("02-publish-and-subscribe.md", "listen-prints"), redis_url, ns, "chat"
        )
    )

    def publisher() -> None:  # publishes once the listener is subscribed, as in the question
        wait_for(lambda: subscribers(client, f"{ns}chat") == 1)
        client.publish(f"{ns}chat", "Hello everyone")

    thread = threading.Thread(target=publisher, daemon=True)
    thread.start()
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=20, check=False
    )
    thread.join(timeout=10)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Received: Hello everyone\n"


def test_seed_question_4_listen_blocks_the_main_thread_until_a_message(
    client: redis.Redis, redis_url: str, ns: str, tmp_path: Path
) -> None:
    script = tmp_path / "q4.py"
    script.write_text(
        localise(
            question_code("03-listening-without-freezing.md", "listen-freezes"),
            redis_url,
            ns,
            "notifications",
        )
        + "print('the main thread got here')\n"
    )
    proc = subprocess.Popen([sys.executable, "-u", str(script)], stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(proc.stdout.readline, "")),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    try:
        wait_for(lambda: any("'type': 'subscribe'" in line for line in lines))
        wait_for(lambda: subscribers(client, f"{ns}notifications") == 1)
        # Frozen: it stays inside listen(), never reaching the code after the loop.
        assert not _exits_within(proc, 1.5)
        assert not any("main thread got here" in line for line in lines)
        client.publish(f"{ns}notifications", "deploy finished")
        wait_for(lambda: any("deploy finished" in line for line in lines))
        # It handled the message and went straight back to waiting.
        assert proc.poll() is None
        assert not any("main thread got here" in line for line in lines)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    wait_for(lambda: subscribers(client, f"{ns}notifications") == 0)


def _exits_within(proc: subprocess.Popen[str], seconds: float) -> bool:
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_publish_with_nobody_listening_returns_0(client: redis.Redis, ns: str) -> None:
    assert client.publish(f"{ns}alerts", "disk full") == 0


def test_first_listen_item_is_the_subscribe_confirmation(client: redis.Redis, ns: str) -> None:
    p = client.pubsub()
    p.subscribe(f"{ns}chat")
    assert next(p.listen()) == {
        "type": "subscribe",
        "pattern": None,
        "channel": f"{ns}chat".encode(),
        "data": 1,
    }
    p.close()


def test_pattern_subscriber_is_counted_and_gets_pmessage(client: redis.Redis, ns: str) -> None:
    exact, pattern = client.pubsub(), client.pubsub()
    exact.subscribe(f"{ns}news.sport")
    pattern.psubscribe(f"{ns}news.*")
    assert exact.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]
    assert pattern.get_message(timeout=5)["type"] == "psubscribe"  # type: ignore[index]
    assert client.publish(f"{ns}news.sport", "goal") == 2
    assert pattern.get_message(timeout=5) == {
        "type": "pmessage",
        "pattern": f"{ns}news.*".encode(),
        "channel": f"{ns}news.sport".encode(),
        "data": b"goal",
    }
    assert client.pubsub_numsub(f"{ns}news.sport") == [(f"{ns}news.sport".encode(), 1)]
    exact.close()
    pattern.close()


def test_get_message_timeout_returns_confirmation_then_none(client: redis.Redis, ns: str) -> None:
    p = client.pubsub()
    p.subscribe(f"{ns}jobs")
    assert p.get_message(timeout=1.0)["type"] == "subscribe"  # type: ignore[index]
    assert p.get_message(timeout=1.0) is None
    p.close()


def test_run_in_thread_without_handler_raises(client: redis.Redis, ns: str) -> None:
    p = client.pubsub()
    p.subscribe(f"{ns}chat")
    with pytest.raises(redis.exceptions.PubSubError, match="has no handler registered"):
        p.run_in_thread(sleep_time=0.1, daemon=True)
    p.close()


def test_stream_keeps_unread_entries(client: redis.Redis, ns: str) -> None:
    client.xadd(f"{ns}orders", {"id": "1"})
    client.xadd(f"{ns}orders", {"id": "2"})
    assert client.xlen(f"{ns}orders") == 2


def test_async_get_message_ignoring_confirmation_returns_none(redis_url: str, ns: str) -> None:
    async def main() -> object:
        r = aioredis.Redis.from_url(redis_url)
        p = r.pubsub()
        await p.subscribe(f"{ns}feed")
        got = await p.get_message(ignore_subscribe_messages=True, timeout=1.0)
        await p.aclose()
        await r.aclose()
        return got

    # In a thread of its own: Playwright's sync API may hold this thread's event loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(asyncio.run, main()).result(timeout=30) is None


def test_redis_7_defaults_for_pubsub_clients(private_redis: PrivateRedis) -> None:
    """A fresh server (not the shared one, whose config may differ) shows Redis 7 defaults."""
    admin = redis.Redis.from_url(private_redis.url)
    limits = admin.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
    assert "pubsub 33554432 8388608 60" in limits
    admin.close()


def test_redis_7_acl_user_gets_no_channels_by_default(private_redis: PrivateRedis) -> None:
    admin = redis.Redis.from_url(private_redis.url)
    assert admin.config_get("acl-pubsub-default") == {"acl-pubsub-default": "resetchannels"}
    admin.execute_command("ACL", "SETUSER", "worker", "on", ">secret", "~*", "+@all")
    worker = redis.Redis.from_url(private_redis.url, username="worker", password="secret")
    with pytest.raises(redis.exceptions.NoPermissionError):
        worker.publish("chat", "hi")
    p = worker.pubsub()
    with pytest.raises(redis.exceptions.NoPermissionError):
        p.subscribe("chat")
        p.get_message(timeout=2)
    admin.execute_command("ACL", "SETUSER", "worker", "&chat")
    assert worker.publish("chat", "hi") == 0
    worker.close()
    admin.close()
