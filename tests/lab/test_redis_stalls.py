"""Issue 11: the sandbox Redis stops answering in the middle of a lab run (SIGSTOP: the
socket stays open, nothing comes back, as behind a hung server or a dead network path).
The run ends at its wall limit with a clear reason, the runner does not hang on its own
clean-up, and once Redis answers again the next run works. On a redis-server of this
test's own, never the shared one."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from typing import Any

import pytest
import redis

from lab import runner
from lab.jail import LIMITS, Jail
from learnsite import sandbox_acl
from tests.lab.conftest import run_code
from tests.support.redis_server import PrivateRedis

pytestmark = [pytest.mark.redis, pytest.mark.slow]

_LOOP = """
import redis
r = redis.Redis()
r.set("k", "1")
print("connected", flush=True)
while True:
    r.get("k")
"""


def test_a_sandbox_redis_that_stalls_mid_run_ends_the_run_at_its_wall_limit(
    jail: Jail, private_redis: PrivateRedis, redis_url: str, settings: Any
) -> None:
    settings.SANDBOX_REDIS_URL = private_redis.url
    settings.SANDBOX_ACL = True
    settings.LAB_PREFIX = f"tlab{uuid.uuid4().hex[:12]}"
    sandbox_acl.reset()
    learner = uuid.uuid4().hex[:16]
    assert private_redis.proc is not None
    pid = private_redis.proc.pid
    client = redis.Redis.from_url(private_redis.url)

    def stall_once_connected() -> None:
        # The program's SET made the key: it is talking to Redis. Then Redis stops.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(client.scan_iter(match="*k", count=100)):
            time.sleep(0.05)
        os.kill(pid, signal.SIGSTOP)

    staller = threading.Thread(target=stall_once_connected, daemon=True)
    staller.start()
    started = time.monotonic()
    try:
        ran = run_code(jail, learner, _LOOP)
    finally:
        os.kill(pid, signal.SIGCONT)
        staller.join(5)
    took = time.monotonic() - started
    assert "connected" in ran.stdout, (ran.outcome, ran.stderr[-2000:])
    assert ran.outcome.reason == "timeout", ran.outcome
    assert "10" in ran.outcome.message  # says which limit: the wall time
    # The runner's own clean-up (dropping the ACL user, expiring keys) gives up on a Redis
    # that does not answer after CLEANUP_SECONDS; it waited 62 s for socket timeouts and
    # retries before. (Generous: the jail's start-up on a loaded machine is in `took` too.)
    assert took < LIMITS.wall_seconds + runner.CLEANUP_SECONDS + 25, took
    sandbox_acl.reset()
    again = run_code(jail, learner, "import redis\nprint(redis.Redis().ping())\n")
    assert again.outcome.reason == "finished", again.outcome
    assert again.stdout.strip() == "True"
