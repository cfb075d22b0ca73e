"""The worker runs as the learner's own Redis ACL user, on a sandbox redis-server of the
test's own: every command the workers, the reaper and the janitor send is granted, and
nothing outside the run's two key prefixes is."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
import redis

from learnsite import broker, sandbox_acl
from sandbox import acl
from sandbox.workers.group import GroupRun
from sandbox.workers.queue import QueueRun
from tests.sandbox.test_workers import until

pytestmark = pytest.mark.redis


@pytest.fixture
def acl_sandbox(redis_url: str, private_redis: Any, settings: Any) -> redis.Redis:
    settings.SANDBOX_REDIS_URL = private_redis.url
    settings.SANDBOX_REDIS_MODE = "private"
    settings.SANDBOX_ACL = True
    return redis.Redis.from_url(private_redis.url)


def test_both_runs_work_as_the_learners_acl_user_and_nothing_more(
    acl_sandbox: redis.Redis,
) -> None:
    learner = secrets.token_hex(8)

    async def scenario() -> None:
        queue = QueueRun(learner=learner, run_id=secrets.token_hex(6))
        try:
            await queue.open()
            assert sandbox_acl.isolation().mode == "acl"
            await queue.kill("a")
            await queue.apply("enqueue")
            await until(lambda: queue.workers["b"].state == "working", "worker B to take a job")
            held = await queue.kill("b")

            async def reaped() -> bool:
                await queue.touch()
                return held in queue.recovered

            await until(reaped, "the reaper to recover the job")
            queue.notice_ended()  # a refused command would have ended a task with its error
            assert queue.error is None
            assert (await queue.summary())["recovered"] == [held.decode()]  # type: ignore[union-attr]
        finally:
            await queue.close()

        group = GroupRun(learner=learner, run_id=secrets.token_hex(6))
        try:
            await group.open()
            await group.apply("add")
            await until(
                lambda: group.workers["consumer-1"].state == "working", "consumer-1 to read"
            )
            entry = await group.kill("consumer-1")
            await until(lambda: entry in group.claimed, "the janitor to claim the entry")

            async def acknowledged() -> bool:  # consumer-2's MULTI, LPUSH and XACK
                assert group.redis is not None
                return bool(await group.redis.lrange(group.keys.done, 0, -1))

            await until(acknowledged, "consumer-2 to acknowledge an entry")
            await group.touch()
            group.notice_ended()
            assert group.error is None
            assert (await group.state())["length"] == 3
        finally:
            await group.close()

    asyncio.run(scenario())
    credentials = sandbox_acl.credentials_for(acl.workers_user(learner))
    assert credentials is not None
    as_user = broker.new_sandbox_client(credentials)
    try:
        for key in (f"sandbox:{learner}:chat", f"sandbox:{secrets.token_hex(8)}:queue-demo:jobs"):
            with pytest.raises(redis.exceptions.NoPermissionError):
                as_user.lpush(key, "x")
        with pytest.raises(redis.exceptions.NoPermissionError):
            as_user.execute_command("FLUSHALL")
    finally:
        as_user.close()
    assert list(acl_sandbox.scan_iter(match=f"sandbox:{learner}:*")) == []
