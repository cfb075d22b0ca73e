"""``python -m bench.pages [--smoke]`` (in ``make bench``): the page path against a bare
Django view (issue 16).

Same server setup for every row: uvicorn, one worker, ``DEBUG=0``, pinned to core 0, a fresh
migrated SQLite database. ``wrk`` (a C client; ``apt-get install wrk``) drives it from core 1
at concurrency 20. Rows, side by side in one run:

- the bare floor: Django with no middleware returning the lesson page's HTML (fetched from
  the site first, so the size is the same) from an async and from a sync view, under
  Django's ASGI handler and (async) under the site's (``learnsite/asgihandler.py``);
- the site's whole stack (its ASGI layers and ``MIDDLEWARE``) around that same string;
- the home page and a lesson page, without cookies and with a learner's session (one that
  has marked the lesson read).

Each row is repeated; the table gives the median and the range, the ratio to the bare async
view's requests/s from the same run, the client's and the server's CPU, and the load
average, since the machine is shared. Results: ``bench/results/pages.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.servers import LOAD_CORE, ROOT, SERVER_CORE, Server, _wait_port, free_port, pin

RESULTS = Path(__file__).resolve().parent / "results"
LESSON = "publish-and-subscribe"  # the heaviest lesson: two predictions, a playground, a console


@dataclass(frozen=True)
class Plan:
    seconds: int
    warmup: int
    repeats: int
    connections: int


FULL = Plan(seconds=8, warmup=2, repeats=3, connections=20)
SMOKE = Plan(seconds=1, warmup=1, repeats=1, connections=4)


def migrated_database() -> str:
    path = Path(tempfile.mkdtemp(prefix="bench-pages-db-")) / "db.sqlite3"
    url = f"sqlite:///{path}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks", "-v", "0"],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": url},
        check=True,
    )
    return url


def collected_static(env: dict[str, str], settings: str = "bench.pages_settings") -> str:
    """The static files with their manifest (``DEBUG=0`` templates need it), in a directory
    of the bench's own (``settings`` reads it from ``BENCH_STATIC_ROOT``)."""
    root = tempfile.mkdtemp(prefix="bench-pages-static-")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=os.environ | env | {"DJANGO_SETTINGS_MODULE": settings, "BENCH_STATIC_ROOT": root},
        check=True,
    )
    return root


def start(name: str, *, settings: str, app: list[str], env: dict[str, str]) -> Server:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix=f"bench-pages-{name}-", suffix=".log")[1])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            *app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
            "--backlog",
            "4096",
        ],
        cwd=ROOT,
        env=os.environ | env | {"DJANGO_SETTINGS_MODULE": settings},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    pin(proc.pid, SERVER_CORE)
    server = Server(name, proc, port, log)
    _wait_port(server, timeout=60)
    return server


def learner_session(base: str) -> str:
    """A learner with a session: one read mark, so the pages have progress to show. (The
    cookies are marked Secure without DEBUG, so they are sent by hand over plain HTTP.)"""
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get(f"/lessons/{LESSON}/")
        page.raise_for_status()
        jar = dict(page.cookies.items())
        done = client.post(
            f"/lessons/{LESSON}/read/",
            data={"csrfmiddlewaretoken": jar["csrftoken"]},
            headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())},
        )
        if done.status_code >= 400:
            raise RuntimeError(f"could not make a session: {done.status_code}")
        jar |= dict(done.cookies.items())
        jar.pop("learner", None)  # kept in the session now
        if "sessionid" not in jar:
            raise RuntimeError("the read mark made no session")
        return "; ".join(f"{k}={v}" for k, v in jar.items())


_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_PCT = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, *, seconds: int, connections: int, cookie: str | None) -> dict[str, Any]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    if (os.cpu_count() or 1) >= 2:
        cmd = ["taskset", "-c", str(LOAD_CORE), *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.monotonic()
    done = subprocess.run([*cmd, url], capture_output=True, text=True, check=True)
    wall = time.monotonic() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = done.stdout
    rate = _RATE.search(out)
    pcts = {int(p): float(v) * _UNIT_MS[u] for p, v, u in _PCT.findall(out)}
    non_2xx = _NON_2XX.search(out)
    errors = _ERRORS.search(out)
    client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "rps": float(rate.group(1)) if rate else 0.0,
        "p50_ms": pcts.get(50),
        "p99_ms": pcts.get(99),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
        "client_cpu_pct": round(100 * client_cpu / wall, 1),
    }


def measure(server: Server, path: str, *, plan: Plan, cookie: str | None) -> dict[str, Any]:
    url = f"http://127.0.0.1:{server.port}{path}"
    wrk(url, seconds=plan.warmup, connections=plan.connections, cookie=cookie)
    cpu, wall = server.cpu_seconds(), time.monotonic()
    run = wrk(url, seconds=plan.seconds, connections=plan.connections, cookie=cookie)
    run["server_cpu_pct"] = round(100 * (server.cpu_seconds() - cpu) / (time.monotonic() - wall), 1)
    return run


ROWS: tuple[tuple[str, str, str, bool], ...] = (
    # (name, server, path, with the learner's session cookie)
    ("bare Django view, async (no middleware)", "bare", "/_bench/static-async", False),
    ("bare Django view, sync (no middleware)", "bare", "/_bench/static-sync", False),
    # Django's handler starts two threads per request; the site's lends one of its own.
    ("bare view, async, under the site's ASGI handler", "bare-site", "/_bench/static-async", False),
    ("site stack + the same string (async view)", "site", "/_bench/static-async", False),
    ("home page, cookie-less", "site", "/", False),
    ("home page, with a session", "site", "/", True),
    ("lesson page, cookie-less", "site", f"/lessons/{LESSON}/", False),
    ("lesson page, with a session", "site", f"/lessons/{LESSON}/", True),
)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def table(rows: list[dict[str, Any]], *, plan: Plan, load: tuple[str, str]) -> list[str]:
    floor = next((r["rps"] for r in rows if r["server"] == "bare"), None)
    lines = [
        "# Page serving against a bare Django view (issue 16)",
        "",
        f"uvicorn, one worker, `DEBUG=0`, pinned to core {SERVER_CORE}; `wrk -t2 "
        f"-c{plan.connections}` pinned to core {LOAD_CORE}, {plan.seconds} s per run after "
        f"{plan.warmup} s of warm-up, {plan.repeats} runs per row (median, range). "
        f"Lesson: `{LESSON}`. Page size: {rows[0]['bytes']} bytes.",
        "",
        f"Load average (1, 5, 15 min): {load[0]} at the start, {load[1]} at the end.",
        "",
        "| page | requests/s (range) | x bare async | p50 ms | p99 ms | non-2xx "
        "| server CPU % | server CPU ms per request | x bare async's CPU | client CPU % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    floor_cpu = next((r["cpu_ms"] for r in rows if r["server"] == "bare"), None)
    for row in rows:
        spread = f"{row['rps_min']:.0f}-{row['rps_max']:.0f}"
        times = f"{row['rps'] / floor:.2f}x" if floor else "n/a"
        cpu_times = f"{floor_cpu / row['cpu_ms']:.2f}x" if floor_cpu and row["cpu_ms"] else "n/a"
        lines.append(
            f"| {row['name']} | {row['rps']:.0f} ({spread}) | {times} | {_fmt(row['p50_ms'])} "
            f"| {_fmt(row['p99_ms'])} | {row['non_2xx'] + row['socket_errors']} "
            f"| {row['server_cpu_pct']:.0f} | {row['cpu_ms']:.2f} | {cpu_times} "
            f"| {row['client_cpu_pct']:.0f} |"
        )
    lines += [
        "",
        "Targets: lesson and home pages >= 0.8x the bare async view's requests/s, p99 < 40 ms "
        "at concurrency 20, with and without a session. Absolute figures move with the "
        "machine's load; the ratios come from the same run. The server's CPU time per "
        "request moves least with the load of a shared machine (a server that gets only "
        "part of its core serves fewer requests/s at the same cost each).",
    ]
    return lines


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(plan: Plan, out: Path, redis_url: str) -> list[dict[str, Any]]:
    if shutil.which("wrk") is None:
        raise SystemExit("bench.pages needs wrk: apt-get install -y wrk")
    load_start = _load()
    env = {
        "REDIS_URL": redis_url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": migrated_database(),
        "PYTHONUNBUFFERED": "1",
    }
    env["BENCH_STATIC_ROOT"] = collected_static(env)
    page_file = Path(tempfile.mkstemp(prefix="bench-page-", suffix=".html")[1])
    env["BENCH_PAGE_FILE"] = str(page_file)
    site = start(
        "site",
        settings="bench.pages_settings",
        app=["learnsite.asgi:application"],
        env=env,
    )
    servers = {"site": site}
    try:
        lesson = httpx.get(f"http://127.0.0.1:{site.port}/lessons/{LESSON}/", timeout=30)
        if lesson.status_code != 200:
            raise RuntimeError(f"lesson page answered {lesson.status_code}:\n{site.output()}")
        page_file.write_bytes(lesson.content)
        cookie = learner_session(f"http://127.0.0.1:{site.port}")
        # The site's server read the string file before it was written: restart it.
        site.stop()
        servers["site"] = start(
            "site",
            settings="bench.pages_settings",
            app=["learnsite.asgi:application"],
            env=env,
        )
        servers["bare"] = start(
            "bare",
            settings="bench.pages_bare_settings",
            app=["--factory", "django.core.asgi:get_asgi_application"],
            env=env,
        )
        servers["bare-site"] = start(
            "bare-site",
            settings="bench.pages_bare_settings",
            app=["--factory", "learnsite.asgihandler:get_asgi_application"],
            env=env,
        )
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in ROWS}
        for _repeat in range(plan.repeats):
            for name, server, path, with_session in ROWS:
                runs[name].append(
                    measure(
                        servers[server],
                        path,
                        plan=plan,
                        cookie=cookie if with_session else None,
                    )
                )
                print(f"bench.pages: {name}: {runs[name][-1]}", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    rows = []
    for name, server, path, with_session in ROWS:
        each = runs[name]
        rates = [r["rps"] for r in each]
        rows.append(
            {
                "name": name,
                "server": server,
                "path": path,
                "session": with_session,
                "bytes": len(lesson.content),
                "rps": statistics.median(rates),
                "rps_min": min(rates),
                "rps_max": max(rates),
                "p50_ms": statistics.median(r["p50_ms"] or 0 for r in each),
                "p99_ms": statistics.median(r["p99_ms"] or 0 for r in each),
                "non_2xx": sum(r["non_2xx"] for r in each),
                "socket_errors": sum(r["socket_errors"] for r in each),
                "server_cpu_pct": statistics.median(r["server_cpu_pct"] for r in each),
                "cpu_ms": statistics.median(
                    10 * r["server_cpu_pct"] / r["rps"] if r["rps"] else 0.0 for r in each
                ),
                "client_cpu_pct": statistics.median(r["client_cpu_pct"] for r in each),
                "runs": each,
            }
        )
    load = (load_start, _load())
    out.mkdir(parents=True, exist_ok=True)
    (out / "pages.md").write_text("\n".join(table(rows, plan=plan, load=load)) + "\n")
    (out / "pages.json").write_text(
        json.dumps({"plan": plan.__dict__, "load": load, "rows": rows}, indent=2) + "\n"
    )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="one short run per row")
    parser.add_argument("--out", help="results directory (default bench/results)")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--seconds", type=int, help="seconds per run (default by plan)")
    parser.add_argument("--repeats", type=int, help="runs per row (default by plan)")
    args = parser.parse_args()
    plan = SMOKE if args.smoke else FULL
    if args.seconds or args.repeats:
        plan = Plan(
            args.seconds or plan.seconds,
            plan.warmup,
            args.repeats or plan.repeats,
            plan.connections,
        )
    out = Path(args.out) if args.out else (RESULTS / "smoke" if args.smoke else RESULTS)
    rows = run(plan, out, args.redis)
    print("\n".join(table(rows, plan=plan, load=("", ""))[8:]))
    print(f"bench.pages: wrote {out / 'pages.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
