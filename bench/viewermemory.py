"""``python -m bench.viewermemory [--viewers N]``: where an idle live viewer's memory goes.

Starts the site as ``bench.run`` does (uvicorn, one worker, ``DEBUG=0``), connects ``N``
idle viewers to one feed and compares two ``tracemalloc`` snapshots of the server taken
before and after (``bench/tracehook``): every block allocated for the viewers is put down
to the innermost frame of ours (``live/``, ``learnsite/``) or of uvicorn that made it. Prints
the split per viewer, and the server's RSS per viewer beside it (with tracemalloc's own
bookkeeping in it, so higher than ``bench.run``'s figure), and writes them to
``bench/results/viewermemory.md`` and ``.json`` (``--out``). Issue 16: memory per idle
viewer against nchan's."""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import redis

from bench.run import raise_nofile
from bench.servers import ROOT, start_ours

HOOK = Path(__file__).resolve().parent / "tracehook"
RESULTS = Path(__file__).resolve().parent / "results"


def owner(trace: tracemalloc.Traceback) -> tuple[str, str]:
    for frame in reversed(trace):  # the most recent frame first
        name = frame.filename
        if "site-packages" not in name and name.startswith(str(ROOT)):
            return "ours", f"{Path(name).relative_to(ROOT)}:{frame.lineno}"
        if "/uvicorn/" in name:
            return "uvicorn", f"uvicorn/{name.split('/uvicorn/', 1)[1]}:{frame.lineno}"
    return "other", f"{Path(trace[-1].filename).name}:{trace[-1].lineno}"


async def crowd(port: int, path: str, count: int) -> list[asyncio.StreamWriter]:
    async def one() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        await reader.read(100)  # the response has started: the viewer is in
        return writer

    writers: list[asyncio.StreamWriter] = []
    for start in range(0, count, 100):
        writers += await asyncio.gather(*(one() for _ in range(min(100, count - start))))
    return writers


def wait_for(path: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() or path.stat().st_size == 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"no snapshot at {path}")
        time.sleep(0.2)
    time.sleep(1)  # written in full


async def measure(viewers: int, redis_url: str) -> dict[str, object]:
    out = Path(tempfile.mkdtemp(prefix="bench-viewermemory-"))
    server = start_ours(
        redis_url=redis_url,
        extra_env={"PYTHONPATH": str(HOOK), "BENCH_TRACEMALLOC": str(out)},
    )
    feed = f"bench-{uuid.uuid4().hex[:8]}"
    with redis.Redis.from_url(redis_url) as client:
        client.sadd("live:feeds", feed)
    path = f"/live/{feed}/stream"
    try:
        warm = await crowd(server.port, path, 20)  # the feed's subscription, first-use caches
        await asyncio.sleep(1.5)
        os.kill(server.proc.pid, signal.SIGUSR1)
        await asyncio.sleep(0.5)
        os.kill(server.proc.pid, signal.SIGUSR2)
        wait_for(out / "snap-1.bin")
        rss_before = server.rss_kb()
        writers = await crowd(server.port, path, viewers)
        await asyncio.sleep(3)
        rss_after = server.rss_kb()
        os.kill(server.proc.pid, signal.SIGUSR2)
        wait_for(out / "snap-2.bin")
        for writer in writers + warm:
            writer.close()
    finally:
        server.stop()
    before = tracemalloc.Snapshot.load(str(out / "snap-1.bin"))
    after = tracemalloc.Snapshot.load(str(out / "snap-2.bin"))
    by_side: collections.Counter[str] = collections.Counter()
    by_line: collections.Counter[tuple[str, str]] = collections.Counter()
    for diff in after.compare_to(before, "traceback"):
        side, where = owner(diff.traceback)
        by_side[side] += diff.size_diff
        by_line[(side, where)] += diff.size_diff
    return {
        "viewers": viewers,
        "rss_kb_per_viewer": round((rss_after - rss_before) / viewers, 2),
        "python_kb_per_viewer": round(sum(by_side.values()) / viewers / 1024, 2),
        "kb_per_viewer_by_side": {
            side: round(size / viewers / 1024, 2) for side, size in by_side.most_common()
        },
        "largest_bytes_per_viewer": [
            [side, where, round(size / viewers)] for (side, where), size in by_line.most_common(25)
        ],
    }


def table(found: dict[str, Any]) -> list[str]:
    lines = [
        "# Where an idle live viewer's memory goes (issue 16)",
        "",
        f"`python -m bench.viewermemory --viewers {found['viewers']}`: the site under uvicorn "
        "(one worker, `DEBUG=0`), that many idle viewers of one feed, two `tracemalloc` "
        "snapshots of the server before and after. Each block allocated for the viewers is put "
        "down to the innermost frame of ours or of uvicorn that made it.",
        "",
        f"Python blocks per viewer: **{found['python_kb_per_viewer']} KB**; the server's RSS "
        f"per viewer, tracemalloc's own bookkeeping included: {found['rss_kb_per_viewer']} KB "
        "(`bench.run` measures it without: see `fanout.md`).",
        "",
        "| made by | KB per viewer |",
        "|---|---:|",
        *(f"| {side} | {kb} |" for side, kb in found["kb_per_viewer_by_side"].items()),
        "",
        "| bytes per viewer | made by | where |",
        "|---:|---|---|",
        *(
            f"| {size} | {side} | `{where}` |"
            for side, where, size in found["largest_bytes_per_viewer"]
        ),
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=3000)
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    raise_nofile()
    found = asyncio.run(measure(args.viewers, args.redis_url))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "viewermemory.json").write_text(json.dumps(found, indent=2) + "\n")
    lines = table(found)
    (args.out / "viewermemory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
