"""The console against a real Redis: namespaces, TTLs, the memory cap, capped blocking."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import redis

from console import limits, services
from console.commands import MAX_BLOCK_SECONDS
from tests.console.conftest import console
from tests.support.env import require

pytestmark = pytest.mark.redis


def test_learners_are_isolated(redis_url: str, learner: str, ns: str) -> None:
    other = (ns + "ffff")[:15] + "e"
    assert console(learner, "SET colour red").output == "OK"
    assert console(other, "GET colour").output == "(nil)"
    assert console(other, "EXISTS colour").output == "(integer) 0"
    assert console(learner, "GET colour").output == '"red"'
    raw = redis.Redis.from_url(redis_url)
    assert raw.get(f"console:{learner}:colour") == b"red"
    assert raw.get("colour") is None


def test_created_keys_get_a_ttl_of_at_most_an_hour(redis_url: str, learner: str) -> None:
    raw = redis.Redis.from_url(redis_url)
    for line in (
        "SET a 1",
        "INCR n",
        "LPUSH q x",
        "RPUSH r x",
        "XADD s * f v",
        "XGROUP CREATE g grp $ MKSTREAM",
        "SET b 1 EX 999999",
    ):
        assert not console(learner, line).output.startswith("(error)"), line
    for key in ("a", "n", "q", "r", "s", "g", "b"):
        ttl = raw.ttl(f"console:{learner}:{key}")
        assert 0 < ttl <= services.MAX_TTL_SECONDS, key
    console(learner, "SET short 1 EX 30")
    assert raw.ttl(f"console:{learner}:short") <= 30  # a shorter TTL is kept
    console(learner, "EXPIRE short 100000")
    assert raw.ttl(f"console:{learner}:short") <= services.MAX_TTL_SECONDS
    assert console(learner, "TTL a").output.startswith("(integer) ")


def test_memory_cap(redis_url: str, learner: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "MAX_MEMORY_BYTES", 20_000)
    big = "x" * 4000
    outputs = [console(learner, f"RPUSH big {big}") for _ in range(8)]
    refused = [o for o in outputs if o.status == 400]
    assert refused, "the cap never refused a write"
    assert "allowance" in refused[0].output and "DEL" in refused[0].output
    assert console(learner, "DEL big").output == "(integer) 1"
    assert console(learner, "SET small 1").output == "OK"


def test_key_count_cap(redis_url: str, learner: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "MAX_KEYS", 3)
    for name in "abc":
        assert console(learner, f"SET {name} 1").output == "OK"
    reply = console(learner, "SET d 1")
    assert reply.status == 400 and "keys" in reply.output
    assert console(learner, "SET a 2").output == "OK"  # rewriting a key you have is fine


def test_fresh_sessions_of_one_address_share_its_writers(
    redis_url: str, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack: an address minting fresh sessions gets a fresh 1 MB quota with each.
    Only WRITERS_PER_ADDRESS of its learners may keep data; the others can still read,
    and a learner already writing keeps writing."""
    monkeypatch.setattr(limits.WRITERS, "per_address", 3)
    fresh = [ns + f"{i:03d}" for i in range(6)]  # 16 characters, cleaned up with ns
    outputs = [console(key, "SET k v", client_addr="198.51.100.7") for key in fresh]
    assert [o.output for o in outputs[:3]] == ["OK"] * 3
    assert all(o.status == 429 and "per address" in o.output for o in outputs[3:]), outputs
    assert console(fresh[4], "GET k", client_addr="198.51.100.7").output == "(nil)"
    assert console(fresh[0], "SET k2 v", client_addr="198.51.100.7").output == "OK"
    assert console(fresh[5], "SET k v", client_addr="192.0.2.44").output == "OK"  # elsewhere


@pytest.mark.slow
def test_blocking_commands_are_capped(redis_url: str, learner: str) -> None:
    started = time.monotonic()
    reply = console(learner, "BRPOP nothing 0")
    waited = time.monotonic() - started
    assert reply.output == "(nil)"
    # Capped, not forever: it came back after about the cap (generous bound: shared CI box).
    assert MAX_BLOCK_SECONDS - 0.5 <= waited < MAX_BLOCK_SECONDS + 20
    assert console(learner, "XREAD BLOCK 100 STREAMS nothing $").output == "(nil)"


def test_replies_strip_the_prefix(redis_url: str, learner: str) -> None:
    console(learner, "RPUSH jobs one")
    assert console(learner, "BRPOP jobs 1").output == '1) "jobs"\n2) "one"'
    console(learner, "XADD orders 1-1 item tea")
    assert console(learner, "XREAD STREAMS orders 0").output == (
        '1) 1) "orders"\n   2) 1) 1) "1-1"\n         2) 1) "item"\n            2) "tea"'
    )
    error = console(learner, "XREADGROUP GROUP nogroup c STREAMS orders >").output
    assert error.startswith("(error) NOGROUP") and learner not in error
    assert console(learner, "PUBSUB NUMSUB orders").output == '1) "orders"\n2) (integer) 0'


def test_errors_and_refusals(redis_url: str, learner: str) -> None:
    assert console(learner, "GET a b").output == (
        "(error) ERR wrong number of arguments for 'get' command"
    )
    console(learner, "SET s v")
    assert console(learner, "LPUSH s x").output.startswith("(error) WRONGTYPE")
    assert console(learner, "KEYS *").status == 400
    assert console(learner, 'ECHO "open').status == 400
    assert console(learner, "").status == 400
    assert console(learner, "x" * 9000).status == 400


def test_subscribe_state(learner: str, redis_url: str) -> None:
    reply = console(learner, "SUBSCRIBE a b", channels=[], patterns=["p*"])
    assert reply.channels == ("a", "b") and reply.patterns == ("p*",)
    assert reply.output.endswith('1) "subscribe"\n2) "b"\n3) (integer) 3')
    reply = console(learner, "UNSUBSCRIBE", channels=["a", "b"], patterns=[])
    assert reply.channels == ()
    assert reply.output == (
        '1) "unsubscribe"\n2) "a"\n3) (integer) 1\n1) "unsubscribe"\n2) "b"\n3) (integer) 0'
    )
    reply = console(learner, "PUNSUBSCRIBE")
    assert reply.output == '1) "punsubscribe"\n2) (nil)\n3) (integer) 0'


def test_redis_down_is_said_plainly(private_redis, settings, learner: str) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = private_redis.url
    assert console(learner, "PING").output == "PONG"
    private_redis.stop()
    reply = console(learner, "SET a 1")
    assert reply.status == 503
    assert "not reachable" in reply.output
    assert console(learner, "HELP").status == 200  # what needs no Redis still works


FORMAT_LINES = [
    "SET {k}s hello",
    "GET {k}s",
    "GET {k}missing",
    "INCR {k}n",
    'SET {k}e ""',
    "GET {k}e",
    "RPUSH {k}l a b c d e f g h i j k",
    "LRANGE {k}l 0 -1",
    "LRANGE {k}nothing 0 -1",
    "XADD {k}x 1-1 a 1 b 2",
    "XADD {k}x 2-1 c 3",
    "XRANGE {k}x - +",
    "XGROUP CREATE {k}x g 0",
    "XREADGROUP GROUP g c COUNT 1 STREAMS {k}x >",
    "XPENDING {k}x g",
    "XPENDING {k}x g IDLE 9999999 - + 10",
    "XAUTOCLAIM {k}x g janitor 0 0-0",
    "XCLAIM {k}x g other 0 1-1 JUSTID",
    "XINFO GROUPS {k}x",
    "RPUSH {k}jobs a b",
    "LMOVE {k}jobs {k}jobs:p RIGHT LEFT",
    "BLMOVE {k}jobs {k}jobs:p RIGHT LEFT 1",
    "BLMOVE {k}jobs {k}jobs:p RIGHT LEFT 0.1",
    "LLEN {k}jobs:p",
    "LREM {k}jobs:p 1 b",
    "ZADD {k}g 1 a 1700000000.5 b",
    "ZRANGE {k}g 0 -1 WITHSCORES",
    "ZRANGE {k}g 0 -1",
    "ZCARD {k}g",
    "ZREM {k}g a",
    "ZRANGE {k}nothing 0 -1",
    'ECHO "tab\\there\\x01\\xff"',
    "PING",
    "PING hi",
    "XREAD STREAMS {k}none 0",
    "SET {k}s v GET",
    "LPOP {k}l 2",
    "XLEN {k}x",
    "TTL {k}nokey",
    "DEL {k}s",
    "SET {k}w 1 XX",
]


def test_output_matches_redis_cli(redis_url: str, learner: str) -> None:
    """Run the same commands in redis-cli (its terminal format) and in the console."""
    require(shutil.which("redis-cli") is not None, "redis-cli is not installed")
    raw = redis.Redis.from_url(redis_url)
    port = raw.connection_pool.connection_kwargs["port"]
    cli_prefix = f"console:{learner}:cli-"
    script = "".join(line.format(k=cli_prefix) + "\n" for line in FORMAT_LINES)
    done = subprocess.run(
        ["redis-cli", "-p", str(port), "--no-raw"],
        input=script.encode(),
        capture_output=True,
        timeout=20,
    )
    expected = done.stdout.decode().rstrip("\n")
    ours = "\n".join(console(learner, line.format(k="con-")).output for line in FORMAT_LINES)
    theirs = expected.replace('"console:' + learner + ":cli-", '"con-')
    assert ours.splitlines() == theirs.splitlines()


def test_spublish_counts_on_the_publish_rate(
    redis_url: str, learner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from learnsite import admission

    monkeypatch.setattr(admission.PUBLISHES, "per_learner", 2)
    assert console(learner, "PUBLISH a 1").output == "(integer) 0"
    assert console(learner, "SPUBLISH a 2").output == "(integer) 0"
    refused = console(learner, "SPUBLISH a 3")
    assert refused.status == 429 and refused.retry_after is not None
    assert "Slow down" in refused.output
