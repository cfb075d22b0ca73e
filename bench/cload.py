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
