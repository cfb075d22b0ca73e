"""The playground: subscriber panels in the learner's own namespace, and a publish form."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from learnsite import broker, streaming
from learnsite.http import HtmxHttpRequest
from learnsite.learners import alearner_key_peek, learner_key_peek
from sandbox import limits, names, services
from sandbox.pages import playground_context
from sandbox.streams import panel_events
from sandbox.views.common import (
    apart,
    apart_problem,
    clean_uid,
    part,
    problem,
    redis_down_text,
    stream_refusal,
)


@require_GET
def playground(request: HttpRequest) -> HttpResponse:
    return render(request, "sandbox/playground.html", {"sb": playground_context(request)})


@require_POST
def panel_add(request: HtmxHttpRequest) -> HttpResponse:
    learner = learner_key_peek(request)
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
        limits.STREAMS.check(learner=learner, client_addr=streaming.client_addr(request))
    except limits.LimitError as exc:
        return problem(request, str(exc), status=429, target=target_id, retry_after=exc.retry_after)
    query = urlencode({"kind": target.kind, "name": target.shown})
    context = {
        "target": target,
        "uid": uid,
        "stream_url": f"{reverse('sandbox:stream')}?{query}",
    }
    return part(request, "sandbox/_panel.html", context)


@require_GET
async def stream(request: HttpRequest) -> HttpResponseBase:
    learner = await alearner_key_peek(request)
    try:
        target = names.target_for(
            learner=learner, kind=request.GET.get("kind", ""), name=request.GET.get("name", "")
        )
    except names.ChannelNameError as exc:
        return stream_refusal(request, str(exc))
    return streaming.event_stream(
        panel_events(
            learner=learner,
            client_addr=streaming.client_addr(request),
            target=target,
            down_message=redis_down_text(),
        )
    )


async def publish_response(request: HtmxHttpRequest, *, channel: str) -> HttpResponse:
    """Publish the form's message on one of the learner's channels and show what PUBLISH
    returned; every refusal says what is wrong. Shared by the playground and the demo.

    An async view: a publish is Redis work only (the learner's key needs no session), so
    it runs on the event loop; only a page without htmx renders in a thread (the layout
    asks for the user)."""
    learner = await alearner_key_peek(request)
    uid = clean_uid(request.POST.get("uid"))
    target_id = f"#{uid}-publish-result" if uid else None
    try:
        result = await services.playground_publish(
            learner=learner,
            channel=channel,
            message=request.POST.get("message", ""),
            client_addr=streaming.client_addr(request),
        )
    except (names.ChannelNameError, services.MessageError) as exc:
        return await apart_problem(request, str(exc), status=400, target=target_id)
    except limits.LimitError as exc:
        return await apart_problem(
            request, str(exc), status=429, target=target_id, retry_after=exc.retry_after
        )
    except broker.UNAVAILABLE_ERRORS as exc:
        return await apart_problem(request, redis_down_text(exc), status=503, target=target_id)
    return await apart(request, "sandbox/_publish_result.html", {"result": result})


@require_POST
async def publish(request: HtmxHttpRequest) -> HttpResponse:
    return await publish_response(request, channel=request.POST.get("channel", ""))
