"""The blocking-versus-thread demo: start a run, stream its timeline, stop it, publish."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from learnsite import broker
from learnsite.learners import alearner_key, learner_key
from sandbox import limits, sse
from sandbox.demo import runs
from sandbox.views.common import (
    HtmxHttpRequest,
    clean_uid,
    part,
    problem,
    redis_down_text,
    stream_refusal,
)
from sandbox.views.playground import publish_response

TOKEN_TTL = 60  # seconds a started run waits for its page to connect


@require_POST
def start(request: HtmxHttpRequest) -> HttpResponse:
    learner = learner_key(request)
    uid = clean_uid(request.POST.get("uid"))
    target = f"#{uid}-start-error" if uid else None
    try:
        mode = runs.clean_mode(request.POST.get("mode", ""))
    except ValueError as exc:
        return problem(request, str(exc), status=400, target=target)
    try:
        runs.REGISTRY.check(learner)
    except limits.LimitError as exc:
        return problem(request, str(exc), status=429, target=target, retry_after=exc.retry_after)
    except broker.UNAVAILABLE_ERRORS:
        return problem(request, redis_down_text(), status=503, target=target)
    token = secrets.token_urlsafe(16)
    try:
        broker.client().set(runs.token_key(token), f"{learner}|{mode}", ex=TOKEN_TTL)
    except broker.UNAVAILABLE_ERRORS:
        return problem(request, redis_down_text(), status=503, target=target)
    context = {
        "uid": uid,
        "mode": mode,
        "mode_label": runs.MODE_LABELS[mode],
        "events_url": reverse("sandbox:demo_events", args=[token]),
        "max_seconds": int(runs.MAX_SECONDS),
    }
    return part(request, "sandbox/_demo_run.html", context)


def _cell(kinds: set[str]) -> str:
    return sse.event("cell", render_to_string("sandbox/_demo_cell.html", {"kinds": kinds}))


def _log(at: float, text: str) -> str:
    return sse.event("log", render_to_string("sandbox/_demo_log.html", {"at": at, "text": text}))


def _finish_and_release(run: runs.Run) -> None:
    try:
        run.finish()
    finally:
        runs.REGISTRY.release(run)


async def _run_events(run: runs.Run) -> AsyncIterator[str]:
    """Every 250 ms: one cell of the timeline (tick, message or nothing), new log lines,
    the tick count. At the end: the summary, in an ``end`` event that closes the stream."""
    ticks = messages = 0
    last_tick = 0.0
    longest = 0.0
    reason = "limit"
    loop = asyncio.get_running_loop()
    cleaned_up = False

    async def cleanup() -> None:
        nonlocal cleaned_up
        if cleaned_up:
            return
        cleaned_up = True
        # finish() joins threads: keep it off the event loop, and let it complete even if
        # this task is cancelled again meanwhile.
        await asyncio.shield(asyncio.to_thread(_finish_and_release, run))
        with contextlib.suppress(*broker.UNAVAILABLE_ERRORS):
            await broker.async_client().delete(runs.stop_key(run.learner))

    try:
        yield "retry: 60000\n\n"
        next_at = loop.time()
        while True:
            next_at += runs.TICK_SECONDS
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            kinds: set[str] = set()
            for ev in run.drain():
                kinds.add(ev.kind)
                if ev.kind == "tick":
                    ticks += 1
                    longest = max(longest, ev.at - last_tick)
                    last_tick = ev.at
                else:
                    messages += 1
                    data = ev.data if ev.data is not None else b""
                    yield _log(ev.at, f"listen() returned a message: data={data!r}")
            yield _cell(kinds)
            yield sse.event("count", str(ticks))
            if run.error is not None or not run.thread.is_alive():
                reason = "error"
                break
            if run.elapsed >= runs.MAX_SECONDS:
                reason = "limit"
                break
            with contextlib.suppress(*broker.UNAVAILABLE_ERRORS):
                if await broker.async_client().exists(runs.stop_key(run.learner)):
                    reason = "stopped"
                    break
        elapsed = run.elapsed
        longest = max(longest, elapsed - last_tick)
        await cleanup()
        summary = runs.Summary(
            mode=run.mode,
            ticks=ticks,
            messages=messages,
            elapsed=elapsed,
            longest_stall=longest,
            reason=reason,
            error=run.error or ("the run's thread ended" if reason == "error" else None),
        )
        yield sse.event("end", render_to_string("sandbox/_demo_summary.html", {"s": summary}))
    except asyncio.CancelledError:
        # The page went away (tab closed, or a new run replaced this one): stop the run.
        await cleanup()
        raise
    finally:
        await cleanup()


@require_GET
async def events(request: HttpRequest, token: str) -> HttpResponseBase:
    learner = await alearner_key(request)
    key = runs.token_key(token[:64])
    try:
        value = await broker.async_client().get(key)
        text = value.decode() if isinstance(value, bytes) else (value or "")
        owner, _, mode = text.partition("|")
        if owner != learner:
            # Someone else's link (or none): refused, and left alone for its owner.
            return stream_refusal(
                request, "This run has ended or its link expired. Start a new run.", state="ended"
            )
        await broker.async_client().delete(key)  # a link opens its run once
    except broker.UNAVAILABLE_ERRORS:
        return stream_refusal(request, redis_down_text(), state="down")
    with contextlib.suppress(*broker.UNAVAILABLE_ERRORS):
        await broker.async_client().delete(runs.stop_key(learner))
    try:
        run = await asyncio.to_thread(
            runs.REGISTRY.start, learner=learner, mode=runs.clean_mode(mode)
        )
    except limits.LimitError as exc:
        return stream_refusal(request, str(exc), state="limit")
    except broker.UNAVAILABLE_ERRORS:
        return stream_refusal(request, redis_down_text(), state="down")
    return sse.response(_run_events(run))


@require_POST
def stop(request: HtmxHttpRequest) -> HttpResponse:
    learner = learner_key(request)
    try:
        broker.client().set(runs.stop_key(learner), "1", ex=int(runs.MAX_SECONDS) + 5)
    except broker.UNAVAILABLE_ERRORS:
        return problem(request, redis_down_text(), status=503)
    return HttpResponse("Stopping the run…")


@require_POST
def publish(request: HtmxHttpRequest) -> HttpResponse:
    return publish_response(request, channel=runs.DEMO_CHANNEL)


def demo_context() -> dict[str, Any]:
    return {
        "source_main": runs.source("main"),
        "source_thread": runs.source("thread"),
        "max_seconds": int(runs.MAX_SECONDS),
        "max_runs": runs.MAX_RUNS,
        "channel": runs.DEMO_CHANNEL,
    }
