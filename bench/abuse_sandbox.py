"""The sandbox Redis's attacks for ``bench/abuse.py`` (issue 11, findings 4 and 5).

- ``glob``: console streams holding the largest patterns the console allows (64 bytes, 8
  wildcards, built to make Redis backtrack), then console ``PUBLISH``es on the longest
  allowed channel; the cost of every ``PUBLISH`` in the sandbox Redis's ``SLOWLOG`` and an
  unrelated client's ``PING`` round trips meanwhile. The uncapped attack of the issue
  (4 KB patterns, 4 KB channel) is replayed straight into Redis for comparison.
- ``quota``: fresh learners each attack their quota (concurrent stream writes; consumer
  growth); every learner's keys measured exactly (``MEMORY USAGE ... SAMPLES 0``) and the
  sandbox Redis's total memory against its ceiling.

Both run the site with ``DEBUG=1`` (with ``DEBUG=0`` the CSRF cookie is ``Secure``, so a
plain-http client cannot post) and a sandbox Redis of its own (``make run``'s settings: maxmemory
64mb, volatile-ttl) and Redis ACL users, on top of the run's site Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import redis

from console.commands import MAX_NAME_BYTES, MAX_PATTERN_WILDCARDS, MAX_SUBSCRIPTIONS
from console.quota import MAX_MEMORY_BYTES
from learnsite.runner import SANDBOX_REDIS_ARGS, start_private_redis

if TYPE_CHECKING:
    from bench.abuse import Context


def migrated_database() -> str:
    """A SQLite database with the site's tables: the console keeps the learner in a session."""
    path = Path(tempfile.mkdtemp(prefix="abuse-db-")) / "db.sqlite3"
    url = f"sqlite:///{path}"
    subprocess.run(
        # --skip-checks: tables only; the content checks are not what this run measures.
        [sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks", "-v", "0"],
        cwd=Path(__file__).resolve().parent.parent,
        env=os.environ | {"DATABASE_URL": url},
        check=True,
    )
    return url


class Learner:
    """One fresh session against the site."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None))

    async def start(self) -> Learner:
        await self.client.get(self.base + "/sandbox/console/")
        return self

    async def run(self, line: str) -> tuple[int, str]:
        try:
            response = await self.client.post(
                self.base + "/sandbox/console/run/",
                data={"line": line},
                headers={"X-CSRFToken": self.client.cookies.get("csrftoken", "")},
            )
        except httpx.HTTPError as exc:  # counted as status 0, the run goes on
            return 0, type(exc).__name__
        try:
            return response.status_code, str(response.json().get("output", ""))
        except ValueError:
            return response.status_code, response.text[:200]

    async def aclose(self) -> None:
        await self.client.aclose()


def worst_patterns(count: int) -> list[str]:
    """``count`` distinct patterns at the caps: MAX_NAME_BYTES long, MAX_PATTERN_WILDCARDS
    stars, that almost match a channel of 'a's and fail on the last byte."""
    stars = "*a" * MAX_PATTERN_WILDCARDS
    patterns = []
    for index in range(count):
        tail = f"{index:02d}"
        body = stars + "a" * (MAX_NAME_BYTES - len(stars) - len(tail) - 1) + tail + "b"
        patterns.append(body[:MAX_NAME_BYTES])
    return patterns


def _publish_costs(raw: redis.Redis) -> list[int]:
    """Microseconds of every PUBLISH in the SLOWLOG (logging everything)."""
    entries = raw.slowlog_get(10_000)
    return [int(e["duration"]) for e in entries if bytes(e["command"]).startswith(b"PUBLISH")]


# An unrelated client's PING round trips, in a process of its own: a thread in this process
# would wait for the GIL behind the attack's HTTP clients (that put 18 ms into the p99 of a
# Redis that answered in under 1 ms), and the figure is about Redis. It pings every 2 ms
# until its stdin closes, then prints the round trips (ms) as JSON.
_PINGER = """
import json, sys, threading, time
import redis
client = redis.Redis.from_url(sys.argv[1], socket_timeout=30)
client.ping()
print("ready", flush=True)
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
times = []
while not stop.is_set():
    started = time.perf_counter()
    client.ping()
    times.append((time.perf_counter() - started) * 1000)
    time.sleep(0.002)
print(json.dumps(times), flush=True)
"""


class Pinger:
    """``with Pinger(url) as pinger: ...``, then ``pinger.times``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.times: list[float] = []

    def __enter__(self) -> Pinger:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _PINGER, self.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.process.stdout.readline()  # "ready"
        return self

    def __exit__(self, *exc: object) -> None:
        out, _err = self.process.communicate(input="", timeout=60)
        self.times = json.loads(out.strip() or "[]")


def _p99(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _uncapped_baseline(url: str) -> float:
    """The issue's attack without caps, straight into Redis: 8 connections x 20 patterns of
    4 KB ``*aaaa...b``, one PUBLISH on a 4 KB channel. Milliseconds of that PUBLISH."""
    raw = redis.Redis.from_url(url, socket_timeout=120)  # that PUBLISH takes seconds
    subscribers = []
    try:
        for stream in range(8):
            pubsub = redis.Redis.from_url(url).pubsub()
            pubsub.psubscribe(*(f"x:*{'a' * 4090}{stream:02d}{index:02d}b" for index in range(20)))
            subscribers.append(pubsub)
        raw.config_set("slowlog-log-slower-than", 0)
        raw.slowlog_reset()
        raw.publish("x:" + "a" * 4094, "x")
        costs = _publish_costs(raw)
        return max(costs) / 1000 if costs else 0.0
    finally:
        for pubsub in subscribers:
            pubsub.close()
        raw.close()


async def glob_attack(ctx: Context) -> str:
    sandbox = start_private_redis(extra=SANDBOX_REDIS_ARGS)
    try:
        server = ctx.site(
            SANDBOX_REDIS_URL=sandbox.url,
            SANDBOX_ACL="1",
            DEBUG="1",
            DATABASE_URL=migrated_database(),
        )
        base = f"http://127.0.0.1:{server.port}"
        raw = redis.Redis.from_url(sandbox.url)
        publishes = 20 if ctx.quick else 200
        with Pinger(sandbox.url) as idle:  # the same PING with nothing else going on
            await asyncio.sleep(2.0 if ctx.quick else 5.0)
        learners = [await Learner(base).start() for _ in range(2)]
        streams = []
        opened = 0
        for index in range(8):
            owner = learners[index % len(learners)]
            query = "&".join(
                f"p={p}"
                for p in worst_patterns(MAX_SUBSCRIPTIONS * (index + 1))[-MAX_SUBSCRIPTIONS:]
            )
            request = owner.client.build_request(
                "GET",
                f"{base}/sandbox/console/stream/?{query}",
                headers={"Accept": "text/event-stream"},
            )
            response = await owner.client.send(request, stream=True)
            streams.append(response)
            if response.status_code == 200:
                opened += 1
        await asyncio.sleep(1.0)  # let every stream subscribe
        patterns = int(raw.execute_command("PUBSUB", "NUMPAT"))
        raw.config_set("slowlog-log-slower-than", 0)
        raw.config_set("slowlog-max-len", 100_000)
        raw.slowlog_reset()
        channel = "a" * MAX_NAME_BYTES
        statuses = []
        with Pinger(sandbox.url) as pinger:
            for _ in range(publishes):
                for owner in learners:
                    status, _out = await owner.run(f"PUBLISH {channel} x")
                    statuses.append(status)
        pings = pinger.times
        costs = _publish_costs(raw)
        for response in streams:
            await response.aclose()
        for owner in learners:
            await owner.aclose()
        baseline = _uncapped_baseline(sandbox.url)
    finally:
        sandbox.stop()
    worst = max(costs) / 1000 if costs else 0.0
    return "\n".join(
        [
            "## Glob attack: max PUBLISH cost in SLOWLOG and an unrelated PING p99",
            "",
            f"{opened} console streams (of 8 tried) holding {patterns} patterns at the caps "
            f"({MAX_NAME_BYTES} bytes, {MAX_PATTERN_WILDCARDS} wildcards, built to backtrack), "
            f"then {len(statuses)} console PUBLISHes on a {MAX_NAME_BYTES}-byte channel "
            f"(statuses {sorted(set(statuses))}).",
            "",
            "| figure | value |",
            "|---|---|",
            f"| PUBLISHes in SLOWLOG | {len(costs)} |",
            f"| max PUBLISH cost | {worst:.3f} ms |",
            f"| median PUBLISH cost | {statistics.median(costs) / 1000 if costs else 0:.3f} ms |",
            f"| unrelated PING p99 (sandbox Redis), another process | {_p99(pings):.2f} ms "
            f"over {len(pings)} |",
            f"| the same PING p99 before the attack (this machine's floor) | "
            f"{_p99(idle.times):.2f} ms over {len(idle.times)} |",
            f"| the uncapped attack (4 KB patterns, 160 of them, raw) | {baseline:.1f} ms "
            "for one PUBLISH |",
        ]
    )


async def _fill(learner: Learner, lines: list[str], parallel: int) -> list[int]:
    statuses: list[int] = []
    for start in range(0, len(lines), parallel):
        results = await asyncio.gather(
            *(learner.run(line) for line in lines[start : start + parallel])
        )
        statuses.extend(s for s, _ in results)
        if any(s == 400 for s, _ in results):
            break
    return statuses


def _per_learner(raw: redis.Redis) -> dict[str, int]:
    used: dict[str, int] = {}
    for key in raw.scan_iter(match="console:*", count=1000):
        learner = key.decode().split(":")[1]
        used[learner] = used.get(learner, 0) + int(raw.memory_usage(key, samples=0) or 0)
    return used


async def quota_attacks(ctx: Context) -> str:
    sandbox = start_private_redis(extra=SANDBOX_REDIS_ARGS)
    try:
        server = ctx.site(
            SANDBOX_REDIS_URL=sandbox.url,
            SANDBOX_ACL="1",
            DEBUG="1",
            DATABASE_URL=migrated_database(),
        )
        base = f"http://127.0.0.1:{server.port}"
        raw = redis.Redis.from_url(sandbox.url)
        count = 4 if ctx.quick else 40
        value = "v" * 3000
        started = time.monotonic()
        refused = 0
        for index in range(count):
            learner = await Learner(base).start()
            if index % 2 == 0:
                # concurrent writes to one stream (its size is what SAMPLES 5 under-counted)
                statuses = await _fill(learner, [f"XADD s * f {value}"] * 700, parallel=32)
            else:
                await learner.run("XADD s * f v")
                await learner.run("XGROUP CREATE s g 0")
                await _fill(learner, [f"RPUSH big {value} {value}"] * 170, parallel=8)
                names = [uuid.uuid4().hex * 2 for _ in range(1500)]
                statuses = await _fill(
                    learner, [f"XREADGROUP GROUP g {n} COUNT 1 STREAMS s 0" for n in names], 16
                )
            refused += 400 in statuses
            await learner.aclose()
        elapsed = time.monotonic() - started
        used = _per_learner(raw)
        info = raw.info("memory")
    finally:
        sandbox.stop()
    top = max(used.values()) if used else 0
    return "\n".join(
        [
            "## Quota attacks: sandbox memory total and per learner",
            "",
            f"{count} fresh learners, one after another ({elapsed:.0f} s): even ones send 32 "
            "concurrent `XADD`s of 3 KB until refused; odd ones fill 1 MB with a list, then "
            "grow a stream by new 64-byte consumer names (`XREADGROUP ... STREAMS s 0`).",
            "",
            "| figure | value |",
            "|---|---|",
            f"| learners refused at their quota | {refused} of {count} |",
            f"| largest learner, exact (SAMPLES 0) | {top} bytes (quota {MAX_MEMORY_BYTES}) |",
            f"| learners over the quota | {sum(u > MAX_MEMORY_BYTES for u in used.values())} |",
            f"| sandbox used_memory | {int(info['used_memory']) // 1024} KB of maxmemory "
            f"{int(info['maxmemory']) // 1024} KB |",
        ]
    )
