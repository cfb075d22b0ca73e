"""The sandbox Redis against a real server and two real Redis servers of this module's own:
the site's (admission, rate limits) and the sandbox's (learner data, ACL users, maxmemory).

- learner data lands on the sandbox server, the site's state on the site's server;
- a raw command as a learner's ACL user outside its prefix is refused by Redis (NOPERM);
- the quota attacks (concurrent writes, a stream's sampled size, consumer growth) leave the
  learner under 1 MB, measured exactly (``MEMORY USAGE ... SAMPLES 0``);
- a console stream with a pattern runs as a user of its own, dropped when it ends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from console import acl as console_acl
from console.namespace import Namespace
from console.services import MAX_MEMORY_BYTES
from learnsite.runner import SANDBOX_REDIS_ARGS
from sandbox import acl as sandbox_acl_users
from tests.resilience.client import Browser, eventually
from tests.support.redis_server import PrivateRedis
from tests.support.servers import AsgiServer, make_database, migrate

pytestmark = [pytest.mark.redis, pytest.mark.slow]

SECRET = "sandbox-acl-test-" + uuid.uuid4().hex


class Site:
    def __init__(self, server: AsgiServer, site: PrivateRedis, sandbox: PrivateRedis) -> None:
        self.server = server
        self.site = redis.Redis.from_url(site.url)
        self.sandbox = redis.Redis.from_url(sandbox.url)
        self.sandbox_url = sandbox.url


@pytest.fixture(scope="module")
def two_redis_site() -> Iterator[Site]:
    site_redis = PrivateRedis().start()
    sandbox_redis = PrivateRedis().start(*SANDBOX_REDIS_ARGS)
    database = make_database()
    migrate(database)
    server = AsgiServer(
        database=database,
        redis_url=site_redis.url,
        extra_env={
            "SANDBOX_REDIS_URL": sandbox_redis.url,
            "SANDBOX_ACL": "1",
            "SECRET_KEY": SECRET,
        },
    )
    try:
        yield Site(server, site_redis, sandbox_redis)
    finally:
        server.stop()
        if callable(database.drop):
            database.drop()
        site_redis.close()
        sandbox_redis.close()


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))


async def _console(browser: Browser, line: str) -> tuple[int, str]:
    response = await browser.post("/sandbox/console/run/", {"line": line}, htmx=False)
    return response.status_code, str(response.json()["output"])


def _exact_usage(raw: redis.Redis, learner: str) -> int:
    return sum(
        int(raw.memory_usage(key, samples=0) or 0)
        for key in raw.scan_iter(match=f"console:{learner}:*", count=1000)
    )


def _learner_password(settings: Any, user: Any) -> str:
    settings.SECRET_KEY = SECRET  # what the server derives passwords from
    return str(user.password())


def test_learner_data_lands_on_the_sandbox_and_site_state_on_the_site(
    two_redis_site: Site,
) -> None:
    async def scenario() -> str:
        browser = Browser(two_redis_site.server.base_url)
        learner = await browser.learner_key()
        assert await _console(browser, "SET colour red") == (200, "OK")
        published = await browser.post("/sandbox/publish/", {"channel": "news", "message": "hello"})
        assert published.status_code == 200, published.text[:300]
        await browser.aclose()
        return learner

    learner = _run(scenario())
    sandbox_keys = {k.decode() for k in two_redis_site.sandbox.scan_iter(count=1000)}
    site_keys = {k.decode() for k in two_redis_site.site.scan_iter(count=1000)}
    assert f"console:{learner}:colour" in sandbox_keys
    assert not any(k.startswith(("console:", "console-meta:")) for k in site_keys)
    # Only learner data and the ACL users' leases live on the sandbox server: admission
    # claims and rate windows (the publish above counted in one) are the site's.
    assert site_keys, "the site's Redis holds nothing: the publish was not counted there"
    assert all(
        k.startswith((f"console:{learner}:", f"console-meta:{learner}", "sandbox-acl:"))
        or not k.endswith(learner)
        for k in sandbox_keys
    )
    assert not any(k.startswith(("admission", "sandbox:rate", "live:")) for k in sandbox_keys)


def test_a_raw_command_as_the_learner_user_outside_its_prefix_is_noperm(
    two_redis_site: Site, settings: Any
) -> None:
    async def scenario() -> str:
        browser = Browser(two_redis_site.server.base_url)
        learner = await browser.learner_key()
        assert await _console(browser, "SET mine 1") == (200, "OK")
        published = await browser.post("/sandbox/publish/", {"channel": "news", "message": "x"})
        assert published.status_code == 200, published.text[:300]
        await browser.aclose()
        return learner

    learner = _run(scenario())
    user = console_acl.command_user(Namespace(learner))
    as_learner = redis.Redis.from_url(
        two_redis_site.sandbox_url,
        username=user.name,
        password=_learner_password(settings, user),
    )
    assert as_learner.get(f"console:{learner}:mine") == b"1"  # its own prefix: allowed
    other = "f" * 16 if learner != "f" * 16 else "e" * 16
    for command in (
        ("GET", f"console:{other}:mine"),
        ("SET", "mine", "1"),
        ("SET", f"console-meta:{learner}", "x"),  # its bookkeeping, reachable by SADD only
        ("PUBLISH", f"console:{other}:inbox", "hi"),
        ("FLUSHALL",),
        ("KEYS", "*"),
        ("EVAL", "return 1", "0"),
        ("CONFIG", "GET", "maxmemory"),
        ("ACL", "LIST"),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            as_learner.execute_command(*command)
    as_learner.close()

    playground = sandbox_acl_users.learner_user(learner)
    sandbox_user = redis.Redis.from_url(
        two_redis_site.sandbox_url,
        username=playground.name,
        password=_learner_password(settings, playground),
    )
    with pytest.raises(redis.exceptions.NoPermissionError):
        sandbox_user.publish(f"sandbox:{other}:news", "hi")
    with pytest.raises(redis.exceptions.NoPermissionError):
        sandbox_user.get(f"console:{learner}:mine")
    sandbox_user.close()


async def _until_refused(browser: Browser, lines: list[str], *, parallel: int) -> list[int]:
    """Send ``lines`` ``parallel`` at a time; the statuses, in the order sent."""
    statuses: list[int] = []
    for start in range(0, len(lines), parallel):
        batch = lines[start : start + parallel]
        results = await asyncio.gather(*(_console(browser, line) for line in batch))
        statuses.extend(status for status, _ in results)
        if any(status == 400 for status, _ in results) and start > 0:
            break
    return statuses


def test_concurrent_writes_to_a_stream_stay_under_the_quota(two_redis_site: Site) -> None:
    value = "v" * 3000

    async def scenario() -> tuple[str, list[int]]:
        browser = Browser(two_redis_site.server.base_url)
        learner = await browser.learner_key()
        # 32 at a time: the check-then-write console raced past its quota this way.
        lines = [f"XADD s * f {value}"] * 640
        statuses = await _until_refused(browser, lines, parallel=32)
        await browser.aclose()
        return learner, statuses

    learner, statuses = _run(scenario())
    assert 400 in statuses, "the quota never refused a write"
    used = _exact_usage(two_redis_site.sandbox, learner)
    assert used <= MAX_MEMORY_BYTES
    assert used > MAX_MEMORY_BYTES * 0.9  # the attack did fill the allowance


def test_consumer_growth_is_counted_and_stays_under_the_quota(two_redis_site: Site) -> None:
    async def scenario() -> tuple[str, list[int]]:
        browser = Browser(two_redis_site.server.base_url)
        learner = await browser.learner_key()
        for line in ("XADD s * f v", "XGROUP CREATE s g 0"):
            status, output = await _console(browser, line)
            assert status == 200 and not output.startswith("(error)"), output
        # Fill most of the allowance (about 900 KB), then grow the stream by consumers
        # alone: reading the history (id 0) as a new name stores the consumer (~330 bytes
        # each on Redis 7.0), and XREADGROUP creates no key.
        filler = "x" * 3900
        for _ in range(115):
            status, _out = await _console(browser, f"RPUSH filler {filler} {filler}")
            assert status == 200
        names = [uuid.uuid4().hex * 2 for _ in range(1200)]  # 64 characters, the most
        lines = [f"XREADGROUP GROUP g {name} COUNT 1 STREAMS s 0" for name in names]
        statuses = await _until_refused(browser, lines, parallel=16)
        await browser.aclose()
        return learner, statuses

    learner, statuses = _run(scenario())
    assert 400 in statuses, "consumer growth was never refused"
    assert _exact_usage(two_redis_site.sandbox, learner) <= MAX_MEMORY_BYTES


def test_a_pattern_stream_subscribes_as_a_user_of_its_own(two_redis_site: Site) -> None:
    async def scenario() -> tuple[str, bool]:
        browser = Browser(two_redis_site.server.base_url)
        learner = await browser.learner_key()
        stream = await browser.stream("/sandbox/console/stream/?p=news.*")
        assert stream.status == 200
        await stream.next(where=lambda e: e.event == "ready")
        users = two_redis_site.sandbox.execute_command("ACL", "USERS")
        mine = [u.decode() for u in users if u.decode().startswith(f"lrn-cstream-{learner}")]
        assert len(mine) == 1
        assert await _console(browser, "PUBLISH news.sport goal") == (200, "(integer) 1")
        message = await stream.next(where=lambda e: e.event == "message")
        assert "goal" in message.data and learner not in message.data
        await browser.aclose()

        def dropped() -> bool:
            left = two_redis_site.sandbox.execute_command("ACL", "USERS")
            return mine[0].encode() not in left

        await eventually(dropped, timeout=10, what="the stream's ACL user dropped")
        return learner, True

    _run(scenario())


def test_a_shard_stream_and_spublish_run_as_the_learners_users(two_redis_site: Site) -> None:
    """SSUBSCRIBE, SPUBLISH and PUBSUB SHARD* are granted on the learner's channels only."""

    async def scenario() -> None:
        browser = Browser(two_redis_site.server.base_url)
        learner = await browser.learner_key()
        stream = await browser.stream("/sandbox/console/stream/?s=scores")
        assert stream.status == 200
        await stream.next(where=lambda e: e.event == "ready")
        assert await _console(browser, "SPUBLISH scores 2-1") == (200, "(integer) 1")
        message = await stream.next(where=lambda e: e.event == "message")
        assert message.data == '1) "smessage"\n2) "scores"\n3) "2-1"'
        assert await _console(browser, "PUBSUB SHARDNUMSUB scores") == (
            200,
            '1) "scores"\n2) (integer) 1',
        )
        assert await _console(browser, "PUBSUB SHARDCHANNELS") == (200, '1) "scores"')
        status, hello = await _console(browser, "HELLO 3")
        assert status == 200 and '3# "proto" => (integer) 3' in hello and '"id"' not in hello
        real = f"console:{learner}:scores".encode()
        assert two_redis_site.sandbox.execute_command("PUBSUB", "SHARDCHANNELS") == [real]
        await browser.aclose()

    _run(scenario())
