"""The chat room: everyone in ``chat:<room>`` sees every line, through Redis pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from learnsite import broker
from learnsite.learners import alearner_key, learner_key
from sandbox import chat_hub, limits, names, services, sse
from sandbox.views.common import (
    HtmxHttpRequest,
    clean_uid,
    part,
    problem,
    redis_down_text,
    stream_refusal,
)

NICK_SESSION_KEY = "sandbox_chat_nick"


def room_context(request: HttpRequest, room: str, uid: str | None = None) -> dict[str, Any]:
    nick = request.session.get(NICK_SESSION_KEY)
    return {
        "room": room,
        "nick": nick if isinstance(nick, str) else None,
        "uid": uid,
        "share_url": request.build_absolute_uri(reverse("sandbox:chat_room", args=[room])),
        "events_url": reverse("sandbox:chat_events", args=[room]),
        "message_max": limits.CHAT_MESSAGE_MAX,
        "nick_max": limits.NICK_MAX,
        "channel": names.chat_channel(room),
    }


def _room_or_problem(request: HtmxHttpRequest, room: str) -> str | HttpResponse:
    try:
        return names.clean_room(room)
    except names.ChannelNameError as exc:
        return problem(request, str(exc), status=400)


@require_GET
def lobby(request: HttpRequest) -> HttpResponse:
    return render(request, "sandbox/chat_lobby.html", {})


@require_POST
def create(request: HtmxHttpRequest) -> HttpResponse:
    learner_key(request)
    room = services.chat_room_create()
    uid = clean_uid(request.POST.get("uid"))
    if request.htmx and uid:
        return part(request, "sandbox/_chat_room.html", room_context(request, room, uid))
    return HttpResponseRedirect(reverse("sandbox:chat_room", args=[room]))


@require_GET
def room_page(request: HtmxHttpRequest, room: str) -> HttpResponse:
    cleaned = _room_or_problem(request, room)
    if isinstance(cleaned, HttpResponse):
        return cleaned
    learner_key(request)
    return render(request, "sandbox/chat_room.html", {"c": room_context(request, cleaned)})


@require_POST
def nick(request: HtmxHttpRequest, room: str) -> HttpResponse:
    cleaned = _room_or_problem(request, room)
    if isinstance(cleaned, HttpResponse):
        return cleaned
    uid = clean_uid(request.POST.get("uid"))
    try:
        request.session[NICK_SESSION_KEY] = services.clean_nick(request.POST.get("nick", ""))
    except services.MessageError as exc:
        return problem(request, str(exc), status=400, target=f"#{uid}-error" if uid else None)
    if not request.htmx:
        return HttpResponseRedirect(reverse("sandbox:chat_room", args=[cleaned]))
    return part(request, "sandbox/_chat_room.html", room_context(request, cleaned, uid))


@require_POST
def send(request: HtmxHttpRequest, room: str) -> HttpResponse:
    cleaned = _room_or_problem(request, room)
    if isinstance(cleaned, HttpResponse):
        return cleaned
    uid = clean_uid(request.POST.get("uid"))
    target = f"#{uid}-error" if uid else None
    context = room_context(request, cleaned, uid)
    if context["nick"] is None:
        return problem(request, "Choose a nickname first.", status=400, target=target)
    try:
        services.chat_publish(
            learner=learner_key(request),
            room=cleaned,
            nick=context["nick"],
            text=request.POST.get("text", ""),
        )
    except services.MessageError as exc:
        return problem(request, str(exc), status=400, target=target)
    except limits.LimitError as exc:
        return problem(request, str(exc), status=429, target=target, retry_after=exc.retry_after)
    except broker.UNAVAILABLE_ERRORS:
        return problem(request, redis_down_text(), status=503, target=target)
    if not request.htmx:
        return HttpResponseRedirect(reverse("sandbox:chat_room", args=[cleaned]))
    return part(request, "sandbox/_chat_form.html", {"c": context})


@require_GET
async def events(request: HttpRequest, room: str) -> HttpResponseBase:
    learner = await alearner_key(request)
    try:
        cleaned = names.clean_room(room)
    except names.ChannelNameError as exc:
        return stream_refusal(request, str(exc))
    nickname = await request.session.aget(NICK_SESSION_KEY)
    if not isinstance(nickname, str):
        return stream_refusal(request, "Choose a nickname first, then the room opens.")
    down = redis_down_text()

    async def stream() -> AsyncIterator[str]:
        try:
            with limits.STREAMS.hold(learner):
                hub = chat_hub.get_chat_hub()
                viewer = await hub.join(cleaned)
                subscribed = not viewer.pending()  # else the hub has queued "Redis is down"
                announced = False
                try:
                    yield "retry: 3000\n\n"
                    if subscribed:
                        yield sse.status_event("live", "Live: you are in the room.")
                    with contextlib.suppress(*broker.UNAVAILABLE_ERRORS):
                        await services.chat_announce(room=cleaned, nick=nickname, kind="join")
                        announced = True
                    async for chunk in chat_hub.viewer_events(viewer, down_message=down):
                        yield chunk
                except asyncio.CancelledError:
                    # The tab went away: leave the hub (the last one out unsubscribes).
                    raise
                finally:
                    hub.leave(viewer)
                    if announced:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(
                                asyncio.shield(
                                    services.chat_announce(
                                        room=cleaned, nick=nickname, kind="leave"
                                    )
                                ),
                                timeout=1.0,
                            )
        except limits.LimitError as exc:
            html = render_to_string("sandbox/_status.html", {"state": "limit", "message": str(exc)})
            yield "retry: 60000\n\n"
            yield sse.event("end", html)

    return sse.response(stream())
