"""The code lab's pages and endpoints. Views parse input, call one service, and answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lab import jobs
from lab.exercises import get_catalog
from lab.jail import unavailable_reason
from lab.runner import RUNNER_LOST
from learnsite import admission, broker, streaming
from learnsite.learners import alearner_key_peek
from progress.models import ExerciseAttempt, LabDraft
from progress.selectors import learner_find
from progress.services import lab_draft_save, learner_for_request

BLOCK_MAX = 120
STREAM_LIFETIME = 90.0  # seconds a run's stream stays open at most (runs take 10 s at most)
POLL_EVERY = 0.1
STREAMS = streaming.StreamSlots(
    name="lab-streams",
    per_learner=4,
    per_address=16,
    site=400,
    total=200,
    per_learner_message="You are already watching {limit} runs; close a tab, then try again.",
)

FREE_LAB_CODE = """import redis

r = redis.Redis(decode_responses=True)  # the lab's Redis: your own keys and channels
pubsub = r.pubsub()
pubsub.subscribe("news")
print(pubsub.get_message(timeout=1.0))  # the subscribe confirmation

print("receivers:", r.publish("news", "hello from the lab"))
print(pubsub.get_message(timeout=1.0))

pubsub.close()
"""


def _error(message: str, status: int, retry_after: int | None = None) -> JsonResponse:
    response = JsonResponse({"error": message, "retry_after": retry_after}, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _clean_code(raw: str | None) -> str | None:
    if raw is None:
        return None
    return raw.replace("\r\n", "\n").replace("\r", "\n")


def _draft(request: HttpRequest, block: str) -> str:
    learner = learner_find(request=request)
    if learner is None:
        return ""
    draft = LabDraft.objects.filter(learner=learner, block=block).first()
    return draft.code if draft else ""


@require_GET
def lab_page(request: HttpRequest) -> HttpResponse:
    catalog = get_catalog()
    return render(
        request,
        "lab/page.html",
        {
            "code": FREE_LAB_CODE,
            "draft": _draft(request, "lab:free"),
            "jail_problem": unavailable_reason(),
            "exercises": sorted(catalog.exercises.values(), key=lambda e: (e.lesson_slug, e.order)),
        },
    )


@require_GET
def exercise_page(request: HttpRequest, exercise_id: str) -> HttpResponse:
    exercise = get_catalog().exercises.get(exercise_id)
    if exercise is None:
        raise Http404(f"There is no exercise called {exercise_id!r}. See /lab/ for the list.")
    learner = learner_find(request=request)
    attempts = (
        list(ExerciseAttempt.objects.filter(learner=learner, exercise_id=exercise.id))
        if learner is not None
        else []
    )
    tried = any(a.code.strip() != exercise.starter.strip() for a in attempts)
    return render(
        request,
        "lab/exercise.html",
        {
            "exercise": exercise,
            "draft": _draft(request, exercise.block),
            "attempts": len(attempts),
            "passed": any(a.passed for a in attempts),
            "solution_ready": tried or any(a.passed for a in attempts),
            "jail_problem": unavailable_reason(),
        },
    )


@require_POST
def run(request: HttpRequest) -> JsonResponse:
    """Queue a run. 202 JSON ``{job, stream, position}``; else ``{error, retry_after}``."""
    code = _clean_code(request.POST.get("code"))
    block = (request.POST.get("block") or "")[:BLOCK_MAX]
    exercise_id = request.POST.get("exercise") or ""
    if code is None or not code.strip():
        return _error("There is no code to run: type some Python first.", 400)
    if len(code) > jobs.CODE_MAX:
        return _error(
            f"That is {len(code):,} characters of code; the lab runs at most "
            f"{jobs.CODE_MAX:,}. Shorten it.",
            413,
        )
    if exercise_id and exercise_id not in get_catalog().exercises:
        return _error("That exercise does not exist (any more); reload the page.", 400)
    learner = learner_for_request(request=request)
    if block:
        lab_draft_save(learner=learner, block=block, code=code)
    try:
        submitted = jobs.submit(
            learner=learner.key,
            address=admission.request_address(request),
            code=code,
            block=block,
            exercise=exercise_id,
        )
    except admission.LimitError as exc:
        return _error(str(exc), 429, exc.retry_after)
    except jobs.NoRunner as exc:
        return _error(str(exc), 503, 10)
    except broker.UNAVAILABLE_ERRORS as exc:
        return _error(broker.unavailable_text(exc), 503, 5)
    return JsonResponse(
        {
            "job": submitted.job,
            "stream": f"/lab/runs/{submitted.job}/stream",
            "position": submitted.position,
        },
        status=202,
    )


@require_http_methods(["GET", "POST"])
def drafts(request: HttpRequest) -> JsonResponse:
    """GET ``?block=``: the learner's draft of a block (``{code}``; empty when none).
    POST ``block``, ``code``: keep it."""
    if request.method == "GET":
        block = (request.GET.get("block") or "")[:BLOCK_MAX]
        return JsonResponse({"code": _draft(request, block) if block else ""})
    block = (request.POST.get("block") or "").strip()
    code = _clean_code(request.POST.get("code"))
    if not block or len(block) > BLOCK_MAX or code is None:
        return _error("Send a block (at most 120 characters) and its code.", 400)
    if len(code) > jobs.CODE_MAX:
        return _error(f"A draft is at most {jobs.CODE_MAX:,} characters.", 413)
    lab_draft_save(learner=learner_for_request(request=request), block=block, code=code)
    return JsonResponse({"saved": True})


async def run_stream(request: HttpRequest, job: str) -> HttpResponseBase:
    """The run's events as SSE, from the one after ``Last-Event-ID``."""
    if request.method != "GET":
        return HttpResponse(status=405)
    if not (len(job) == 24 and all(c in "0123456789abcdef" for c in job)):
        raise Http404("No such run.")
    learner = await alearner_key_peek(request)
    try:
        state = await jobs.astate(job)
    except broker.UNAVAILABLE_ERRORS as exc:
        return _error(broker.unavailable_text(exc), 503, 5)
    owner = state.get("learner")
    if not state or owner is None or (owner != learner and not await _owns(request, owner)):
        raise Http404("No such run (runs are kept for an hour, and only for who started them).")
    address = streaming.client_addr(request)
    try:
        await STREAMS.acheck(learner=owner, client_addr=address)
    except streaming.LimitError as exc:
        return _error(str(exc), 429, exc.retry_after)
    last = request.headers.get("Last-Event-ID") or "0-0"
    if not _stream_id(last):
        last = "0-0"
    return streaming.event_stream(_events(job, owner, address, last))


async def _owns(request: HttpRequest, owner: str) -> bool:
    """A signed-in learner's runs carry their account's learner key, not the session's."""
    found = await sync_to_async(learner_find)(request=request)
    return found is not None and found.key == owner


def _stream_id(value: str) -> bool:
    first, _, second = value.partition("-")
    return first.isdigit() and second.isdigit() and len(value) < 40


async def _events(job: str, learner: str, address: str, last: str) -> AsyncIterator[bytes]:
    try:
        async with STREAMS.claim(learner=learner, client_addr=address):
            async for chunk in _follow(job, last):
                yield chunk
    except streaming.LimitError as exc:
        yield streaming.json_frame("done", jobs.done_payload("error", str(exc)))


async def _follow(job: str, last: str) -> AsyncIterator[bytes]:
    client = broker.async_client()
    yield streaming.retry(1000)
    deadline = time.monotonic() + STREAM_LIFETIME
    shown_position: int | None = None
    checked = 0.0
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        try:
            entries = await client.xrange(jobs.events_key(job), f"({last}", "+", count=200)
            if streaming.cancel_requested():
                raise asyncio.CancelledError  # the client left; redis-py lost the cancel
        except broker.UNAVAILABLE_ERRORS as exc:
            yield streaming.json_frame(
                "done", jobs.done_payload("error", broker.unavailable_text(exc))
            )
            return
        for entry_id, fields in entries or []:
            assert fields is not None
            last = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            kind = _text(fields.get(b"kind", b""))
            data = _text(fields.get(b"data", b"{}"))
            yield f"id: {last}\n".encode() + streaming.frame(data, event=kind)
            if kind == "done":
                return
        if entries:
            quiet_since = time.monotonic()
        now = time.monotonic()
        if now - checked >= 1.0:
            checked = now
            payload = await _check(job, shown_position, quiet_for=now - quiet_since)
            if isinstance(payload, int):
                shown_position = payload
                yield streaming.json_frame("queued", {"position": payload})
            elif payload is not None:
                await jobs.afinish(job, payload)
                state = await jobs.astate(job)
                await jobs.claim_of(job, state.get("claim", "")).arelease()
                continue  # the done event is read from the stream, like any other
            if now - quiet_since >= streaming.KEEPALIVE_EVERY:
                yield streaming.comment("waiting")
        await asyncio.sleep(POLL_EVERY)
    yield streaming.json_frame(
        "done",
        jobs.done_payload(
            "error", "This run took too long to report; reload the page to see whether it finished."
        ),
    )


async def _check(job: str, shown: int | None, *, quiet_for: float) -> int | dict[str, Any] | None:
    """A new queue position to show; a done payload when the run can never finish (its
    runner is gone, or no runner is alive to take it); else None."""
    state = await jobs.astate(job)
    status = state.get("status")
    if status == "queued":
        position = await jobs.aposition(job)
        if quiet_for > 5.0 and await jobs.arunners_alive() == 0:
            return jobs.done_payload("runner-lost", jobs.NO_RUNNER_TEXT)
        if position is not None and position != shown:
            return position
    elif status == "running" and quiet_for > 2.0:
        runner = state.get("runner", "")
        if runner and not await jobs.arunner_alive(runner) and quiet_for > 5.0:
            # Its runner stopped heart-beating: no one will finish this run (a runner taking
            # the job over would say the same).
            return jobs.done_payload("runner-lost", RUNNER_LOST)
    return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
