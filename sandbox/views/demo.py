"""The blocking-versus-thread demo: start a run, stream its timeline, stop it, publish."""

from __future__ import annotations

import secrets
import time

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from learnsite import broker, streaming
from learnsite.http import HtmxHttpRequest
from learnsite.learners import alearner_key_peek, learner_key_peek
from sandbox import limits
from sandbox.demo import runs
from sandbox.streams import demo_stream
from sandbox.views.common import (
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
    """Start the demo: both modes side by side (or one, if the form names it). Each run
    gets a one-use link to its own stream, which claims its place."""
    learner = learner_key_peek(request)
    uid = clean_uid(request.POST.get("uid"))
    target = f"#{uid}-start-error" if uid else None
    try:
        modes = runs.clean_modes(request.POST.get("mode", "both"))
    except ValueError as exc:
        return problem(request, str(exc), status=400, target=target)
    try:
        runs.REGISTRY.check(learner, client_addr=streaming.client_addr(request))
    except limits.LimitError as exc:
        response = part(
            request,
            "sandbox/_demo_busy.html",
            {"message": str(exc), "own": exc.scope == "learner"},
            status=429,
        )
        if target and request.htmx:
            reswap(retarget(response, target), "innerHTML")
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    except broker.UNAVAILABLE_ERRORS as exc:
        return problem(request, redis_down_text(exc), status=503, target=target)
    shown = []
    try:
        for mode in modes:
            token = secrets.token_urlsafe(16)
            broker.client().set(runs.token_key(token), f"{learner}|{mode}", ex=TOKEN_TTL)
            shown.append(
                {
                    "mode": mode,
                    "label": runs.MODE_LABELS[mode],
                    "events_url": reverse("sandbox:demo_events", args=[token]),
                }
            )
    except broker.UNAVAILABLE_ERRORS as exc:
        return problem(request, redis_down_text(exc), status=503, target=target)
    context = {"uid": uid, "runs": shown, "max_seconds": int(runs.MAX_SECONDS)}
    return part(request, "sandbox/_demo_run.html", context)


@require_GET
async def events(request: HttpRequest, token: str) -> HttpResponseBase:
    learner = await alearner_key_peek(request)
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
    except broker.UNAVAILABLE_ERRORS as exc:
        return stream_refusal(request, redis_down_text(exc), state="down")
    return streaming.event_stream(
        demo_stream(
            learner=learner, mode=runs.clean_mode(mode), client_addr=streaming.client_addr(request)
        )
    )


@require_POST
def stop(request: HtmxHttpRequest) -> HttpResponse:
    learner = learner_key_peek(request)
    try:
        broker.client().set(runs.stop_key(learner), repr(time.time()), ex=int(runs.MAX_SECONDS) + 5)
    except broker.UNAVAILABLE_ERRORS as exc:
        return problem(request, redis_down_text(exc), status=503)
    return HttpResponse("Stopping…")


@require_POST
async def publish(request: HtmxHttpRequest) -> HttpResponse:
    return await publish_response(request, channel=runs.DEMO_CHANNEL)
