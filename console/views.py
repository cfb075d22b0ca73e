"""The console page, its command endpoint, its subscription stream, predictions and the
Streams demo. Views parse input, call one service, and answer."""

from __future__ import annotations

import json
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from console import demo, services
from console.commands import MAX_ARG_BYTES, MAX_SUBSCRIPTIONS
from console.namespace import Namespace
from console.predictions import get_prediction
from console.streams import subscription_events
from learnsite import broker
from learnsite.learners import alearner_key

_RUN_FAILURES: tuple[type[BaseException], ...] = (*broker.UNAVAILABLE_ERRORS, TimeoutError)


@require_GET
def console_page(request: HttpRequest) -> HttpResponse:
    return render(request, "console/page.html", {})


def _names(raw: str | None, what: str) -> list[str]:
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError(f"{what} must be a JSON list of names; reload the page.") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a JSON list of names; reload the page.")
    if len(value) > MAX_SUBSCRIPTIONS:
        raise ValueError(f"A console holds at most {MAX_SUBSCRIPTIONS} {what}.")
    return cast(list[str], value)


@require_POST
async def console_run(request: HttpRequest) -> JsonResponse:
    """Run one line. Answers JSON: ``output`` (redis-cli text) and, when the line changed
    them, the console's ``channels`` and ``patterns``."""
    line = request.POST.get("line")
    if line is None:
        return JsonResponse(
            {"output": "(error) Send the command in a field named line."}, status=400
        )
    try:
        channels = _names(request.POST.get("channels"), "channels")
        patterns = _names(request.POST.get("patterns"), "patterns")
    except ValueError as exc:
        return JsonResponse({"output": f"(error) {exc}"}, status=400)
    learner = await alearner_key(request)
    reply = await services.console_run(
        learner=learner, line=line, channels=channels, patterns=patterns
    )
    body: dict[str, Any] = {"output": reply.output}
    if reply.channels is not None:
        body["channels"] = list(reply.channels)
        body["patterns"] = list(reply.patterns or ())
    return JsonResponse(body, status=reply.status)


@require_GET
async def console_stream(request: HttpRequest) -> HttpResponseBase:
    channels = request.GET.getlist("c")
    patterns = request.GET.getlist("p")
    names = channels + patterns
    if not names or len(channels) > MAX_SUBSCRIPTIONS or len(patterns) > MAX_SUBSCRIPTIONS:
        return HttpResponse(
            f"Give 1 to {MAX_SUBSCRIPTIONS} channels (c=) and/or patterns (p=) to listen to.",
            status=400,
            content_type="text/plain",
        )
    if any(len(n.encode()) > MAX_ARG_BYTES for n in names):
        return HttpResponse(
            f"Channel names and patterns are at most {MAX_ARG_BYTES} bytes.",
            status=400,
            content_type="text/plain",
        )
    learner = await alearner_key(request)
    try:
        if await services.streams_open(learner=learner) >= services.MAX_STREAMS:
            return HttpResponse(
                f"You already have {services.MAX_STREAMS} consoles listening; close a tab or "
                "UNSUBSCRIBE somewhere, then try again.",
                status=429,
                content_type="text/plain",
            )
    except broker.UNAVAILABLE_ERRORS:
        pass  # the stream itself reports that Redis is down, as an event the console shows
    response = StreamingHttpResponse(
        subscription_events(ns=Namespace(learner), channels=channels, patterns=patterns),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@require_POST
async def prediction_check(request: HttpRequest, prediction_id: str) -> HttpResponse:
    prediction = get_prediction(prediction_id)
    if prediction is None:
        return render(
            request,
            "console/_prediction_result.html",
            {"error": "There is no such prediction; reload the lesson."},
            status=404,
        )
    choice = request.POST.get("choice", "")
    if choice not in prediction.choices:
        return render(
            request,
            "console/_prediction_result.html",
            {"error": "Pick one of the answers first, then run it.", "prediction": prediction},
            status=400,
        )
    learner = await alearner_key(request)
    try:
        outcome = await services.prediction_run(prediction=prediction, learner=learner)
    except _RUN_FAILURES:
        return render(
            request,
            "console/_prediction_result.html",
            {
                "error": "Redis is not reachable right now, so the run could not happen. Your "
                "prediction was not recorded; try again in a moment.",
                "prediction": prediction,
            },
            status=503,
        )
    correct = services.choice_matches(choice, outcome.actual)
    await sync_to_async(services.prediction_save)(
        request=request, prediction=prediction, answer=choice, correct=correct
    )
    return render(
        request,
        "console/_prediction_result.html",
        {"prediction": prediction, "outcome": outcome, "choice": choice, "correct": correct},
    )


@require_POST
async def streams_demo(request: HttpRequest, action: str) -> JsonResponse:
    if action not in demo.ACTIONS:
        return JsonResponse(
            {"error": f"Unknown step; use one of {', '.join(demo.ACTIONS)}."}, status=404
        )
    online = request.POST.get("online", "1") == "1"
    learner = await alearner_key(request)
    try:
        state = await demo.demo_step(
            learner=learner, action=cast(demo.Action, action), online=online
        )
    except broker.UNAVAILABLE_ERRORS:
        return JsonResponse(
            {"error": "Redis is not reachable right now; the demo will work again when it is."},
            status=503,
        )
    return JsonResponse(state.as_dict())
