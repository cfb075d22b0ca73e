"""A code-lab runner: reads jobs from the site Redis and runs each in a fresh jail.

``python manage.py codelab_runner`` starts one (``make run`` does; in production run as
many as you like, on any host that reaches both Redis servers). A runner:

- reads ``lab:jobs`` through the consumer group ``runners`` (``XREADGROUP ... >``), at most
  ``slots`` jobs at a time;
- every second says it is alive (``lab:runners``) and ``XCLAIM``\\ s its own running jobs,
  so their idle time stays near zero;
- every two seconds ``XAUTOCLAIM``\\ s jobs idle for longer than ``TAKEOVER_IDLE_MS``: their
  runner died. One that had started is finished as "the runner stopped, run again" (its
  program may have done half its work: running it twice would not be honest); one that
  had not is run;
- streams the program's output into the run's events, stops it at the limits, stores the
  result, finishes the run, and only then acknowledges the job (``XACK``).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import jobs
from lab.acl import lab_run_user, pattern_rule, prefix_for
from lab.jail import Jail
from lab.names import Namespace
from lab.proxy import Door, Upstream
from learnsite import broker, metrics, sandbox_acl

log = logging.getLogger(__name__)

TAKEOVER_IDLE_MS = 5_000
CLEANUP_SECONDS = 3.0  # the most a run's clean-up waits for the sandbox Redis
UID_BASE = 61_000  # when the runner is root, each slot runs as a user of its own
_SIGXCPU = int(signal.SIGXCPU)

RUNNER_LOST = "The runner running your code stopped before it finished. Run it again."


@dataclass
class Outcome:
    reason: str
    message: str
    exit_code: int | None
    wall_ms: int
    marks: list[dict[str, Any]] = field(default_factory=list)
    verdict: dict[str, Any] | None = None


Program = Callable[[str, str], dict[str, str]]  # (code, exercise) -> files of /lab
Recorder = Callable[[dict[str, str], str, Outcome], Awaitable[dict[str, Any] | None]]


def plain_program(code: str, exercise: str) -> dict[str, str]:
    del exercise
    return {"main.py": code}


async def no_record(state: dict[str, str], code: str, outcome: Outcome) -> dict[str, Any] | None:
    del state, code
    return outcome.verdict


def describe(reason: str, exit_code: int | None, wall_ms: int, limits: Any) -> str:
    seconds = f"{wall_ms / 1000:.2f} s"
    if reason == "finished":
        return f"Finished, exit status {exit_code}, {seconds}."
    if reason == "timeout":
        return (
            f"Stopped after {seconds}: a run may take {limits.wall_seconds:g} s of wall time "
            f"and {limits.cpu_seconds} s of CPU. Look for a loop that never ends, or a "
            "blocking call (listen(), get_message(timeout=None), BLPOP 0) nothing wakes."
        )
    if reason == "cpu":
        return (
            f"Stopped: your program used {limits.cpu_seconds} s of CPU, the lab's most. "
            "A loop that never sleeps spins a core; wait on Redis instead."
        )
    if reason == "memory":
        return (
            f"Stopped: your program ran out of memory (the lab allows "
            f"{limits.memory_bytes // (1024 * 1024)} MB)."
        )
    if reason == "output":
        return (
            f"Stopped: your program printed more than {limits.output_bytes // 1024} KB, "
            "the lab's most. Print less, or print a summary."
        )
    return f"Stopped with exit status {exit_code} after {seconds}."


class Runner:
    def __init__(
        self,
        *,
        jail: Jail,
        name: str | None = None,
        slots: int = 2,
        program: Program = plain_program,
        record: Recorder = no_record,
    ) -> None:
        self.jail = jail
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.slots = slots
        self.program = program
        self.record = record
        self._free_slots = list(range(slots))
        self._running: dict[str, str] = {}  # stream entry id -> job
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self.finished = 0

    # -- the loop ---------------------------------------------------------------------
    async def serve(self, stop: asyncio.Event) -> None:
        client = broker.new_async_client(socket_timeout=10)
        try:
            await jobs.aensure_group(client)
            await self._heartbeat()
            beat = asyncio.create_task(self._beat_forever(stop))
            janitor = asyncio.create_task(self._janitor_forever(stop))
            try:
                while not stop.is_set():
                    if not self._free_slots:
                        self._wake.clear()
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(1.0):
                                await self._wake.wait()
                        continue
                    try:
                        reply = await client.xreadgroup(
                            jobs.GROUP, self.name, {jobs.jobs_key(): ">"}, count=1, block=1000
                        )
                    except broker.UNAVAILABLE_ERRORS as exc:
                        log.warning("code-lab runner: the site Redis is unavailable: %s", exc)
                        await asyncio.sleep(1.0)
                        continue
                    found: Any = reply or []
                    for _stream, entries in found:
                        for entry_id, fields in entries:
                            self._start(_text(entry_id), _fields(fields), taken_over=False)
            finally:
                beat.cancel()
                janitor.cancel()
                await asyncio.gather(beat, janitor, return_exceptions=True)
                if self._tasks:
                    await asyncio.gather(*self._tasks, return_exceptions=True)
                with contextlib.suppress(Exception):
                    await broker.async_client().zrem(jobs.runners_key(), self.name)
        finally:
            await client.aclose()

    def _start(self, entry_id: str, fields: dict[str, str], *, taken_over: bool) -> None:
        if not self._free_slots:
            return  # the janitor takes it again later
        slot = self._free_slots.pop()
        self._running[entry_id] = fields.get("job", "")
        task = asyncio.create_task(self._job(entry_id, fields, slot, taken_over=taken_over))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _heartbeat(self) -> None:
        client = broker.async_client()
        until = int(time.time() * 1000) + jobs.RUNNER_DEAD_AFTER_MS
        pipe = client.pipeline(transaction=False)
        pipe.zadd(jobs.runners_key(), {self.name: until})
        pipe.zremrangebyscore(jobs.runners_key(), "-inf", int(time.time() * 1000) - 60_000)
        await pipe.execute()
        if self._running:
            await client.xclaim(
                jobs.jobs_key(), jobs.GROUP, self.name, 0, list(self._running), justid=True
            )

    async def _beat_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(jobs.HEARTBEAT_EVERY)
            try:
                await self._heartbeat()
            except Exception as exc:
                log.warning("code-lab runner: heartbeat failed: %s", exc)

    async def _janitor_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(2.0)
            try:
                await self.take_over()
            except Exception as exc:
                log.warning("code-lab runner: taking over jobs failed: %s", exc)

    async def take_over(self) -> int:
        """Claim the jobs of runners that died; returns how many were taken."""
        if not self._free_slots:
            return 0
        client = broker.async_client()
        reply = await client.xautoclaim(
            jobs.jobs_key(),
            jobs.GROUP,
            self.name,
            TAKEOVER_IDLE_MS,
            "0-0",
            count=len(self._free_slots),
        )
        entries = reply[1] if reply else []
        for entry_id, fields in entries:
            if fields is None:
                continue  # trimmed from the stream meanwhile
            self._start(_text(entry_id), _fields(fields), taken_over=True)
        return len(entries)

    # -- one job ----------------------------------------------------------------------
    async def _job(
        self, entry_id: str, fields: dict[str, str], slot: int, *, taken_over: bool
    ) -> None:
        job = fields.get("job", "")
        client = broker.async_client()
        try:
            state = await jobs.astate(job) if job else {}
            claim = jobs.claim_of(job, state.get("claim", ""))
            if not state:
                return  # expired: nothing to tell anyone
            if state.get("status") == "done":
                await claim.arelease()  # finished by the page, which saw the runner gone
                return
            if state.get("status") == "running":
                # Started by a runner that died: its program may have done half its work.
                log.info("code-lab runner: job %s lost its runner %s", job, state.get("runner"))
                await jobs.afinish(job, jobs.done_payload("runner-lost", RUNNER_LOST))
                await claim.arelease()
                return
            now = int(time.time() * 1000)
            pipe = client.pipeline(transaction=False)
            pipe.hset(
                jobs.job_key(job),
                mapping={"status": "running", "runner": self.name, "started": now},
            )
            pipe.zrem(jobs.queue_key(), job)
            await pipe.execute()
            await jobs.aevent(job, "started", {"taken_over": taken_over})
            await claim.arenew()
            outcome = await self.run(
                job,
                learner=fields.get("learner", ""),
                code=fields.get("code", ""),
                exercise=fields.get("exercise", ""),
                slot=slot,
            )
            metrics.LAB_RUN_SECONDS.labels(outcome.reason).observe(outcome.wall_ms / 1000)
            verdict = await self.record(state, fields.get("code", ""), outcome)
            await jobs.afinish(
                job,
                jobs.done_payload(
                    outcome.reason,
                    outcome.message,
                    exit_code=outcome.exit_code,
                    wall_ms=outcome.wall_ms,
                    verdict=verdict,
                ),
            )
            await claim.arelease()
            self.finished += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("code-lab runner: job %s failed", job)
            with contextlib.suppress(Exception):
                await jobs.afinish(
                    job,
                    jobs.done_payload(
                        "error",
                        "The lab could not run your code (a fault on our side, logged). "
                        "Run it again in a moment.",
                    ),
                )
        finally:
            with contextlib.suppress(Exception):
                await client.xack(jobs.jobs_key(), jobs.GROUP, entry_id)
            self._running.pop(entry_id, None)
            self._free_slots.append(slot)
            self._wake.set()

    async def run(self, job: str, *, learner: str, code: str, exercise: str, slot: int) -> Outcome:
        """Run ``code`` in a fresh jail as ``learner``, streaming into ``job``'s events."""
        limits = self.jail.limits
        work = Path(tempfile.mkdtemp(prefix="codelab-run-"))
        program_dir, socket_dir = work / "program", work / "door"
        for path in (work, program_dir, socket_dir):
            path.mkdir(exist_ok=True)
            os.chmod(path, 0o755)
        for name, text in self.program(code, exercise).items():
            (program_dir / name).write_text(text)
            os.chmod(program_dir / name, 0o644)
        user = lab_run_user(learner)
        credentials = await sandbox_acl.atemporary(user)
        granted: set[bytes] = set()

        async def grant(pattern: bytes) -> bool:
            rule = pattern_rule(learner, pattern)
            if rule is None:
                return False
            if pattern not in granted and len(granted) < 64:
                admin: Any = broker.sandbox_async_client()
                await admin.execute_command("ACL", "SETUSER", user.name, rule)
                granted.add(pattern)
            return pattern in granted

        door = Door(
            socket_dir=socket_dir,
            namespace=Namespace(prefix_for(learner).encode()),
            credentials=credentials,
            upstream=Upstream.from_url(broker.sandbox_url()),
            limits=limits,
            grant_pattern=grant if credentials is not None else None,
        )
        await door.start()
        marks_read, marks_write = os.pipe()
        uid = UID_BASE + (os.getpid() % 1000) * 8 + slot if os.geteuid() == 0 else None
        command = self.jail.command(program_dir=program_dir, socket_dir=socket_dir)
        command[command.index("--") : command.index("--")] = [
            "--setenv",
            "LAB_MARK_FD",
            str(marks_write),
        ]
        started = time.monotonic()
        outcome_reason: list[str] = []
        printed = 0
        tail = bytearray()
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(marks_write,),
                preexec_fn=self.jail.preexec(uid),
                start_new_session=True,
            )
        finally:
            os.close(marks_write)
        marks: list[dict[str, Any]] = []

        def kill(reason: str) -> None:
            if not outcome_reason:
                outcome_reason.append(reason)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

        async def pump(stream: asyncio.StreamReader, name: str) -> None:
            nonlocal printed
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            while True:
                chunk = await stream.read(4096)
                if not chunk:
                    return
                if name == "stderr":
                    tail.extend(chunk)
                    del tail[:-4096]
                room = limits.output_bytes - printed
                printed += len(chunk)
                text = decoder.decode(chunk[: max(room, 0)])
                if text:
                    await jobs.aevent(job, "out", {"stream": name, "text": text})
                if printed > limits.output_bytes:
                    kill("output")
                    return
                await asyncio.sleep(0.02)  # let output gather: fewer, larger events

        async def read_marks() -> None:
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader(limit=65536)
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(marks_read, "rb", 0)
            )
            try:
                while len(marks) < 2000:
                    try:
                        line = await reader.readline()
                    except ValueError:
                        continue  # a mark longer than the limit: dropped
                    if not line:
                        return
                    with contextlib.suppress(ValueError):
                        mark = json.loads(line)
                        if isinstance(mark, dict):
                            marks.append(mark)
                            if mark.get("kind") in ("tick", "message"):
                                await jobs.aevent(job, "mark", mark)
            finally:
                transport.close()

        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            asyncio.create_task(pump(proc.stdout, "stdout")),
            asyncio.create_task(pump(proc.stderr, "stderr")),
            asyncio.create_task(read_marks()),
        ]
        try:
            try:
                async with asyncio.timeout(limits.wall_seconds):
                    await proc.wait()
            except TimeoutError:
                kill("timeout")
                await proc.wait()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await asyncio.gather(*readers, return_exceptions=True)
        finally:
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            if proc.returncode is None:
                kill("error")
                with contextlib.suppress(Exception):
                    await proc.wait()
            # asyncio only closes a subprocess transport when told: one left to __del__
            # after its loop closed complains (and holds the pipes until then).
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()
            await door.close()
            shutil.rmtree(work, ignore_errors=True)
            await self._clean_up(job, learner, user if credentials is not None else None)
        wall_ms = int((time.monotonic() - started) * 1000)
        code_ = proc.returncode
        reason = outcome_reason[0] if outcome_reason else "finished"
        if reason == "finished":
            if code_ in (128 + _SIGXCPU, -_SIGXCPU):
                reason = "cpu"
            elif b"MemoryError" in bytes(tail):
                reason = "memory"
        message = describe(reason, code_, wall_ms, limits)
        if door.cut_off:
            message = f"{message} Your Redis link was cut: {door.cut_off}."
        verdict = next(
            (m.get("result") for m in reversed(marks) if m.get("kind") == "verdict"), None
        )
        return Outcome(
            reason, message, code_, wall_ms, marks, verdict if isinstance(verdict, dict) else None
        )

    async def _clean_up(self, job: str, learner: str, user: Any) -> None:
        """Drop the run's ACL user (and with it any connection left open) and put the
        learner's keys on a TTL, within CLEANUP_SECONDS: a sandbox Redis that stopped
        answering must not hold the runner's slot for its socket timeouts and retries
        (over a minute). What is left then is done later: the user's lease lapses, and
        the learner's next run expires the keys."""
        try:
            async with asyncio.timeout(CLEANUP_SECONDS):
                if user is not None:
                    await sandbox_acl.adrop(user)
                await self._expire_keys(learner)
        except TimeoutError:
            log.warning(
                "lab: the sandbox Redis did not answer the clean-up of run %s within %s s; "
                "the ACL user's lease and the learner's next run will finish it",
                job,
                CLEANUP_SECONDS,
            )

    async def _expire_keys(self, learner: str) -> None:
        """Keys a run left behind live an hour, like the console's: nothing a learner
        writes in the lab stays in the sandbox Redis for ever."""
        with contextlib.suppress(Exception):
            client = broker.sandbox_async_client()
            pattern = prefix_for(learner).replace("[", "\\[") + "*"
            seen = 0
            async for key in client.scan_iter(match=pattern, count=200):
                await client.expire(key, jobs.KEEP_SECONDS, nx=True)
                seen += 1
                if seen >= 2000:
                    break


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(raw: dict[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}
