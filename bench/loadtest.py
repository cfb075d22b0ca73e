"""Load test: many concurrent learners against the real site under uvicorn.

Each learner is an ``httpx.AsyncClient`` with its own cookie jar (its own session, so its
own learner key and progress). For ``--seconds`` every learner loops over: reading a
lesson, opening a quiz and answering one question through the real quiz form (the hidden
fields are parsed from the page), now and then "Try again" when a set is done, and briefly
opening a sandbox subscription stream and a live feed stream (until the first event).

At the end the answers in the server's database are counted with a query and compared
with the answers the load test got a success for: nothing lost, nothing doubled.

    python -m bench.loadtest --db sqlite --seconds 60 --learners 200
    python -m bench.loadtest --db postgres
    python -m bench.loadtest --smoke --out /tmp/x      # a tiny run, for a test

Results go to ``bench/results/loadtest-<db>.md`` and ``.json`` (or to ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import platform
import random
import re
import secrets
import sqlite3
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import redis

from bench.pages import collected_static
from tests.support.servers import AsgiServer, Database, make_database, migrate

RESULTS = Path(__file__).resolve().parent / "results"
LESSONS = (
    "why-a-broker",
    "publish-and-subscribe",
    "listening-without-freezing",
    "from-redis-to-the-browser",
    "delivery-guarantees",
    "running-in-production",
)
# The SQLite options the site's own settings use without DATABASE_URL, passed through
# the URL (dj-database-url turns query parameters into OPTIONS).
SQLITE_OPTIONS = "timeout=10&transaction_mode=IMMEDIATE&init_command=" + quote(
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
)
LOAD_FEEDS = ("load-0", "load-1", "load-2")
_FORM_RE = re.compile(r'<form class="quiz-form".*?</form>', re.S)
_HIDDEN_RE = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')
_OPTION_RE = re.compile(r'<input type="radio" name="option" value="([^"]*)"')
_ATTEMPT_RE = re.compile(r'<article class="quiz-question" id="[^"]*" data-attempt="(\d+)"')


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    # (learner key, attempt, question id) of every answer the learner was told was recorded,
    # and of every answer whose request failed in a way that may or may not have recorded it.
    # A round's first answer creates it, so a form may say "new-practice": such an unsure
    # answer is named (key, "new:<lesson>", question), which matches the learner's first round.
    acknowledged: list[tuple[str, str, str]] = field(default_factory=list)
    unsure: list[tuple[str, str, str]] = field(default_factory=list)

    def ok(self, kind: str, seconds: float) -> None:
        self.latencies[kind].append(seconds)

    def error(self, kind: str, what: str) -> None:
        self.errors[f"{kind}: {what}"] += 1


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class Learner:
    def __init__(self, base_url: str, stats: Stats, rng: random.Random) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url, timeout=httpx.Timeout(30.0), follow_redirects=False
        )
        self.stats = stats
        self.rng = rng
        self.key = ""  # the learner key, read from the provisional cookie when first set

    def _remember_key(self) -> None:
        cookie = self.client.cookies.get("learner")
        if cookie and not self.key:
            self.key = cookie.split(":", 1)[0]

    async def _get(self, kind: str, path: str) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await self.client.get(path)
        except httpx.HTTPError as exc:
            self.stats.error(kind, type(exc).__name__)
            return None
        self._remember_key()
        if response.status_code != 200:
            self.stats.error(kind, f"HTTP {response.status_code}")
            return None
        self.stats.ok(kind, time.perf_counter() - started)
        return response

    def _csrf(self) -> dict[str, str]:
        return {"X-CSRFToken": self.client.cookies.get("csrftoken", "")}

    async def read_lesson(self) -> None:
        await self._get("lesson", f"/lessons/{self.rng.choice(LESSONS)}/")

    async def answer_one(self) -> None:
        slug = self.rng.choice(LESSONS)
        page = await self._get("quiz page", f"/quizzes/{slug}/")
        if page is None:
            return
        forms = _FORM_RE.findall(page.text)
        if not forms:  # every question answered: start again, as a learner would
            started = time.perf_counter()
            try:
                again = await self.client.post(f"/quizzes/{slug}/again/", headers=self._csrf())
            except httpx.HTTPError as exc:
                self.stats.error("try again", type(exc).__name__)
                return
            if again.status_code == 302:
                self.stats.ok("try again", time.perf_counter() - started)
            else:
                self.stats.error("try again", f"HTTP {again.status_code}")
            return
        form = self.rng.choice(forms)
        fields = {name: html.unescape(value) for name, value in _HIDDEN_RE.findall(form)}
        fields["option"] = html.unescape(self.rng.choice(_OPTION_RE.findall(form)))
        attempt = fields["attempt"]
        unsure = (
            self.key,
            f"new:{slug}" if attempt.startswith("new-") else attempt,
            fields["question"],
        )
        started = time.perf_counter()
        try:
            response = await self.client.post(
                "/quizzes/answer/", data=fields, headers=self._csrf() | {"HX-Request": "true"}
            )
        except httpx.HTTPError as exc:
            self.stats.error("answer", type(exc).__name__)
            self.stats.unsure.append(unsure)
            return
        recorded = _ATTEMPT_RE.search(response.text)
        if response.status_code == 200 and "quiz-options is-answered" in response.text and recorded:
            self.stats.ok("answer", time.perf_counter() - started)
            self.stats.acknowledged.append((self.key, recorded.group(1), fields["question"]))
        else:
            self.stats.error("answer", f"HTTP {response.status_code}")
            if response.status_code >= 500:
                self.stats.unsure.append(unsure)

    async def _first_event(self, kind: str, path: str) -> None:
        """Open a stream, wait for its first event, close it (time to first event)."""
        started = time.perf_counter()
        try:
            async with self.client.stream(
                "GET", path, headers={"Accept": "text/event-stream"}
            ) as response:
                if response.status_code != 200:
                    self.stats.error(kind, f"HTTP {response.status_code}")
                    return
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        self.stats.ok(kind, time.perf_counter() - started)
                        return
                self.stats.error(kind, "stream ended before any event")
        except httpx.HTTPError as exc:
            self.stats.error(kind, type(exc).__name__)

    async def open_sandbox_stream(self) -> None:
        name = f"load{self.rng.randrange(5)}"
        await self._first_event("sandbox stream", f"/sandbox/stream/?kind=channel&name={name}")

    async def open_live_stream(self) -> None:
        await self._first_event("live stream", f"/live/{self.rng.choice(LOAD_FEEDS)}/stream")

    async def run(self, stop_at: float) -> None:
        actions = (
            (self.read_lesson, 35),
            (self.answer_one, 45),
            (self.open_sandbox_stream, 10),
            (self.open_live_stream, 10),
        )
        funcs = [a for a, _ in actions]
        weights = [w for _, w in actions]
        try:
            await asyncio.sleep(self.rng.random())  # do not all arrive in the same instant
            while time.monotonic() < stop_at:
                await self.rng.choices(funcs, weights)[0]()
                await asyncio.sleep(self.rng.uniform(0.0, 0.2))  # a little think time
        finally:
            await self.client.aclose()


# Each answer with its learner's key, and whether its round is the learner's first at that
# practice set (the one a "new-practice" form creates).
_ANSWERS_SQL = """
SELECT l.key, a.attempt_id, a.question_id, t.lesson_slug,
       t.id = (SELECT min(f.id) FROM quizzes_quizattempt f
               WHERE f.learner_id = t.learner_id AND f.kind = t.kind
                 AND f.lesson_slug = t.lesson_slug)
FROM quizzes_answer a
JOIN quizzes_quizattempt t ON t.id = a.attempt_id
JOIN quizzes_learner l ON l.id = t.learner_id
"""


@dataclass(frozen=True)
class StoredAnswer:
    key: str
    attempt: str
    question: str
    lesson: str
    first_round: bool

    @property
    def pair(self) -> tuple[str, str, str]:
        return (self.key, self.attempt, self.question)

    @property
    def new_pair(self) -> tuple[str, str, str] | None:
        return (self.key, f"new:{self.lesson}", self.question) if self.first_round else None


def answers_in_db(database: Database) -> list[StoredAnswer]:
    """Every answer row in the server's database."""
    url = database.url
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///").split("?")[0]
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute(_ANSWERS_SQL).fetchall()
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(url) as pg:
            rows = pg.execute(_ANSWERS_SQL).fetchall()
    return [StoredAnswer(str(k), str(a), str(q), str(s), bool(f)) for k, a, q, s, f in rows]


def make_db(kind: str, pg_url: str) -> Database:
    if kind == "postgres":
        previous = os.environ.get("DATABASE_URL")
        os.environ["DATABASE_URL"] = pg_url
        try:
            return make_database()
        finally:
            if previous is None:
                del os.environ["DATABASE_URL"]
            else:
                os.environ["DATABASE_URL"] = previous
    previous = os.environ.pop("DATABASE_URL", None)
    try:
        database = make_database()
    finally:
        if previous is not None:
            os.environ["DATABASE_URL"] = previous
    return Database(f"{database.url}?{SQLITE_OPTIONS}", database.drop)


async def _drive(base_url: str, learners: int, seconds: float, seed: int) -> tuple[Stats, float]:
    stats = Stats()
    started = time.monotonic()
    stop_at = started + seconds
    crowd = [Learner(base_url, stats, random.Random(seed + i)) for i in range(learners)]
    await asyncio.gather(*(learner.run(stop_at) for learner in crowd))
    return stats, time.monotonic() - started


def summarise(
    stats: Stats, *, elapsed: float, stored: list[StoredAnswer], meta: dict[str, Any]
) -> dict[str, Any]:
    rows = []
    for kind, values in sorted(stats.latencies.items()):
        errors = sum(n for what, n in stats.errors.items() if what.startswith(f"{kind}:"))
        rows.append(
            {
                "kind": kind,
                "requests": len(values),
                "per_second": round(len(values) / elapsed, 1),
                "p50_ms": round(_percentile(values, 0.50) * 1000, 1),
                "p99_ms": round(_percentile(values, 0.99) * 1000, 1),
                "errors": errors,
            }
        )
    total = sum(len(v) for v in stats.latencies.values())
    in_db = Counter(answer.pair for answer in stored)
    acknowledged = set(stats.acknowledged)
    unsure = set(stats.unsure)
    # Nothing lost: every acknowledged answer is stored. Nothing doubled: no answer is
    # stored twice, and every stored answer is one the load test sent.
    lost = sorted(acknowledged - set(in_db))
    doubled = sorted(pair for pair, n in in_db.items() if n > 1)
    unexplained = [
        a for a in stored if a.pair not in acknowledged | unsure and a.new_pair not in unsure
    ]
    stored_after_error = sum(
        1
        for a in stored
        if a.pair not in acknowledged and (a.pair in unsure or a.new_pair in unsure)
    )
    return meta | {
        "elapsed_s": round(elapsed, 1),
        "requests": total,
        "requests_per_second": round(total / elapsed, 1),
        "errors": sum(stats.errors.values()),
        "error_kinds": dict(stats.errors),
        "answers_acknowledged": len(stats.acknowledged),
        "answers_failed": len(stats.unsure),
        "answers_in_db": len(stored),
        "answers_stored_after_an_error": stored_after_error,
        "answers_lost": len(lost),
        "answers_doubled": len(doubled),
        "answers_unexplained": len(unexplained),
        "answers_match": not lost and not doubled and not unexplained,
        "answers_count_equal": len(stored) == len(stats.acknowledged),
        "rows": rows,
    }


def as_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# Load test: {summary['learners']} learners for {summary['seconds']} s "
        f"on {summary['db']}",
        "",
        f"{summary['workers']} uvicorn worker(s), DEBUG=0, Redis at {summary['redis']}; "
        f"{summary['when']} on {summary['host']} ({summary['cpus']} CPUs). "
        "Streams are timed to their first event, then closed.",
        "",
        "| page kind | requests | per s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in summary["rows"]:
        lines.append(
            f"| {row['kind']} | {row['requests']} | {row['per_second']} | {row['p50_ms']} "
            f"| {row['p99_ms']} | {row['errors']} |"
        )
    lines += [
        f"| **all** | {summary['requests']} | {summary['requests_per_second']} | | "
        f"| {summary['errors']} |",
        "",
        f"Answers acknowledged to learners: {summary['answers_acknowledged']}; "
        f"answers in the database: {summary['answers_in_db']}"
        + (" (equal)." if summary["answers_count_equal"] else " (NOT equal).")
        + f" Lost: {summary['answers_lost']}; doubled: {summary['answers_doubled']}; "
        f"stored but never sent: {summary['answers_unexplained']}.",
    ]
    if summary["answers_failed"]:
        lines += [
            "",
            f"{summary['answers_failed']} answer requests failed (5xx or no response); "
            f"{summary['answers_stored_after_an_error']} of those were stored anyway: the "
            "learner saw an error for an answer that was in fact recorded (a retry shows it "
            "as already recorded).",
        ]
    if summary["error_kinds"]:
        lines += ["", "Errors:", ""]
        lines += [f"- {what}: {n}" for what, n in sorted(summary["error_kinds"].items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("PG_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
        help="an existing PostgreSQL database; a fresh database is created next to it",
    )
    parser.add_argument("--smoke", action="store_true", help="a tiny run (8 learners, 4 s)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.smoke:
        args.learners, args.seconds, args.workers = 8, 4.0, 1

    database = make_db(args.db, args.pg_url)
    migrate(database)
    # As in production: DEBUG=0 (the kept pages and fragments, no content reload checks).
    production = {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "bench.loadtest_settings",
    }
    production["BENCH_STATIC_ROOT"] = collected_static(production, "bench.loadtest_settings")
    server = AsgiServer(
        database=database, redis_url=args.redis, workers=args.workers, extra_env=production
    )
    # The site streams only feeds that exist (configured, or published to): these are ours.
    feeds = redis.Redis.from_url(args.redis, socket_timeout=5)
    feeds.sadd("live:feeds", *LOAD_FEEDS)
    try:
        print(f"{args.learners} learners for {args.seconds} s against {server.base_url} ...")
        stats, elapsed = asyncio.run(
            _drive(server.base_url, args.learners, args.seconds, args.seed)
        )
    finally:
        server.stop()
        feeds.srem("live:feeds", *LOAD_FEEDS)
        feeds.close()
    try:
        stored = answers_in_db(database)
    finally:
        if callable(database.drop):
            database.drop()
    meta = {
        "db": args.db,
        "learners": args.learners,
        "seconds": args.seconds,
        "workers": args.workers,
        "redis": args.redis,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "smoke": args.smoke,
    }
    summary = summarise(stats, elapsed=elapsed, stored=stored, meta=meta)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"loadtest-{args.db}.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = as_markdown(summary)
    (args.out / f"loadtest-{args.db}.md").write_text(text)
    print(text)
    return 0 if summary["answers_match"] and not summary["errors"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
