"""The console page, its command endpoint, its subscription stream, predictions and the
Streams demo. Views parse input, call one service, and answer."""

from __future__ import annotations

import json
from typing import Any, cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from console import demo, protocol, services, streams
from console.commands import MAX_SUBSCRIPTIONS, Refused, check_channel, check_pattern
from console.namespace import Namespace
from console.predictions import Prediction, get_prediction
from console.selectors import prediction_state
from learnsite import broker, streaming
from learnsite.http import HtmxHttpRequest
from learnsite.learners import alearner_key_peek
from lessons.loader import get_course
from lessons.selectors import held_block

_RUN_FAILURES: tuple[type[BaseException], ...] = (*broker.UNAVAILABLE_ERRORS, TimeoutError)


@require_GET
def console_page(request: HttpRequest) -> HttpResponse:
    return render(request, "console/page.html", {})


def _names(raw: str | None, what: str) -> list[str]:
    if not raw:
        return []
    wrong = f"{what} must be a JSON list of names; reload the page."
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        # RecursionError: nested arrays ("[[[[..."; 3,000 deep fit in a 64 KB body) exhaust
        # the parser's stack, and that is not a ValueError.
        raise ValueError(wrong) from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(wrong)
    if len(value) > MAX_SUBSCRIPTIONS:
        raise ValueError(f"A console holds at most {MAX_SUBSCRIPTIONS} {what}.")
    return cast(list[str], value)


@require_POST
async def console_run(request: HttpRequest) -> JsonResponse:
    """Run one line. The console says what it holds (``channels``, ``patterns``, ``shards``:
    JSON lists) and speaks (``protocol``: 2 or 3). Answers JSON: ``output`` (redis-cli
    text), the new subscriptions when the line changed them, the new ``protocol`` after a
    ``HELLO``."""
    line = request.POST.get("line")
    if line is None:
        return JsonResponse(
            {"output": "(error) Send the command in a field named line."}, status=400
        )
    try:
        channels = _names(request.POST.get("channels"), "channels")
        patterns = _names(request.POST.get("patterns"), "patterns")
        shards = _names(request.POST.get("shards"), "shard channels")
    except ValueError as exc:
        return JsonResponse({"output": f"(error) {exc}"}, status=400)
    learner = await alearner_key_peek(request)
    reply = await services.console_run(
        learner=learner,
        line=line,
        channels=channels,
        patterns=patterns,
        shards=shards,
        speaks=protocol.parse_protocol(request.POST.get("protocol")),
        client_addr=streaming.client_addr(request),
    )
    body: dict[str, Any] = {"output": reply.output}
    if reply.channels is not None:
        body["channels"] = list(reply.channels)
        body["patterns"] = list(reply.patterns or ())
        body["shards"] = list(reply.shards or ())
    if reply.protocol is not None:
        body["protocol"] = reply.protocol
    response = JsonResponse(body, status=reply.status)
    if reply.retry_after is not None:
        response["Retry-After"] = str(reply.retry_after)
    return response


@require_GET
async def console_stream(request: HttpRequest) -> HttpResponseBase:
    channels = request.GET.getlist("c")
    patterns = request.GET.getlist("p")
    shards = request.GET.getlist("s")
    names = channels + patterns + shards
    if not names or any(len(n) > MAX_SUBSCRIPTIONS for n in (channels, patterns, shards)):
        return HttpResponse(
            f"Give 1 to {MAX_SUBSCRIPTIONS} channels (c=), patterns (p=) and/or shard "
            "channels (s=) to listen to.",
            status=400,
            content_type="text/plain",
        )
    try:
        # The same caps as SUBSCRIBE and PSUBSCRIBE in the console: a stream URL is easy to
        # write by hand, and its patterns are what Redis matches every PUBLISH against.
        for channel in channels + shards:
            check_channel(channel.encode())
        for pattern in patterns:
            check_pattern(pattern.encode())
    except Refused as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    learner = await alearner_key_peek(request)
    try:
        await streams.STREAMS.acheck(learner=learner, client_addr=streaming.client_addr(request))
    except streaming.LimitError as exc:
        refused = HttpResponse(str(exc), status=429, content_type="text/plain")
        if exc.retry_after is not None:
            refused["Retry-After"] = str(exc.retry_after)
        return refused
    return streaming.event_stream(
        streams.subscription_events(
            ns=Namespace(learner),
            channels=channels,
            patterns=patterns,
            shards=shards,
            client_addr=streaming.client_addr(request),
        )
    )


def _prediction_refusal(
    request: HtmxHttpRequest, message: str, status: int, prediction: Prediction | None
) -> HttpResponse:
    """A prediction post that recorded nothing: next to the form (htmx), or a page."""
    if request.htmx:
        # Next to the form that was sent; the box itself stays as it was.
        response = render(
            request, "console/_prediction_result.html", {"error": message}, status=status
        )
        return reswap(retarget(response, "find .predict-result"), "innerHTML")
    lesson = get_course().by_slug(prediction.lesson) if prediction is not None else None
    return render(
        request,
        "console/prediction_error.html",
        {"error": message, "back": lesson.url if lesson is not None else "/"},
        status=status,
    )


def _try_number(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 1000 else None


@require_POST
async def prediction_check(request: HtmxHttpRequest, prediction_id: str) -> HttpResponse:
    """Lock in a prediction (``try`` 1) or a try again (2, 3, ...) and run it. htmx gets the
    box in its locked state and the lesson's held output; a plain form post goes back to
    the lesson, which now shows both."""
    prediction = get_prediction(prediction_id)
    if prediction is None:
        return _prediction_refusal(
            request, "There is no such prediction; reload the lesson.", 404, None
        )
    try_number = _try_number(request.POST.get("try", "1"))
    if try_number is None:
        return _prediction_refusal(
            request, "That is not a try of this prediction; reload the lesson.", 400, prediction
        )
    try:
        result = await services.prediction_lock_in(
            request=request,
            prediction=prediction,
            choice=request.POST.get("choice", ""),
            try_number=try_number,
        )
    except services.PredictionRefused as refused:
        return _prediction_refusal(request, refused.message, refused.status, prediction)
    except streaming.LimitError as exc:
        response = _prediction_refusal(request, str(exc), 429, prediction)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    except _RUN_FAILURES:
        return _prediction_refusal(
            request,
            "Redis is not reachable right now, so the run could not happen. Your "
            "prediction was not recorded; try again in a moment.",
            503,
            prediction,
        )
    lesson = get_course().by_slug(prediction.lesson)
    already = result.outcome is None
    if not request.htmx:
        if already:
            messages.info(request, _already_message(result.try_number))
        return redirect((lesson.url if lesson is not None else "/") + f"#predict-{prediction.id}")
    held = (
        held_block(lesson=lesson, embed_name="predict", arg=prediction.id)
        if lesson is not None
        else None
    )
    return render(
        request,
        "console/_predict_box.html",
        {
            "state": prediction_state(request=request, prediction=prediction, tries=result.tries),
            "outcome": result.outcome,
            "already": _already_message(result.try_number) if already else "",
            "held": held,
        },
        status=409 if already else 200,
    )


def _already_message(try_number: int) -> str:
    if try_number == 1:
        return "Your prediction was already locked in, so this pick was not recorded."
    return f"Try {try_number} was already recorded, so this pick was not recorded again."


@require_POST
async def streams_demo(request: HttpRequest, action: str) -> JsonResponse:
    if action not in demo.ACTIONS:
        return JsonResponse(
            {"error": f"Unknown step; use one of {', '.join(demo.ACTIONS)}."}, status=404
        )
    online = request.POST.get("online", "1") == "1"
    learner = await alearner_key_peek(request)
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
