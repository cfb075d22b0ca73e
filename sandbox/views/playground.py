"""The playground: subscriber panels in the learner's own namespace, and a publish form."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from redis.asyncio.client import PubSub

from learnsite import broker
from learnsite.learners import alearner_key, learner_key
from sandbox import limits, names, services, sse
from sandbox.messages import shown_message
from sandbox.views.common import (
    HtmxHttpRequest,
    clean_uid,
    part,
    problem,
    redis_down_text,
    stream_refusal,
)


def playground_context(request: HttpRequest) -> dict[str, Any]:
    learner = learner_key(request)
    return {
        "prefix": names.prefix_for(learner),
        "panels_max": limits.PANELS_MAX,
        "channel_max": names.CHANNEL_MAX,
        "message_max": limits.MESSAGE_MAX,
        "publish_rate": limits.PUBLISH_RATE,
        "publish_window": limits.PUBLISH_WINDOW,
    }


@require_GET
def playground(request: HttpRequest) -> HttpResponse:
    return render(request, "sandbox/playground.html", {"sb": playground_context(request)})


@require_POST
def panel_add(request: HtmxHttpRequest) -> HttpResponse:
    learner = learner_key(request)
    uid = clean_uid(request.POST.get("uid"))
    target_id = f"#{uid}-add-error" if uid else None
    if len(request.POST.getlist("panel")) >= limits.PANELS_MAX:
        return problem(
            request,
            f"A playground holds at most {limits.PANELS_MAX} subscriber panels. "
            "Remove one, then add this one.",
            status=409,
            target=target_id,
        )
    try:
        target = names.target_for(
            learner=learner,
            kind=request.POST.get("kind", ""),
            name=request.POST.get("name", ""),
        )
    except names.ChannelNameError as exc:
        return problem(request, str(exc), status=400, target=target_id)
    try:
        limits.STREAMS.check(learner)
    except limits.LimitError as exc:
        return problem(request, str(exc), status=429, target=target_id)
    query = urlencode({"kind": target.kind, "name": target.shown})
    context = {
        "target": target,
        "uid": uid,
        "stream_url": f"{reverse('sandbox:stream')}?{query}",
    }
    return part(request, "sandbox/_panel.html", context)


@require_GET
async def stream(request: HttpRequest) -> HttpResponseBase:
    learner = await alearner_key(request)
    try:
        target = names.target_for(
            learner=learner, kind=request.GET.get("kind", ""), name=request.GET.get("name", "")
        )
    except names.ChannelNameError as exc:
        return stream_refusal(request, str(exc))
    prefix = names.prefix_for(learner)

    async def subscribe(pubsub: PubSub) -> None:
        if target.kind == "pattern":
            await pubsub.psubscribe(target.real)
        else:
            await pubsub.subscribe(target.real)

    def render_message(message: dict[str, Any]) -> str:
        shown = shown_message(message, prefix=prefix)
        html = render_to_string("sandbox/_message.html", {"m": shown})
        return sse.event("msg", html)

    async def events() -> AsyncIterator[str]:
        try:
            with limits.STREAMS.hold(learner):
                async for chunk in sse.subscription_events(
                    subscribe=subscribe,
                    render=render_message,
                    down_message=redis_down_text(),
                ):
                    yield chunk
        except limits.LimitError as exc:
            html = render_to_string("sandbox/_status.html", {"state": "limit", "message": str(exc)})
            yield "retry: 60000\n\n"
            yield sse.event("end", html)

    return sse.response(events())


def publish_response(request: HtmxHttpRequest, *, channel: str) -> HttpResponse:
    """Publish the form's message on one of the learner's channels and show what PUBLISH
    returned; every refusal says what is wrong. Shared by the playground and the demo."""
    learner = learner_key(request)
    uid = clean_uid(request.POST.get("uid"))
    target_id = f"#{uid}-publish-result" if uid else None
    try:
        result = services.playground_publish(
            learner=learner, channel=channel, message=request.POST.get("message", "")
        )
    except (names.ChannelNameError, services.MessageError) as exc:
        return problem(request, str(exc), status=400, target=target_id)
    except limits.LimitError as exc:
        return problem(request, str(exc), status=429, target=target_id, retry_after=exc.retry_after)
    except broker.UNAVAILABLE_ERRORS:
        return problem(request, redis_down_text(), status=503, target=target_id)
    return part(request, "sandbox/_publish_result.html", {"result": result})


@require_POST
def publish(request: HtmxHttpRequest) -> HttpResponse:
    return publish_response(request, channel=request.POST.get("channel", ""))
