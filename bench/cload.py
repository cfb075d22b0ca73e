"""The C load client (``bench/sseload.c``), built once with the machine's gcc and driven
over its stdin/stdout line protocol. Where no C compiler is found the harness falls back
to the Python client (``bench/load.py``) and says so in every row (``client``)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.servers import BENCH_DIR, LOAD_CORE, pin, process_cpu

SOURCE = BENCH_DIR / "sseload.c"
BINARY = BENCH_DIR / ".build" / "sseload"


def build() -> Path | None:
    """The client binary, rebuilt when its source is newer; None without a compiler."""
    if BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return BINARY
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        return None
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [compiler, "-O2", "-Wall", "-o", str(BINARY), str(SOURCE)],
        check=True,
        capture_output=True,
    )
    return BINARY


# Viewers per client process: every process here may hold at most RLIMIT_NOFILE files
# (20,000 on this machine, and only root may raise it), so larger crowds are split.
PER_PROCESS = 9000


class CLoadGroup:
    """``count`` viewers split over as many C processes as the open-files limit needs,
    all on the load core; their results are merged as if they were one client."""

    def __init__(self, parts: list[CLoad]) -> None:
        self.parts = parts
        self.connect_seconds = max(p.connect_seconds for p in parts)

    @classmethod
    async def start(cls, *, count: int, **kwargs: Any) -> CLoadGroup:
        sizes = [PER_PROCESS] * (count // PER_PROCESS)
        if count % PER_PROCESS:
            sizes.append(count % PER_PROCESS)
        parts: list[CLoad] = []
        try:
            for size in sizes:
                parts.append(await CLoad.start(count=size, **kwargs))
        except BaseException:
            for part in parts:
                await part.stop()
            raise
        return cls(parts)

    async def delivered(self) -> int:
        return sum([await p.delivered() for p in self.parts])

    def cpu_seconds(self) -> float:
        return sum(p.cpu_seconds() for p in self.parts)

    async def stop(self) -> dict[str, Any]:
        results = [await p.stop() for p in self.parts]
        merged: dict[int, list[Any]] = {}
        for result in results:
            for seq, copies, published, last in result.get("updates", []):
                row = merged.setdefault(seq, [seq, 0, published, 0.0])
                row[1] += copies
                row[3] = max(row[3], last)
        return {
            "alive": sum(r.get("alive", 0) for r in results),
            "updates": [merged[s] for s in sorted(merged)],
            "samples": [x for r in results for x in r.get("samples", [])],
            "processes": len(results),
        }


class CLoad:
    """``count`` viewers of ``path`` in one C process pinned to the load core."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ok = 0
        self.failed = 0
        self.connect_seconds = 0.0

    @classmethod
    async def start(
        cls,
        *,
        binary: Path,
        host: str,
        port: int,
        path: str,
        count: int,
        protocol: str,
        keep_samples: bool,
        timeout: float,
    ) -> CLoad:
        args = [str(binary), host, str(port), path, str(count), "--timeout", str(timeout)]
        if protocol == "ws":
            args.append("--ws")
        if keep_samples:
            args.append("--samples")
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 26,  # the results line holds every sample
        )
        pin(proc.pid, LOAD_CORE)
        load = cls(proc)
        line = await asyncio.wait_for(load._line(), timeout + 30)
        _, ok, failed, seconds = line.split()
        load.ok, load.failed, load.connect_seconds = int(ok), int(failed), float(seconds)
        if load.failed:
            await load.stop()
            raise ConnectionError(f"{failed} of {count} viewers could not connect")
        return load

    async def _line(self) -> str:
        assert self.proc.stdout is not None
        raw = await self.proc.stdout.readline()
        if not raw:
            raise RuntimeError("the load client exited")
        return raw.decode().strip()

    async def _ask(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        return await self._line()

    async def delivered(self) -> int:
        return int((await self._ask("STAT")).split()[1])

    def cpu_seconds(self) -> float:
        user, system = process_cpu(self.proc.pid)
        return user + system

    async def stop(self) -> dict[str, Any]:
        if self.proc.returncode is not None:
            return {}
        result = dict(json.loads(await self._ask("STOP")))
        await self.proc.wait()
        return result
