"""The quota script on a redis-server of the test's own: exact sizes, a write over the
allowance rolled back to exactly what was there, keys counted, blocking forms polled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
import redis.asyncio as aredis

from console import quota
from console.namespace import Namespace

pytestmark = pytest.mark.redis

NS = Namespace("0123456789abcdef")


@pytest.fixture
def raw(private_redis: Any, settings: Any) -> redis.Redis:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.SANDBOX_REDIS_URL = private_redis.url
    return redis.Redis.from_url(private_redis.url)


def _run(raw: redis.Redis, *args: bytes, max_bytes: int = 50_000, max_keys: int = 10) -> Any:
    async def go() -> Any:
        client = aredis.Redis.from_url(
            f"redis://127.0.0.1:{raw.connection_pool.connection_kwargs['port']}/0"
        )
        try:
            return await quota.run_accounted(
                client, NS, args, max_bytes=max_bytes, max_keys=max_keys
            )
        finally:
            await client.aclose()

    return asyncio.run(go())


def _key(name: str) -> bytes:
    return NS.key(name.encode())


def test_a_write_over_the_allowance_leaves_everything_as_it_was(raw: redis.Redis) -> None:
    _run(raw, b"RPUSH", _key("list"), b"x" * 10_000)
    _run(raw, b"SET", _key("s"), b"keep", b"EX", b"500")
    before = (raw.dump(_key("list")), raw.get(_key("s")), raw.memory_usage(_key("list"), samples=0))
    with pytest.raises(quota.QuotaExceeded) as refused:
        _run(raw, b"RPUSH", _key("list"), *([b"y" * 4000] * 12))
    assert refused.value.used > 50_000
    assert (raw.dump(_key("list")), raw.get(_key("s"))) == before[:2]
    assert 0 < raw.ttl(_key("list")) <= quota.MAX_TTL_SECONDS  # its TTL came back too
    with pytest.raises(quota.QuotaExceeded):
        _run(raw, b"SET", _key("new"), b"z" * 60_000)
    assert not raw.exists(_key("new"))  # a key the write created is gone again


def test_growth_without_a_new_key_is_counted(raw: redis.Redis) -> None:
    """New consumer names grow a stream and create no key (the 4.2 MB stream of issue 11)."""
    _run(raw, b"XADD", _key("s"), b"*", b"f", b"v")
    _run(raw, b"XGROUP", b"CREATE", _key("s"), b"g", b"0")
    refused = 0
    for index in range(400):
        name = f"{index:064d}".encode()
        try:
            _run(raw, b"XREADGROUP", b"GROUP", b"g", name, b"STREAMS", _key("s"), b"0")
        except quota.QuotaExceeded:
            refused += 1
            break
    assert refused == 1
    assert raw.memory_usage(_key("s"), samples=0) <= 50_000


def test_the_key_count_is_exact(raw: redis.Redis) -> None:
    for index in range(3):
        _run(raw, b"SET", _key(f"k{index}"), b"1", max_keys=3)
    with pytest.raises(quota.QuotaExceeded) as refused:
        _run(raw, b"SET", _key("k3"), b"1", max_keys=3)
    assert refused.value.keys == 4 and not raw.exists(_key("k3"))
    assert _run(raw, b"SET", _key("k0"), b"2", max_keys=3) == b"OK"  # rewriting is fine
    assert raw.smembers(NS.meta_key) == {_key(f"k{i}") for i in range(3)}


def test_keys_outside_the_namespace_are_refused_even_without_acl(raw: redis.Redis) -> None:
    with pytest.raises(redis.exceptions.ResponseError, match="outside the learner namespace"):
        _run(raw, b"SET", b"elsewhere", b"1")
    assert not raw.exists(b"elsewhere")


def test_an_error_reply_changes_nothing_and_is_redis_own(raw: redis.Redis) -> None:
    _run(raw, b"SET", _key("s"), b"v")
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        _run(raw, b"LPUSH", _key("s"), b"x")
    assert raw.get(_key("s")) == b"v"


def test_blocking_forms_become_one_shot_forms() -> None:
    assert quota._without_block(
        (b"XREADGROUP", b"GROUP", b"BLOCK", b"c", b"BLOCK", b"100", b"STREAMS", b"s", b">")
    ) == (b"XREADGROUP", b"GROUP", b"BLOCK", b"c", b"STREAMS", b"s", b">")
    assert quota._without_block((b"BLMOVE", b"a", b"b", b"LEFT", b"RIGHT", b"1")) == (
        b"LMOVE",
        b"a",
        b"b",
        b"LEFT",
        b"RIGHT",
    )
    assert quota._without_block((b"SET", b"k", b"v")) == (b"SET", b"k", b"v")


def test_only_known_non_growing_commands_skip_the_accounting() -> None:
    assert not quota.grows((b"get", b"k"))
    assert quota.grows((b"XREADGROUP",))
    assert quota.grows((b"SOMETHING-NEW",))  # fail closed
