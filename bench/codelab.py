"""The code lab's figures (issue 13), against the real site, runner, jail and Redis:

1. run to first output line, one runner: p50 and p99 over sequential runs;
2. 20 learners pressing Run at once: every run finishes, queue positions are shown, and
   lesson pages fetched meanwhile keep their p99;
3. a runner SIGKILLed mid-run: seconds until the page gets "the runner stopped".

``python -m bench.codelab [--runs N]`` (``make bench-codelab``; ``make bench`` runs it too)
writes ``bench/results/codelab.md``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

from bench.stats import percentile
from tests.support.redis_server import PrivateRedis
from tests.support.servers import AsgiServer, make_database, migrate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "codelab.md"
LESSON = "/lessons/listening-without-freezing/"


_addresses = iter(f"10.{i // 250}.{i % 250}.1" for i in range(1, 60_000))


class Learner:
    """One learner on a network of their own (the server trusts the bench's
    X-Forwarded-For, as it would a proxy's): the per-address limits hold per learner."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, timeout=60, headers={"X-Forwarded-For": next(_addresses)}
        )
        page = self.http.get("/lab/")
        match = re.search(r'"X-CSRFToken": "([^"]+)"', page.text)
        assert match, (page.status_code, page.text[:300])
        self.token = match[1]

    def run(self, code: str) -> httpx.Response:
        return self.http.post("/lab/run", data={"code": code}, headers={"X-CSRFToken": self.token})

    def follow(self, stream: str, started: float) -> dict[str, object]:
        """Read the run's events; the time of the first output, the positions, the end."""
        first: float | None = None
        positions: list[int] = []
        kind = ""
        with self.http.stream("GET", stream) as response:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if kind == "out" and first is None:
                        first = time.monotonic() - started
                    if kind == "queued":
                        positions.append(int(data["position"]))
                    if kind == "done":
                        return {
                            "first": first,
                            "positions": positions,
                            "done": data,
                            "end": time.monotonic() - started,
                        }
        return {"first": first, "positions": positions, "done": None, "end": None}


def start_runner(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "codelab_runner", "--slots", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_runner(base_url: str) -> None:
    learner = Learner(base_url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = learner.run("print('warm')")
        if response.status_code == 202:
            learner.follow(response.json()["stream"], time.monotonic())
            return
        time.sleep(0.3)
    raise SystemExit("the code-lab runner did not come up")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--crowd", type=int, default=20)
    args = parser.parse_args()
    site_redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    sandbox = PrivateRedis().start()
    database = make_database()
    migrate(database)
    env_extra = {
        "SANDBOX_REDIS_URL": sandbox.url,
        "SANDBOX_ACL": "1",
        "LAB_PREFIX": f"blab{uuid.uuid4().hex[:8]}",
        "TRUSTED_PROXIES": "127.0.0.1",
    }
    server = AsgiServer(database=database, redis_url=site_redis, extra_env=env_extra)
    runner_env = (
        os.environ
        | env_extra
        | {
            "DATABASE_URL": database.url,
            "REDIS_URL": site_redis,
            "ADMISSION_PREFIX": server.admission_prefix,
        }
    )
    runners = [start_runner(runner_env)]
    lines: list[str] = []
    try:
        try:
            wait_for_runner(server.base_url)
        except AssertionError:
            print(server.output()[-3000:])
            raise
        # 1. Run to first output, one runner, one learner at a time.
        firsts: list[float] = []
        for index in range(args.runs):
            if index % 15 == 0:
                learner = Learner(server.base_url)  # a learner may run 20 a minute
            started = time.monotonic()
            response = learner.run("print('first line', flush=True)\n")
            assert response.status_code == 202, response.text
            seen = learner.follow(response.json()["stream"], started)
            if seen["first"] is not None:
                firsts.append(float(seen["first"]))  # type: ignore[arg-type]
        p50, p99 = percentile(firsts, 50), percentile(firsts, 99)
        lines += [
            "## Run to first output line (one runner, 2 slots)",
            "",
            f"{len(firsts)} runs of `print(...)`, from the POST to the first `out` event:",
            "",
            "| p50 | p99 | target |",
            "|---:|---:|---|",
            f"| {p50 * 1000:.0f} ms | {p99 * 1000:.0f} ms | p50 < 300 ms, p99 < 1 s |",
            "",
        ]
        # 2. A crowd pressing Run at once, and lesson pages fetched meanwhile.
        crowd = [Learner(server.base_url) for _ in range(args.crowd)]
        page_times: list[float] = []
        stop = threading.Event()

        def reader() -> None:
            client = httpx.Client(base_url=server.base_url, timeout=30)
            while not stop.is_set():
                started = time.monotonic()
                client.get(LESSON)
                page_times.append(time.monotonic() - started)

        pager = threading.Thread(target=reader, daemon=True)
        pager.start()
        code = "import time\nprint('working', flush=True)\ntime.sleep(0.5)\nprint('done')\n"

        def press(one: Learner) -> dict[str, object]:
            started = time.monotonic()
            response = one.run(code)
            if response.status_code != 202:
                return {"refused": response.status_code, "text": response.text}
            return one.follow(response.json()["stream"], started)

        crowd_started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.crowd) as pool:
            results = list(pool.map(press, crowd))
        crowd_wall = time.monotonic() - crowd_started
        stop.set()
        pager.join(5)
        finished = [
            r
            for r in results
            if isinstance(r.get("done"), dict) and r["done"]["reason"] == "finished"
        ]  # type: ignore[index]
        shown = [r for r in results if r.get("positions")]
        longest = max((max(r["positions"]) for r in shown), default=0)  # type: ignore[type-var]
        ends = [float(r["end"]) for r in finished]  # type: ignore[arg-type]
        lines += [
            f"## {args.crowd} learners pressing Run at once (one runner, 2 slots)",
            "",
            "Each run prints, sleeps 0.5 s, prints. Lesson pages fetched in a loop meanwhile.",
            "",
            "| runs finished | saw a queue position | deepest position shown "
            "| last run done after | lesson page p50 / p99 (during) | pages fetched |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {len(finished)} of {args.crowd} | {len(shown)} | {longest} | "
            f"{max(ends, default=0):.1f} s (crowd {crowd_wall:.1f} s) | "
            f"{(percentile(page_times, 50) or 0) * 1000:.0f} / "
            f"{(percentile(page_times, 99) or 0) * 1000:.0f} ms | {len(page_times)} |",
            "",
        ]
        # 3. A runner killed mid-run: the job starts on the only runner, which is then
        # killed; a second runner is started after the crash.
        victim = Learner(server.base_url)
        started = time.monotonic()
        response = victim.run("import time\nprint('started', flush=True)\ntime.sleep(8)\n")
        assert response.status_code == 202, response.text
        outcome: dict[str, object] = {}
        follower = threading.Thread(
            target=lambda: outcome.update(victim.follow(response.json()["stream"], started))
        )
        follower.start()
        time.sleep(1.5)  # started and printed by now
        killed_at = time.monotonic()
        runners[0].send_signal(signal.SIGKILL)
        runners.append(start_runner(runner_env))
        follower.join(30)
        done = outcome.get("done") or {}
        end_at = outcome.get("end")
        lost_after = float(end_at) + started - killed_at if end_at is not None else None  # type: ignore[arg-type]
        lines += [
            "## A runner SIGKILLed mid-run (a second runner alive)",
            "",
            "| how the run ended | seconds from the kill to the page being told | target |",
            "|---|---:|---|",
            f"| {done.get('reason')} | {lost_after:.1f} s | within 10 s |"
            if lost_after is not None
            else "| (no end seen) | - | within 10 s |",
            "",
        ]
    finally:
        for proc in runners:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        server.stop()
        sandbox.close()
        if callable(database.drop):
            database.drop()
    header = [
        "# Code lab",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on this machine "
        f"({os.cpu_count()} cores), `python -m bench.codelab`: uvicorn with one worker "
        "(DEBUG=1: with DEBUG=0 the secure cookies need HTTPS), one code-lab runner with "
        "2 slots, the site Redis, a private sandbox Redis "
        "with ACL users, Debian's bubblewrap.",
        "",
    ]
    RESULTS.write_text("\n".join(header + lines))
    print("\n".join(header + lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
