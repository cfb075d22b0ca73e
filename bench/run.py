"""``make bench`` / ``python -m bench.run [--smoke]``: the live fan-out benchmarks.

Starts what it measures (our site under uvicorn, the Channels peer under daphne, one
fresh server per measurement, pinned to core 0), drives it from this process pinned to
core 1, stops everything by itself, and writes ``bench/results/<name>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
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
from bench.load import Recorder, close_all, connect_viewers
from bench.servers import (
    LOAD_CORE,
    PEER_PYTHON,
    PEERS,
    ROOT,
    Server,
    ensure_peer_venv,
    peer_venv_ready,
    pin,
    start_ours,
    start_peer,
)
from bench.stats import ms, percentile, ratio

RESULTS = Path(__file__).resolve().parent / "results"
PROFILE_DIR: Path | None = None
TARGETS = ("ours", "channels-core", "channels-pubsub")
LABELS = {
    "ours": "ours (hub + SSE, uvicorn)",
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


FULL = Plan(2000, 0.002, 100, 100, 5.0, (1000, 5000, 10000), 50, 0.2, 10.0)
SMOKE = Plan(50, 0.002, 5, 20, 1.0, (20,), 5, 0.2, 2.0)


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def start(target: str, redis_url: str) -> Server:
    if target == "ours":
        return start_ours(redis_url=redis_url)
    return start_peer(redis_url=redis_url, layer=target.removeprefix("channels-"))


def publish(
    target: str, *, redis_url: str, feed: str, count: int, interval: float, size: int = 128
) -> dict[str, Any]:
    """Run the publisher in its own process (on the load core) and wait for it."""
    if target == "ours":
        cmd = [
            sys.executable,
            "-m",
            "bench.publish",
            "--redis",
            redis_url,
            "--channel",
            f"live:{feed}",
            "--count",
            str(count),
            "--interval",
            str(interval),
            "--size",
            str(size),
        ]
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
    if target == "ours":
        # Our site streams only feeds that exist (configured, or in live:feeds).
        with redis.Redis.from_url(redis_url) as client:
            client.sadd("live:feeds", feed)
    protocol = "sse" if target == "ours" else "ws"
    path = f"/live/{feed}/stream" if target == "ours" else f"/ws/live/{feed}/"
    recorder = Recorder(keep_samples=keep_samples)
    connected: list[Any] = []
    try:
        await asyncio.sleep(0.3)
        rss_before = server.rss_kb()
        started = time.monotonic()
        connected = await connect_viewers(
            host="127.0.0.1",
            port=server.port,
            path=path,
            count=viewers,
            protocol=protocol,
            recorder=recorder,
            timeout=max(60.0, viewers / 50),
        )
        connect_seconds = time.monotonic() - started
        await asyncio.sleep(1.0)  # let the server settle (viewer counts, GC)
        rss_idle = server.rss_kb()
        cpu_before, wall_before = server.cpu_seconds(), time.monotonic()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        client_before = usage.ru_utime + usage.ru_stime
        summary = await asyncio.to_thread(
            publish, target, redis_url=redis_url, feed=feed, count=count, interval=interval
        )
        deadline = time.monotonic() + settle
        expected = viewers * count
        while sum(recorder.deliveries.values()) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        cpu_after, wall_after = server.cpu_seconds(), time.monotonic()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = usage.ru_utime + usage.ru_stime - client_before
        rss_after = server.rss_kb()
        alive = sum(1 for v in connected if not v.lost)
    finally:
        close_all(connected)
        await asyncio.sleep(0.2)
        if profiler is not None:
            profiler.send_signal(2)
            profiler.wait(30)
        server.stop()
        if target == "ours":
            with redis.Redis.from_url(redis_url) as client:
                client.srem("live:feeds", feed)
    # Per update, publish to the last copy received. An update some viewers never got
    # still counts (to its last copy); the lost share is in delivered / expected.
    per_update = [
        recorder.last_arrival[s] - recorder.published[s] for s in sorted(recorder.last_arrival)
    ]
    delivered = sum(recorder.deliveries.values())
    return {
        "target": target,
        "viewers": viewers,
        "updates": count,
        "interval_s": interval,
        "connect_seconds": round(connect_seconds, 2),
        "viewers_still_connected": alive,
        "delivered": delivered,
        "expected": expected,
        "complete_updates": len(per_update),
        "latency_p50_ms": percentile(recorder.samples, 50),
        "latency_p99_ms": percentile(recorder.samples, 99),
        "latency_max_ms": max(recorder.samples) if recorder.samples else None,
        "last_viewer_p50_ms": percentile(per_update, 50),
        "last_viewer_p99_ms": percentile(per_update, 99),
        "last_viewer_max_ms": max(per_update) if per_update else None,
        "last_viewer_per_update_ms": [round(v, 2) for v in per_update],
        "server_cpu_pct": round(100 * (cpu_after - cpu_before) / (wall_after - wall_before), 1),
        # If the load generator is near 100% of its core, its own queueing is in the figures.
        "load_client_cpu_pct": round(100 * client_cpu / (wall_after - wall_before), 1),
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


def _fanout_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target | viewers | last viewer p50 | last viewer p99 | server CPU | load client CPU | "
        "KB / idle viewer | delivered / expected |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {LABELS[row['target']]} | {row['viewers']} | {ms(row.get('last_viewer_p50_ms'))} | "
            f"{ms(row.get('last_viewer_p99_ms'))} | {row.get('server_cpu_pct')}% | "
            f"{row.get('load_client_cpu_pct')}% | "
            f"{row.get('kb_per_viewer')} | {row['delivered']} / {row['expected']} |"
        )
    return lines


def _comparison(rows: list[dict[str, Any]], key: str, title: str) -> list[str]:
    lines = [
        f"| {title} | viewers | ours | better Channels layer | peer / ours |",
        "|---|---:|---:|---:|---:|",
    ]
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_size.setdefault(row["viewers"], {})[row["target"]] = row
    for size, found in sorted(by_size.items()):
        ours = found.get("ours", {}).get(key)
        peers = [
            (r.get(key), t) for t, r in found.items() if t != "ours" and r.get(key) is not None
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
    targets = ["ours"]
    if args.no_peer:
        print("bench: --no-peer, the Channels peer is left out", flush=True)
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
        targets += ["channels-core", "channels-pubsub"]
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
        {"machine": machine, "floor": floor_result, "latency": latency_rows, "fanout": fanout_rows},
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
    parser.add_argument("--no-peer", action="store_true", help="leave the Channels peer out")
    parser.add_argument("--max-viewers", type=int, default=0, help="cap the fan-out sizes")
    parser.add_argument("--sizes", help="fan-out sizes, comma separated (default by plan)")
    parser.add_argument("--targets", help="comma separated subset of " + ",".join(TARGETS))
    parser.add_argument("--skip", default="", help="scenarios to skip: floor,latency,fanout")
    parser.add_argument("--profile", help="directory for py-spy profiles of each server")
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
