"""Two app instances (two uvicorn processes on two ports) sharing one Redis and one database,
as two hosts behind a load balancer would. No sticky sessions: a learner's requests land on
either instance.

Cookies belong to a host, not a port, so one cookie jar against 127.0.0.1:A and
127.0.0.1:B is one browser talking to two instances.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from learnsite.env import BASE_DIR
from tests.resilience.client import Browser, eventually, quiz_forms
from tests.support.redis_server import PrivateRedis
from tests.support.servers import AsgiServer, make_database, migrate

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def two_instances(private_redis: PrivateRedis) -> Iterator[tuple[AsgiServer, AsgiServer]]:
    database = make_database()
    migrate(database)
    first = AsgiServer(database=database, redis_url=private_redis.url)
    second = AsgiServer(database=database, redis_url=private_redis.url)
    yield first, second
    first.stop()
    second.stop()
    if callable(database.drop):
        database.drop()


def test_two_instances_share_streams_sessions_progress_and_chat(
    private_redis: PrivateRedis, two_instances: tuple[AsgiServer, AsgiServer]
) -> None:
    a, b = two_instances
    r = redis.Redis.from_url(private_redis.url, socket_timeout=5)

    async def scenario() -> None:
        ann_a = Browser(a.base_url)
        ann_b = ann_a.on(b.base_url)  # the same browser, the other instance
        bob_b = Browser(b.base_url)
        try:
            # One session on both: the same learner key, whichever instance answers.
            key = await ann_a.learner_key()
            assert await ann_b.learner_key() == key

            # Progress made on A shows on B, and the reverse.
            page_a = await ann_a.get("/quizzes/why-a-broker/")
            forms = quiz_forms(page_a.text)
            assert len(forms) >= 2
            answered = await ann_a.answer_one("why-a-broker")
            assert answered is not None and answered.status_code == 200
            assert (
                len(quiz_forms((await ann_b.get("/quizzes/why-a-broker/")).text)) == len(forms) - 1
            )
            answered = await ann_b.answer_one("why-a-broker")
            assert answered is not None and answered.status_code == 200
            exported = json.loads((await ann_a.get("/quizzes/progress.json")).text)
            answers = [a for attempt in exported["attempts"] for a in attempt["answers"]]
            assert len(answers) == 2, exported
            assert (
                len(quiz_forms((await ann_a.get("/quizzes/why-a-broker/")).text)) == len(forms) - 2
            )

            # Playground: a panel on B hears what the same learner publishes through A.
            panel = await ann_b.stream("/sandbox/stream/?kind=channel&name=news")
            await panel.next("status", where=lambda e: 'data-state="live"' in e.data)
            sent = await ann_a.post("/sandbox/publish/", {"channel": "news", "message": "via A"})
            assert sent.status_code == 200 and 'data-receivers="1"' in sent.text
            await panel.next("msg", where=lambda e: "via A" in e.data)

            # Live feed: a viewer on each instance; one update reaches both, and each
            # instance counts the viewers of the other.
            r.sadd("live:feeds", "two")  # streams are served only for feeds that exist
            live_a = await ann_a.stream("/live/two/stream")
            live_b = await bob_b.stream("/live/two/stream")
            for stream in (live_a, live_b):
                await stream.next(
                    "viewers", timeout=15, where=lambda e: json.loads(e.data)["viewers"] == 2
                )
            await eventually(
                lambda: dict(r.pubsub_numsub("live:two"))[b"live:two"] == 2,
                timeout=10,
                what="one hub subscription per instance",
            )
            body = json.dumps({"feed": "two", "score": "1-0"})
            r.set("live:two:state", body, ex=600)
            assert r.publish("live:two", body) == 2
            for stream in (live_a, live_b):
                await stream.next(where=lambda e: e.data == body)

            # A chat room spans both instances.
            await bob_b.learner_key()  # bob's first page: his session and CSRF cookie
            for who, nick in ((ann_a, "ann"), (bob_b, "bob")):
                named = await who.post("/sandbox/chat/span/nick/", {"nick": nick})
                assert named.status_code == 200, named.text[:300]
            room_a = await ann_a.stream("/sandbox/chat/span/events/")
            room_b = await bob_b.stream("/sandbox/chat/span/events/")
            for stream in (room_a, room_b):
                await stream.next("status", where=lambda e: 'data-state="live"' in e.data)
            said = await ann_a.post("/sandbox/chat/span/send/", {"text": "hello from A"})
            assert said.status_code == 200, said.text[:300]
            await room_b.next("line", where=lambda e: "hello from A" in e.data)
            said = await bob_b.post("/sandbox/chat/span/send/", {"text": "hi from B"})
            assert said.status_code == 200, said.text[:300]
            await room_a.next("line", where=lambda e: "hi from B" in e.data)

            # The console: a key set through A is read through B.
            ran = await ann_a.post("/sandbox/console/run/", {"line": "SET greeting hello"})
            assert json.loads(ran.text)["output"] == "OK"
            ran = await ann_b.post("/sandbox/console/run/", {"line": "GET greeting"})
            assert json.loads(ran.text)["output"] == '"hello"'
        finally:
            await ann_a.aclose()
            await ann_b.aclose()
            await bob_b.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_loadtest_smoke_counts_every_answer_once(real_redis_url: str, tmp_path: Path) -> None:
    """The load test itself, tiny (8 learners, 4 s): answers counted in the server's DB.
    Under `make test-pg` it runs on PostgreSQL."""
    base = os.environ.get("DATABASE_URL", "")
    db = ["--db", "postgres", "--pg-url", base] if base.startswith("postgres") else []
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadtest", "--smoke", "--out", str(tmp_path)]
        + ["--redis", real_redis_url, *db],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    kind = "postgres" if db else "sqlite"
    summary = json.loads((tmp_path / f"loadtest-{kind}.json").read_text())
    assert summary["errors"] == 0, summary["error_kinds"]
    assert summary["answers_acknowledged"] > 0
    assert summary["answers_in_db"] == summary["answers_acknowledged"]
    assert summary["answers_lost"] == summary["answers_doubled"] == 0
