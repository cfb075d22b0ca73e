"""``make bench`` / ``python -m bench.run [--smoke]``: the live fan-out benchmarks.

Starts what it measures (our site under uvicorn, the floor, nginx + nchan, the edge mode,
the Django peers: django-eventstream under uvicorn and Channels under daphne; one
fresh server per measurement, pinned to core 0), drives it from this process pinned to
core 1, stops everything by itself, and writes ``bench/results/<name>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench import floor
from bench.cload import CLoadGroup, build
from bench.load import Recorder, close_all, connect_viewers
from bench.servers import (
    LOAD_CORE,
    PEER_PYTHON,
    PEERS,
    ROOT,
    Server,
    ensure_peer_venv,
    nchan_missing,
    peer_venv_ready,
    pin,
    start_edge,
    start_eventstream,
    start_floor,
    start_nchan,
    start_ours,
    start_peer,
)
from bench.stats import ms, percentile, ratio

RESULTS = Path(__file__).resolve().parent / "results"
PROFILE_DIR: Path | None = None
PEER_TARGETS = ("eventstream", "channels-core", "channels-pubsub")  # the Django peers
C_CLIENT: Path | None = None  # bench/sseload.c built, or None: the Python client
TARGETS = (
    "ours",
    "ours-asgi",
    "ours-2w",
    "floor",
    "nchan",
    "edge",
    "eventstream",
    "channels-core",
    "channels-pubsub",
)
LABELS = {
    "ours": "ours (hub + SSE, uvicorn)",
    "ours-asgi": "ours, plain ASGI send (LIVE_DIRECT_WRITE=off)",
    "ours-2w": "ours, 2 uvicorn workers",
    "floor": "floor: minimal uvloop SSE server",
    "nchan": "nginx + nchan, 1 worker",
    "edge": "edge mode: nchan + our relay (LIVE_EDGE=nchan)",
    "eventstream": "django-eventstream 5 (uvicorn, EVENTSTREAM_REDIS)",
    "channels-core": "Channels RedisChannelLayer (daphne)",
    "channels-pubsub": "Channels RedisPubSubChannelLayer (daphne)",
}


@dataclass(frozen=True)
class Plan:
    floor_messages: int
    floor_interval: float
    latency_viewers: int
    latency_rate: int
    latency_seconds: float
    fanout_sizes: tuple[int, ...]
    fanout_updates: int
    fanout_interval: float
    settle: float  # seconds to wait after the last publish for stragglers
    peer_max_viewers: int  # the Django peers' largest fan-out


# 19,000: the most one server process can hold here (20,000 open files per process).
FULL = Plan(2000, 0.002, 100, 100, 5.0, (1000, 5000, 10000, 19000), 50, 0.2, 10.0, 5000)
SMOKE = Plan(50, 0.002, 5, 20, 1.0, (20,), 5, 0.2, 2.0, 20)


def raise_nofile() -> int:
    """As many open files as allowed (every server started inherits it): 131,072 where
    the harness may raise the hard limit (root), else up to the hard limit."""
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (131072, 131072))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def start(target: str, redis_url: str) -> Server:
    if target == "ours":
        return start_ours(redis_url=redis_url)
    if target == "ours-asgi":
        return start_ours(
            redis_url=redis_url,
            extra_env={"LIVE_DIRECT_WRITE": "off"},
            name="ours, plain ASGI send",
        )
    if target == "ours-2w":
        return start_ours(redis_url=redis_url, workers=2, name="ours, 2 workers")
    if target == "floor":
        return start_floor(redis_url=redis_url)
    if target == "nchan":
        return start_nchan()
    if target == "edge":
        return start_edge(redis_url=redis_url)
    if target == "eventstream":
        return start_eventstream(redis_url=redis_url)
    return start_peer(redis_url=redis_url, layer=target.removeprefix("channels-"))


def publish(
    target: str,
    *,
    redis_url: str,
    feed: str,
    count: int,
    interval: float,
    port: int,
    size: int = 128,
) -> dict[str, Any]:
    """Run the publisher in its own process (on the load core) and wait for it."""
    if target == "eventstream":
        cmd = [str(PEER_PYTHON), str(PEERS / "publish_eventstream.py"), "--feed", feed]
        cmd += ["--count", str(count), "--interval", str(interval), "--size", str(size)]
        cwd = PEERS
        env = os.environ | {"REDIS_URL": redis_url}
    elif not target.startswith("channels-"):
        cmd = [
            sys.executable,
            "-m",
            "bench.publish",
            "--count",
            str(count),
            "--interval",
            str(interval),
            "--size",
            str(size),
        ]
        if target == "nchan":  # nchan's own publisher endpoint (HTTP, keep-alive)
            cmd += ["--http", f"http://127.0.0.1:{port}/pub/{feed}"]
        else:
            cmd += ["--redis", redis_url, "--channel", f"live:{feed}"]
        cwd, env = ROOT, os.environ
    else:
        cmd = [
            str(PEER_PYTHON),
            str(PEERS / "publish.py"),
            "--feed",
            feed,
            "--count",
            str(count),
            "--interval",
            str(interval),
            "--size",
            str(size),
        ]
        cwd = PEERS
        env = os.environ | {
            "REDIS_URL": redis_url,
            "PEER_LAYER": target.removeprefix("channels-"),
            "DJANGO_SETTINGS_MODULE": "channels_app.settings",
        }
    return _spawn_json(cmd, cwd, env)


def _spawn_json(cmd: list[str], cwd: Path, env: Any) -> dict[str, Any]:
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pin(proc.pid, LOAD_CORE)
    # Keep our event loop out of it: the caller runs this in a thread.
    out, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"publisher failed: {err.decode(errors='replace')[-2000:]}")
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


class PyLoad:
    """The Python client (``bench/load.py``) in this process, behind CLoad's interface."""

    def __init__(self, viewers: list[Any], recorder: Recorder, connect_seconds: float) -> None:
        self.viewers, self.recorder, self.connect_seconds = viewers, recorder, connect_seconds

    @classmethod
    async def start(
        cls,
        *,
        port: int,
        path: str,
        count: int,
        protocol: str,
        keep_samples: bool,
        timeout: float,
    ) -> PyLoad:
        recorder = Recorder(keep_samples=keep_samples)
        started = time.monotonic()
        viewers = await connect_viewers(
            host="127.0.0.1",
            port=port,
            path=path,
            count=count,
            protocol=protocol,
            recorder=recorder,
            timeout=timeout,
        )
        return cls(viewers, recorder, time.monotonic() - started)

    async def delivered(self) -> int:
        return sum(self.recorder.deliveries.values())

    def cpu_seconds(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    async def stop(self) -> dict[str, Any]:
        alive = sum(1 for v in self.viewers if not v.lost)
        close_all(self.viewers)
        r = self.recorder
        return {
            "alive": alive,
            "updates": [
                [s, r.deliveries[s], r.published[s], r.last_arrival[s]]
                for s in sorted(r.deliveries)
            ],
            "samples": r.samples,
        }


def viewers_per_worker(server: Server) -> list[int]:
    """Established connections on the server's port, per serving process (from the socket
    inodes in /proc/net/tcp and each process's fds)."""
    port = f"{server.port:04X}"
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port}") and fields[3] == "01":  # local port, ESTABLISHED
            inodes.add(fields[9])
    counts = []
    for pid in server.workers():
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        n = sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in inodes)
        if n:
            counts.append(n)
    return counts


async def measure(
    target: str,
    *,
    redis_url: str,
    viewers: int,
    count: int,
    interval: float,
    keep_samples: bool,
    settle: float,
) -> dict[str, Any]:
    """One fresh server, ``viewers`` connected, ``count`` updates published."""
    server = start(target, redis_url)
    profiler = None
    if PROFILE_DIR is not None:
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
        profiler = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(server.proc.pid),
                "--subprocesses",
                "--rate",
                "250",
                "--format",
                "raw",
                "--nonblocking",
                "-o",
                str(PROFILE_DIR / f"{target}-{viewers}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    feed = f"bench-{uuid.uuid4().hex[:8]}"
    if target.startswith("ours"):
        # Our site streams only feeds that exist (configured, or in live:feeds).
        with redis.Redis.from_url(redis_url) as client:
            client.sadd("live:feeds", feed)
    protocol = "ws" if target.startswith("channels-") else "sse"
    path = f"/ws/live/{feed}/" if protocol == "ws" else f"/live/{feed}/stream"
    load: Any = None
    timeout = max(60.0, viewers / 50)
    try:
        await asyncio.sleep(0.3)
        rss_before = server.rss_kb()
        crowd: dict[str, Any] = {
            "port": server.port,
            "path": path,
            "count": viewers,
            "protocol": protocol,
            "keep_samples": keep_samples,
            "timeout": timeout,
        }
        if C_CLIENT is not None:
            load = await CLoadGroup.start(binary=C_CLIENT, host="127.0.0.1", **crowd)
        else:
            load = await PyLoad.start(**crowd)
        connect_seconds = load.connect_seconds
        await asyncio.sleep(1.0)  # let the server settle (viewer counts, GC)
        rss_idle = server.rss_kb()
        per_worker = viewers_per_worker(server)
        (user_before, sys_before), wall_before = server.cpu_split(), time.monotonic()
        client_before = load.cpu_seconds()
        summary = await asyncio.to_thread(
            publish,
            target,
            redis_url=redis_url,
            feed=feed,
            count=count,
            interval=interval,
            port=server.port,
        )
        deadline = time.monotonic() + settle
        expected = viewers * count
        while await load.delivered() < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        (user_after, sys_after), wall_after = server.cpu_split(), time.monotonic()
        client_cpu = load.cpu_seconds() - client_before
        rss_after = server.rss_kb()
        result = await load.stop()
        load = None
    finally:
        if load is not None:
            with contextlib.suppress(Exception):
                await load.stop()
        await asyncio.sleep(0.2)
        if profiler is not None:
            profiler.send_signal(2)
            profiler.wait(30)
        server.stop()
        if target.startswith("ours"):
            with redis.Redis.from_url(redis_url) as client:
                client.srem("live:feeds", feed)
    updates = result["updates"]  # [seq, copies, published ms, last arrival ms]
    samples = result["samples"]
    # Per update, publish to the last copy received. An update some viewers never got
    # still counts (to its last copy); the lost share is in delivered / expected.
    per_update = [last - published for _seq, _n, published, last in updates]
    delivered = sum(n for _seq, n, _p, _l in updates)
    wall = wall_after - wall_before
    user, system = user_after - user_before, sys_after - sys_before
    return {
        "target": target,
        "client": "c" if C_CLIENT is not None else "python",
        "viewers": viewers,
        "updates": count,
        "interval_s": interval,
        "connect_seconds": round(connect_seconds, 2),
        "viewers_still_connected": result.get("alive"),
        "viewers_per_worker": per_worker,
        "delivered": delivered,
        "expected": expected,
        "complete_updates": len(per_update),
        "latency_p50_ms": percentile(samples, 50),
        "latency_p99_ms": percentile(samples, 99),
        "latency_max_ms": max(samples) if samples else None,
        "last_viewer_p50_ms": percentile(per_update, 50),
        "last_viewer_p99_ms": percentile(per_update, 99),
        "last_viewer_max_ms": max(per_update) if per_update else None,
        "last_viewer_per_update_ms": [round(v, 2) for v in per_update],
        "server_cpu_pct": round(100 * (user + system) / wall, 1),
        # CPU microseconds per delivery, user and system apart: the figure that holds
        # across machines and runs (latencies move with the machine's load).
        "user_us_per_delivery": round(1e6 * user / delivered, 2) if delivered else None,
        "sys_us_per_delivery": round(1e6 * system / delivered, 2) if delivered else None,
        "deliveries_per_cpu_second": round(delivered / (user + system)) if user + system else None,
        # If the load generator is near 100% of its core, its own queueing is in the figures.
        "load_client_cpu_pct": round(100 * client_cpu / wall, 1),
        "rss_before_kb": rss_before,
        "rss_idle_kb": rss_idle,
        "rss_after_kb": rss_after,
        "kb_per_viewer": round((rss_idle - rss_before) / viewers, 2) if viewers else None,
        "publisher": summary,
    }


def _latency_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target | viewers | p50 | p99 | max | delivered / expected |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {LABELS[row['target']]} | {row['viewers']} | {ms(row.get('latency_p50_ms'))} | "
            f"{ms(row.get('latency_p99_ms'))} | {ms(row.get('latency_max_ms'))} | "
            f"{row['delivered']} / {row['expected']} |"
        )
    return lines


def _us(row: dict[str, Any]) -> str:
    user, system = row.get("user_us_per_delivery"), row.get("sys_us_per_delivery")
    if user is None or system is None:
        return "-"
    return f"{user + system:.1f} ({user:.1f} + {system:.1f})"


def _fanout_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target | viewers | connect | last viewer p50 | last viewer p99 | server CPU | "
        "server CPU us / delivery (user + sys) | load client CPU | KB / idle viewer | "
        "viewers per worker | delivered / expected |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(
                f"| {LABELS[row['target']]} | {row['viewers']} | failed: "
                f"{str(row['error'])[:120]} | | | | | | | | |"
            )
            continue
        split = "/".join(str(n) for n in row.get("viewers_per_worker") or [])
        lines.append(
            f"| {LABELS[row['target']]} | {row['viewers']} | {row.get('connect_seconds')} s | "
            f"{ms(row.get('last_viewer_p50_ms'))} | {ms(row.get('last_viewer_p99_ms'))} | "
            f"{row.get('server_cpu_pct')}% | {_us(row)} | {row.get('load_client_cpu_pct')}% | "
            f"{row.get('kb_per_viewer')} | {split} | {row['delivered']} / {row['expected']} |"
        )
    return lines


def _side_by_side(rows: list[dict[str, Any]]) -> list[str]:
    """Per fan-out size, the figures that hold across runs: CPU per delivery and memory
    per idle viewer, ours beside the floor and nchan from the same run."""
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if "error" not in row and row.get("delivered"):
            by_size.setdefault(row["viewers"], {})[row["target"]] = row

    def us(row: dict[str, Any] | None) -> float | None:
        if row is None or row.get("user_us_per_delivery") is None:
            return None
        return float(row["user_us_per_delivery"]) + float(row["sys_us_per_delivery"])

    def x(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}x" if a is not None and b else "-"

    lines = [
        "| viewers | floor us | nchan us | edge mode us | ours us | ours, plain ASGI us | "
        "plain ASGI / ours (target <= 1.2x) | ours / nchan | "
        "KB per idle viewer: floor / nchan / ours |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, found in sorted(by_size.items()):
        floor_us, nchan_us = us(found.get("floor")), us(found.get("nchan"))
        edge_us = us(found.get("edge"))
        ours_us, asgi_us = us(found.get("ours")), us(found.get("ours-asgi"))
        kb = " / ".join(
            str(found[t]["kb_per_viewer"]) if t in found else "-"
            for t in ("floor", "nchan", "ours")
        )
        lines.append(
            f"| {size} | {_f(floor_us)} | {_f(nchan_us)} | {_f(edge_us)} | {_f(ours_us)} | "
            f"{_f(asgi_us)} | "
            f"{x(asgi_us, ours_us)} | {x(ours_us, nchan_us)} | {kb} |"
        )
    return lines


def _workers(rows: list[dict[str, Any]]) -> list[str]:
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if "error" not in row and row.get("delivered"):
            by_size.setdefault(row["viewers"], {})[row["target"]] = row
    lines = [
        "| viewers | 1 worker: last viewer p99, CPU | 2 workers: last viewer p99, CPU | "
        "viewers per worker | deliveries per CPU second, 1 / 2 workers |",
        "|---:|---:|---:|---:|---:|",
    ]
    for size, found in sorted(by_size.items()):
        one, two = found.get("ours"), found.get("ours-2w")
        if one is None or two is None:
            continue
        lines.append(
            f"| {size} | {ms(one.get('last_viewer_p99_ms'))}, {one['server_cpu_pct']}% | "
            f"{ms(two.get('last_viewer_p99_ms'))}, {two['server_cpu_pct']}% | "
            f"{'/'.join(str(n) for n in two.get('viewers_per_worker') or [])} | "
            f"{one.get('deliveries_per_cpu_second')} / {two.get('deliveries_per_cpu_second')} |"
        )
    return lines


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _comparison(rows: list[dict[str, Any]], key: str, title: str) -> list[str]:
    lines = [
        f"| {title} | viewers | ours | best Django peer | peer / ours |",
        "|---|---:|---:|---:|---:|",
    ]
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_size.setdefault(row["viewers"], {})[row["target"]] = row
    for size, found in sorted(by_size.items()):
        ours = found.get("ours", {}).get(key)
        peers = [
            (r.get(key), t)
            for t, r in found.items()
            if t in PEER_TARGETS and r.get(key) is not None
        ]
        best = min(peers) if peers else (None, "")
        label = LABELS.get(best[1], "no peer figure")
        row = found.get(best[1], {})
        if row and row["delivered"] != row["expected"]:
            lost = 100 * (1 - row["delivered"] / max(1, row["expected"]))
            label += f", {lost:.0f}% of deliveries missing at the end of the wait"
        lines.append(
            f"| {key} | {size} | {ms(ours)} | {ms(best[0])} ({label}) | {ratio(ours, best[0])} |"
        )
    return lines


def write(name: str, out: Path, data: Any, lines: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")


async def _catch(coro_factory: Callable[[], Any], target: str, **info: Any) -> dict[str, Any]:
    try:
        return dict(await coro_factory())
    except Exception as exc:  # a peer that falls over is a result, not a crash
        print(f"bench: {target} {info} failed: {exc}", flush=True)
        return {"target": target, **info, "error": str(exc)[-500:], "delivered": 0, "expected": 0}


async def main_async(args: argparse.Namespace) -> int:
    plan = SMOKE if args.smoke else FULL
    out = Path(args.out) if args.out else RESULTS
    redis_url = args.redis
    targets = ["ours", "ours-asgi", "ours-2w", "floor"]
    skipped: list[str] = []
    why_not_nchan = nchan_missing()
    if why_not_nchan is None:
        targets += ["nchan", "edge"]
    else:
        skipped.append(f"{LABELS['nchan']} and {LABELS['edge']}: not run, {why_not_nchan}")
    global C_CLIENT
    try:
        C_CLIENT = None if args.python_client else build()
    except subprocess.CalledProcessError as exc:
        print(f"bench: the C load client did not build: {exc.stderr.decode()[-1000:]}", flush=True)
        C_CLIENT = None
    if C_CLIENT is None:
        skipped.append(
            "the C load client (bench/sseload.c): not used"
            + (" (--python-client)" if args.python_client else ", no C compiler found")
            + "; every row is measured with the Python client"
        )
    if args.no_peer:
        print("bench: --no-peer, the Django peers are left out", flush=True)
    elif (
        args.smoke
        and not peer_venv_ready()
        and os.environ.get("CI", "").lower() not in ("1", "true", "yes")
    ):
        print(
            "bench: smoke without the peer (bench/peers/.venv is absent; `make bench` installs it)",
            flush=True,
        )
    else:
        ensure_peer_venv()
        targets += ["eventstream", "channels-core", "channels-pubsub"]
    for line in skipped:
        print(f"bench: skipped {line}", flush=True)
    if args.targets:
        targets = [t for t in targets if t in args.targets.split(",")]
    skip = set(args.skip.split(",")) if args.skip else set()
    sizes = tuple(int(n) for n in args.sizes.split(",")) if args.sizes else plan.fanout_sizes
    if args.max_viewers:
        sizes = tuple(n for n in sizes if n <= args.max_viewers)
    global PROFILE_DIR
    PROFILE_DIR = Path(args.profile) if args.profile else None
    started = time.monotonic()
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "nofile": raise_nofile(),
        "smoke": args.smoke,
        # Other work on the machine skews every figure: say how busy it was.
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"bench: {machine}", flush=True)

    # 1. The floor.
    floor_result = floor.run(
        redis_url=redis_url,
        messages=plan.floor_messages if "floor" not in skip else 1,
        interval=plan.floor_interval,
    )
    write(
        "floor",
        out,
        {"machine": machine, **floor_result},
        [
            "# Floor: raw redis-py PUBLISH to a subscriber",
            "",
            f"{floor_result['messages']} messages, one every {plan.floor_interval * 1000:.0f} ms, "
            "one process (publisher thread and subscriber thread).",
            "",
            "| p50 | p99 | max | delivered |",
            "|---:|---:|---:|---:|",
            f"| {ms(floor_result['p50_ms'])} | {ms(floor_result['p99_ms'])} | "
            f"{ms(floor_result['max_ms'])} | {floor_result['delivered']} / "
            f"{floor_result['messages']} |",
        ],
    )
    print(f"bench: floor {floor_result}", flush=True)

    # 2. Latency: 100 viewers, 100 updates/s.
    latency_rows = []
    count = int(plan.latency_rate * plan.latency_seconds)
    for target in targets if "latency" not in skip else ():
        row = await _catch(
            lambda t=target: measure(
                t,
                redis_url=redis_url,
                viewers=plan.latency_viewers,
                count=count,
                interval=1 / plan.latency_rate,
                keep_samples=True,
                settle=plan.settle,
            ),
            target,
            viewers=plan.latency_viewers,
        )
        print(
            f"bench: latency {target}: p50={ms(row.get('latency_p50_ms'))} "
            f"p99={ms(row.get('latency_p99_ms'))} {row['delivered']}/{row['expected']}",
            flush=True,
        )
        latency_rows.append(row)
    write(
        "latency",
        out,
        {"machine": machine, "rows": latency_rows},
        [
            "# Latency: publish to viewer",
            "",
            f"{plan.latency_viewers} viewers of one feed, {plan.latency_rate} updates/s for "
            f"{plan.latency_seconds:g} s, 128-byte bodies.",
            "",
            *_latency_table(latency_rows),
            "",
            *_comparison(latency_rows, "latency_p99_ms", "metric"),
        ],
    )

    # 3. Fan-out.
    fanout_rows = []
    for size in sizes if "fanout" not in skip else ():
        for target in targets:
            if target in PEER_TARGETS and size > plan.peer_max_viewers:
                continue  # they lose most deliveries from 5,000 viewers on (see the table)
            row = await _catch(
                lambda t=target, n=size: measure(
                    t,
                    redis_url=redis_url,
                    viewers=n,
                    count=plan.fanout_updates,
                    interval=plan.fanout_interval,
                    keep_samples=False,
                    settle=plan.settle,
                ),
                target,
                viewers=size,
            )
            print(
                f"bench: fanout {target} x{size}: last-viewer "
                f"p50={ms(row.get('last_viewer_p50_ms'))} "
                f"p99={ms(row.get('last_viewer_p99_ms'))} cpu={row.get('server_cpu_pct')}% "
                f"kb/viewer={row.get('kb_per_viewer')} {row['delivered']}/{row['expected']}",
                flush=True,
            )
            fanout_rows.append(row)
    write(
        "fanout",
        out,
        {"machine": machine, "rows": fanout_rows},
        [
            "# Fan-out: time until the last viewer has each update",
            "",
            f"One update every {plan.fanout_interval * 1000:.0f} ms, "
            f"{plan.fanout_updates} updates; per update, the time from publish until the last "
            "viewer received it.",
            "",
            *_fanout_table(fanout_rows),
            "",
            *_comparison(fanout_rows, "last_viewer_p99_ms", "metric"),
            "",
            "## Side by side: CPU per delivery and memory per idle viewer",
            "",
            *_side_by_side(fanout_rows),
            "",
            "## One worker and two",
            "",
            *_workers(fanout_rows),
        ],
    )

    summary = [
        "# Live fan-out benchmarks" + (" (smoke)" if args.smoke else ""),
        "",
        f"Machine: {machine['cpus']} CPUs, Python {machine['python']}, "
        f"{machine['platform']}. Server pinned to core 0; load generator and publisher to "
        "core 1; Redis unpinned. Each row is a fresh server process. Load average at the "
        f"start {machine['loadavg_at_start']}, at the end "
        f"{[round(x, 2) for x in os.getloadavg()]} (other work on the machine shows up in "
        "the tails).",
        "",
        "## 1. Floor (raw redis-py)",
        "",
        f"p50 {ms(floor_result['p50_ms'])}, p99 {ms(floor_result['p99_ms'])}",
        "",
        "## 2. Latency",
        "",
        *_latency_table(latency_rows),
        "",
        *_comparison(latency_rows, "latency_p99_ms", "metric"),
        "",
        "## 3. Fan-out",
        "",
        *_fanout_table(fanout_rows),
        "",
        *_comparison(fanout_rows, "last_viewer_p99_ms", "metric"),
        "",
        "### Side by side: CPU per delivery and memory per idle viewer",
        "",
        *_side_by_side(fanout_rows),
        "",
        "### One worker and two",
        "",
        *_workers(fanout_rows),
        "",
        *(f"- skipped: {line}" for line in skipped),
        "",
        "Reading the tables: latency is publish (the `ts` stamped by the publisher) to the "
        'moment the load client read the bytes. "Last viewer" is, per update, publish to the '
        "last copy received; for an update that did not reach every viewer it is the last copy "
        f"that did. After the last publish the harness waits up to {plan.settle:g} s; "
        'deliveries still missing then count as not delivered. "peer / ours" above 1 means '
        "ours is that many times faster.",
        "",
        f"Total run time {time.monotonic() - started:.0f} s.",
    ]
    write(
        "summary",
        out,
        {
            "machine": machine,
            "floor": floor_result,
            "latency": latency_rows,
            "fanout": fanout_rows,
            "skipped": skipped,
        },
        summary,
    )
    print("\n".join(summary), flush=True)
    failures = [
        r
        for r in latency_rows + fanout_rows
        if r["target"] == "ours" and ("error" in r or r["delivered"] != r["expected"])
    ]
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny numbers, under a minute")
    parser.add_argument("--out", help="results directory (default bench/results)")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--no-peer", action="store_true", help="leave the Django peers out")
    parser.add_argument("--max-viewers", type=int, default=0, help="cap the fan-out sizes")
    parser.add_argument("--sizes", help="fan-out sizes, comma separated (default by plan)")
    parser.add_argument("--targets", help="comma separated subset of " + ",".join(TARGETS))
    parser.add_argument("--skip", default="", help="scenarios to skip: floor,latency,fanout")
    parser.add_argument("--profile", help="directory for py-spy profiles of each server")
    parser.add_argument(
        "--python-client", action="store_true", help="drive the viewers from Python, not C"
    )
    args = parser.parse_args()
    if (os.cpu_count() or 1) >= 2:
        pin(os.getpid(), LOAD_CORE)
    raise_nofile()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.smoke and not args.out:
        args.out = str(RESULTS / "smoke")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
