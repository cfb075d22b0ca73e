"""``make abuse`` / ``python -m bench.abuse [--quick] [--minutes N] [--only NAME]``: the
attacks of issue 11, repeated against the real site, with their figures.

Each attack is a ``Scenario(name, run)`` in ``SCENARIOS``: ``run(ctx)`` starts what it
needs (``ctx.site()`` is our site under uvicorn, one worker, ``DEBUG=0``, on a private
``redis-server`` of this run, so nothing else's connections are counted) and returns one
markdown section: a ``## <name>`` heading, then its figures. Results go to
``bench/results/abuse.md``; running a subset (``--only``) replaces those sections and
keeps the others. ``--quick`` runs every scenario with small numbers and writes to
``bench/results/smoke/abuse.md``.

To add an attack: write ``async def _my_attack(ctx: Context) -> str`` and append
``Scenario("My attack: what it does and the figure that matters", _my_attack)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from bench import abuse_admission, abuse_sandbox
from bench.abuse_edges import body_attack, errors_section, input_attack, server_errors
from bench.run import raise_nofile
from bench.servers import Server, free_port, start_ours

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = "bench.abuse_settings"  # the site's settings + GET /live/_debug/counts
FANOUT_CLIENT_NAME = "learnsite-fanout"  # learnsite.fanout.source.CLIENT_NAME


# -- what scenarios share ------------------------------------------------------------------


@dataclass
class Context:
    quick: bool
    minutes: float
    redis_url: str = ""
    servers: list[Server] = field(default_factory=list)

    def site(self, **extra_env: str) -> Server:
        server = start_ours(
            redis_url=self.redis_url, extra_env={"DJANGO_SETTINGS_MODULE": SETTINGS, **extra_env}
        )
        self.servers.append(server)
        wait_answering(server)
        return server

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, socket_timeout=10)


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Context], Awaitable[str]]


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of this run's own, on a free port, gone afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench.abuse needs redis-server on PATH (apt install redis-server)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="abuse-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def wait_answering(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=2).status_code:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the site did not answer:\n{server.output()}")
        time.sleep(0.1)


def debug_counts(port: int) -> dict[str, Any]:
    """Tasks and feeds of the server process (only with the abuse/test settings)."""
    response = httpx.get(f"http://127.0.0.1:{port}/live/_debug/counts", timeout=10)
    response.raise_for_status()
    return dict(response.json())


def redis_connections(client: redis.Redis) -> int:
    """Client connections Redis has now, not counting the one asking."""
    return len(client.client_list()) - 1


def fanout_connections(client: redis.Redis) -> int:
    return sum(1 for c in client.client_list() if c.get("name") == FANOUT_CLIENT_NAME)


def eval_calls(client: redis.Redis) -> int:
    """EVAL + EVALSHA calls Redis has run (presence reports are EVALs)."""
    stats: dict[str, Any] = dict(client.info("commandstats"))
    return sum(
        int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_eval", "cmdstat_evalsha")
    )


def make_feeds(client: redis.Redis, prefix: str, count: int) -> list[str]:
    """Feeds that exist (in ``live:feeds``, with a state), named ``<prefix>-<n>``."""
    feeds = [f"{prefix}-{n}" for n in range(count)]
    pipe = client.pipeline(transaction=False)
    for n, feed in enumerate(feeds):
        pipe.sadd("live:feeds", feed)
        pipe.set(f"live:{feed}:state", json.dumps({"seq": 1, "n": n}), ex=3600)
    pipe.execute()
    return feeds


def drop_feeds(client: redis.Redis, feeds: list[str]) -> None:
    if feeds:
        client.srem("live:feeds", *feeds)
        client.delete(*[f"live:{feed}:state" for feed in feeds])


async def settle(check: Callable[[], bool], *, timeout: float, every: float = 0.2) -> bool:
    """Wait until ``check`` holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every)
    return True


async def close_after_headers(
    port: int, paths: list[str], *, concurrency: int = 200, host: str = "127.0.0.1"
) -> dict[int, int]:
    """GET each of ``paths`` as an SSE stream and hang up the moment the response
    headers have arrived, before the first frame. Returns status -> count."""
    statuses: dict[int, int] = {}
    gate = asyncio.Semaphore(concurrency)

    async def one(path: str) -> None:
        async with gate:
            status = 0
            writer = None
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    "Accept: text/event-stream\r\n\r\n".encode()
                )
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                status = int(head.split(b" ", 2)[1])
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                status = -1
            finally:
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(one(path) for path in paths))
    return statuses


class HeldStream:
    """A viewer that reads its stream until closed (what a browser tab does)."""

    KEEP = 1 << 20

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path
        self.bytes = 0
        self.received = bytearray()  # the first KEEP bytes, for a test to look into
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(
                f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode()
            )
            while chunk := await reader.read(65536):
                self.bytes += len(chunk)
                if len(self.received) < self.KEEP:
                    self.received += chunk[: self.KEEP - len(self.received)]
        finally:
            writer.close()

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task


def _statuses(found: dict[int, int]) -> str:
    return ", ".join(
        f"{count} x {'no answer' if code == -1 else code}" for code, count in sorted(found.items())
    )


# -- 1. phantom viewers ---------------------------------------------------------------------


async def _phantoms(ctx: Context) -> str:
    requests = 1_000 if ctx.quick else 10_000
    server = ctx.site()
    client = ctx.redis()
    feeds = make_feeds(client, f"abuse-{uuid.uuid4().hex[:6]}", 20)
    paths = [f"/live/{feed}/stream" for feed in [*feeds, "demo"]]
    cold_conn = redis_connections(client)
    try:
        # Warm up with the same traffic, so the shared pool has grown to what this
        # concurrency needs: connections it keeps idle are reused, not leaked.
        await close_after_headers(server.port, [paths[i % len(paths)] for i in range(500)])
        idle = lambda: debug_counts(server.port)["hub_tasks"] == 0  # noqa: E731
        await settle(idle, timeout=30)
        await asyncio.sleep(2)
        before_conn, before = redis_connections(client), debug_counts(server.port)
        started = time.monotonic()
        statuses = await close_after_headers(
            server.port, [paths[i % len(paths)] for i in range(requests)]
        )
        took = time.monotonic() - started
        peak_fanout = fanout_connections(client)
        await asyncio.sleep(5)
        after_conn, after = redis_connections(client), debug_counts(server.port)
        fanout_left = fanout_connections(client)
    finally:
        drop_feeds(client, feeds)
        client.close()
    extra_conn = after_conn - before_conn
    extra_tasks = after["tasks"] - before["tasks"]
    print(
        f"abuse: phantoms {requests}: +{extra_conn} connections, +{extra_tasks} tasks", flush=True
    )
    return "\n".join(
        [
            f"## {requests:,} live-stream requests closed right after their headers: "
            "extra Redis connections and extra tasks 5 s later",
            "",
            f"{requests:,} `GET /live/<feed>/stream` over {len(paths)} existing feeds "
            f"(20 published, plus `demo`), 200 at a time, each socket closed as soon as the "
            f"response headers arrived, before the first frame; {took:.1f} s in all "
            f"({_statuses(statuses)}). Counted 5 s after the last one, against the same "
            "counts after a warm-up round of 500 (Redis `CLIENT LIST`; the server's "
            "`asyncio.all_tasks()` through `/live/_debug/counts`).",
            "",
            "| figure | before | 5 s after | extra |",
            "|---|---:|---:|---:|",
            f"| Redis client connections | {before_conn} | {after_conn} | **{extra_conn}** |",
            f"| server tasks | {before['tasks']} | {after['tasks']} | **{extra_tasks}** |",
            f"| hub tasks (reader, watch, presence) | {before['hub_tasks']} | "
            f"{after['hub_tasks']} | {after['hub_tasks'] - before['hub_tasks']} |",
            f"| hub connections (`{FANOUT_CLIENT_NAME}`) | 0 | {fanout_left} | {fanout_left} |",
            f"| feeds the hub serves | {len(before['feeds'])} | {len(after['feeds'])} | "
            f"{len(after['feeds']) - len(before['feeds'])} |",
            "",
            f"Redis connections before the warm-up: {cold_conn}; after it, the shared "
            "client pool of the process keeps the connections that concurrency needed (at "
            "most its cap) idle for reuse, which is why `before` is not 0. "
            f"Hub connections still open right after the last request: {peak_fanout} "
            "(feeds whose last viewer was leaving). Before the fix, 300 such requests in 7 s "
            "left 294 Redis connections behind, for good.",
        ]
    )


# -- 2. soak ----------------------------------------------------------------------------------


async def _soak(ctx: Context) -> str:
    minutes = ctx.minutes
    sample_every = 10.0 if ctx.quick else 30.0
    server = ctx.site()
    client = ctx.redis()
    feeds = make_feeds(client, f"soak-{uuid.uuid4().hex[:6]}", 5)
    rows: list[tuple[float, int, int, float, float]] = []
    cycles = 0
    try:
        started = time.monotonic()
        last_sample, last_evals = started - sample_every, eval_calls(client)
        while time.monotonic() - started < minutes * 60:
            # Feeds open (10 viewers each, a few updates) and empty again.
            viewers = [
                HeldStream(server.port, f"/live/{f}/stream") for f in feeds for _ in range(10)
            ]
            for seq in range(5):
                await asyncio.sleep(0.4)
                for feed in feeds:
                    client.publish(f"live:{feed}", json.dumps({"seq": cycles * 10 + seq + 2}))
            for viewer in viewers:
                await viewer.close()
            cycles += 1
            idle = lambda: debug_counts(server.port)["hub_tasks"] == 0  # noqa: E731
            await settle(idle, timeout=10)
            await asyncio.sleep(1.0)
            now = time.monotonic()
            if now - last_sample >= sample_every:
                evals = eval_calls(client)
                rate = (evals - last_evals) / (now - last_sample) if rows else 0.0
                rows.append(
                    (
                        (now - started) / 60,
                        redis_connections(client),
                        int(debug_counts(server.port)["tasks"]),
                        rate,
                        server.rss_kb() / 1024,
                    )
                )
                last_sample, last_evals = now, evals
                print(f"abuse: soak {rows[-1]}", flush=True)
    finally:
        drop_feeds(client, feeds)
        client.close()
    settled = rows[1:] or rows  # the first sample has no EVAL rate yet
    spread = lambda i: max(r[i] for r in settled) - min(r[i] for r in settled)  # noqa: E731
    lines = [
        f"## Soak: feeds open and empty again for {minutes:g} minutes",
        "",
        f"{cycles} cycles: 5 feeds open with 10 viewers each, 5 updates per feed, every "
        "viewer leaves, the feeds empty. Sampled every "
        f"{sample_every:.0f} s, when the feeds are empty (EVALs/s over the interval before).",
        "",
        "| minute | Redis connections | server tasks | EVAL+EVALSHA / s | RSS (MB) |",
        "|---:|---:|---:|---:|---:|",
        *(
            f"| {m:.1f} | {conn} | {tasks} | {rate:.1f} | {rss:.1f} |"
            for m, conn, tasks, rate, rss in rows
        ),
        "",
        f"Spread after the first sample: connections {spread(1)}, tasks {spread(2)}, "
        f"EVALs/s {spread(3):.1f}, RSS {spread(4):.1f} MB.",
    ]
    print(f"abuse: soak done, {cycles} cycles", flush=True)
    return "\n".join(lines)


SCENARIOS: list[Scenario] = [
    Scenario("phantoms", _phantoms),
    Scenario("soak", _soak),
    Scenario("body", body_attack),
    Scenario("inputs", input_attack),
    Scenario("glob", abuse_sandbox.glob_attack),
    Scenario("quota", abuse_sandbox.quota_attacks),
    Scenario("sessions", abuse_admission.fresh_sessions_attack),
]


# -- the results file -------------------------------------------------------------------------


def merge(existing: str, sections: dict[str, str], order: list[str]) -> str:
    """``existing`` with the sections of this run put in (by scenario name, recorded in a
    marker comment), the others kept, in registry order."""
    found: dict[str, str] = {}
    for match in re.finditer(
        r"<!-- scenario: (\S+) -->\n(.*?)(?=<!-- scenario: |\Z)", existing, re.S
    ):
        found[match[1]] = match[2].strip()
    found.update(sections)
    names = [n for n in order if n in found] + [n for n in found if n not in order]
    head = [
        "# Abuse: the attacks of issue 11 against the real site",
        "",
        "Written by `make abuse` (`bench/abuse.py`); each section by its scenario. Our site "
        "under uvicorn (one worker, `DEBUG=0`) on a private `redis-server`.",
        "",
    ]
    body = [f"<!-- scenario: {n} -->\n{found[n]}\n" for n in names]
    return "\n".join(head) + "\n" + "\n".join(body)


async def main_async(args: argparse.Namespace) -> int:
    raise_nofile()
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    if not chosen:
        raise SystemExit(f"no scenario called {args.only}; there are {[s.name for s in SCENARIOS]}")
    minutes = args.minutes if args.minutes is not None else (1.0 if args.quick else 10.0)
    out = Path(args.out) if args.out else (RESULTS / "smoke" if args.quick else RESULTS)
    machine = (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )
    sections: dict[str, str] = {}
    errors: dict[str, int] = {}  # 500s each scenario's servers logged
    with private_redis() as url:
        for scenario in chosen:
            ctx = Context(quick=args.quick, minutes=minutes, redis_url=url)
            try:
                sections[scenario.name] = await scenario.run(ctx)
            finally:
                for server in ctx.servers:
                    server.stop()
                    errors[scenario.name] = errors.get(scenario.name, 0) + server_errors(server)
            sections[scenario.name] += f"\n\n_{machine}; run {time.strftime('%Y-%m-%d %H:%M')}._"
    sections["500s"] = errors_section(errors)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "abuse.md"
    existing = path.read_text() if path.exists() else ""
    path.write_text(merge(existing, sections, [s.name for s in SCENARIOS]))
    print(f"abuse: wrote {path}", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small numbers (results in smoke/)")
    parser.add_argument("--minutes", type=float, help="soak length (default 10, quick 1)")
    parser.add_argument("--only", help="comma separated scenario names")
    parser.add_argument("--out", help="results directory (default bench/results)")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
