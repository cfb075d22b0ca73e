"""A worker run streamed to its page: every tick (250 ms) the actions the page sent are
applied, the state is read from Redis and sent when it changed, new log lines follow; at the
end, what became of each job, read from Redis, in an ``end`` event that closes the stream.

The run lives inside this generator: its stream slot, its admission claim, its tasks, its
connections and its keys are all given back in the ``finally`` blocks, however the stream
ends (finished, stopped, the page gone, the server shutting down).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from django.template.loader import render_to_string

from learnsite import broker, streaming
from sandbox import limits
from sandbox.streams import end_events, html_event
from sandbox.workers import runs
from sandbox.workers.group import GroupRun
from sandbox.workers.queue import QueueRun

log = logging.getLogger(__name__)

KINDS: dict[str, type[runs.Run]] = {"queue": QueueRun, "group": GroupRun}
ENDED_RETRY_MS = 60000


def _state_html(run: runs.Run, state: dict[str, object]) -> str:
    template = f"sandbox/workers/_{run.kind}_state.html"
    return render_to_string(template, {"s": state, "run": run}).removesuffix("\n")


async def _follow(run: runs.Run) -> AsyncIterator[bytes]:
    await run.open()
    reason = "limit"
    last = ""
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while True:
        for action in await run.controls():
            if action == "stop":
                reason = "stopped"
                break
            await run.apply(action)
        else:
            run.notice_ended()
            if run.elapsed >= runs.MAX_SECONDS:
                reason = "limit"
            elif run.error is not None:
                reason = "error"
            else:
                reason = ""
        for line in run.drain():
            yield html_event("log", "sandbox/workers/_line.html", {"line": line})
        html = _state_html(run, await run.state())
        if html != last:
            yield streaming.frame(html, event="state")
            last = html
        if reason:
            break
        await run.touch()
        next_at += runs.TICK_SECONDS
        await asyncio.sleep(max(0.0, next_at - loop.time()))
    summary = await run.summary()
    for line in run.drain():
        yield html_event("log", "sandbox/workers/_line.html", {"line": line})
    yield html_event(
        "end",
        f"sandbox/workers/_{run.kind}_summary.html",
        {"s": summary, "reason": reason, "error": run.error, "max_seconds": int(runs.MAX_SECONDS)},
    )


async def run_events(
    *, kind: str, learner: str, run_id: str, client_addr: str
) -> AsyncIterator[bytes]:
    yield streaming.retry(ENDED_RETRY_MS)
    try:
        async with (
            limits.STREAMS.claim(learner=learner, client_addr=client_addr),
            runs.REGISTRY.claim(learner=learner, client_addr=client_addr),
        ):
            run = KINDS[kind](learner=learner, run_id=run_id)
            try:
                async for chunk in _follow(run):
                    yield chunk
            finally:
                # Shielded: a second cancel while cleaning up must not leave a task behind.
                await asyncio.shield(run.close())
    except streaming.LimitError as exc:
        yield end_events("limit", str(exc))
    except broker.UNAVAILABLE_ERRORS as exc:
        log.info("worker run lost Redis: %s", exc)
        with contextlib.suppress(Exception):
            yield end_events("down", broker.unavailable_text(exc))
    except Exception:
        # Tasks, connections and keys are cleaned up above; the page says what to do.
        log.exception("worker run failed")
        with contextlib.suppress(Exception):
            yield end_events("error", "The run stopped on an error of ours. Start a new run.")
