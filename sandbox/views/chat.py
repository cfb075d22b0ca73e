"""The chat room: everyone in ``chat:<room>`` sees every line, through Redis pub/sub."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from learnsite import broker, streaming
from learnsite.http import HtmxHttpRequest
from learnsite.learners import alearner_key_peek, learner_key_peek
from sandbox import chat_hub, chat_seats, limits, names, services
from sandbox.pages import LAST_NICK_SESSION_KEY, SEATS_SESSION_KEY, room_context
from sandbox.views.common import (
    clean_uid,
    part,
    problem,
    redis_down_text,
    stream_refusal,
)

SEATS_KEPT = 20  # rooms a session remembers its last seat in
_LAPSED = (
    "Someone else is called {nick} in this room now (this tab lost its connection for a "
    "while). Reload the page and choose a nickname again."
)


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
    learner_key_peek(request)  # the creator's key (a signed cookie if new) names its seats
    room = services.chat_room_create()
    uid = clean_uid(request.POST.get("uid"))
    if request.htmx and uid:
        return part(request, "sandbox/_chat_room.html", {"c": room_context(request, room, uid)})
    return HttpResponseRedirect(reverse("sandbox:chat_room", args=[room]))


@require_GET
def room_page(request: HtmxHttpRequest, room: str) -> HttpResponse:
    cleaned = _room_or_problem(request, room)
    if isinstance(cleaned, HttpResponse):
        return cleaned
    return render(request, "sandbox/chat_room.html", {"c": room_context(request, cleaned)})


def _seat_of(request: HttpRequest, room: str, token: str | None) -> chat_seats.Seat | None:
    """The seat this tab holds in ``room``: the one it sent, else the session's last one."""
    if not token:
        seats = request.session.get(SEATS_SESSION_KEY)
        token = seats.get(room) if isinstance(seats, dict) else None
    if not isinstance(token, str):
        return None
    return chat_seats.seat_from_token(token, room=room, learner=learner_key_peek(request))


@require_POST
def nick(request: HtmxHttpRequest, room: str) -> HttpResponse:
    cleaned = _room_or_problem(request, room)
    if isinstance(cleaned, HttpResponse):
        return cleaned
    uid = clean_uid(request.POST.get("uid"))
    target = f"#{uid}-error" if uid else None
    try:
        seat = services.chat_seat_take(
            room=cleaned, nick=request.POST.get("nick", ""), learner=learner_key_peek(request)
        )
    except services.MessageError as exc:
        return problem(request, str(exc), status=409, target=target)
    except broker.UNAVAILABLE_ERRORS as exc:
        return problem(request, redis_down_text(exc), status=503, target=target)
    seats = request.session.get(SEATS_SESSION_KEY)
    seats = {k: v for k, v in seats.items() if k != cleaned} if isinstance(seats, dict) else {}
    request.session[SEATS_SESSION_KEY] = dict(list(seats.items())[-(SEATS_KEPT - 1) :]) | {
        cleaned: seat.token
    }
    request.session[LAST_NICK_SESSION_KEY] = seat.nick
    if not request.htmx:
        return HttpResponseRedirect(reverse("sandbox:chat_room", args=[cleaned]))
    return part(
        request, "sandbox/_chat_room.html", {"c": room_context(request, cleaned, uid, seat=seat)}
    )


@require_POST
def send(request: HtmxHttpRequest, room: str) -> HttpResponse:
    cleaned = _room_or_problem(request, room)
    if isinstance(cleaned, HttpResponse):
        return cleaned
    uid = clean_uid(request.POST.get("uid"))
    target = f"#{uid}-error" if uid else None
    seat = _seat_of(request, cleaned, request.POST.get("seat"))
    if seat is None:
        return problem(request, "Choose a nickname first.", status=400, target=target)
    context = room_context(request, cleaned, uid, seat=seat)
    try:
        if not chat_seats.seat_keep(seat):
            return problem(request, _LAPSED.format(nick=seat.nick), status=409, target=target)
        services.chat_publish(
            learner=learner_key_peek(request),
            room=cleaned,
            nick=seat.nick,
            text=request.POST.get("text", ""),
            client_addr=streaming.client_addr(request),
        )
    except services.MessageError as exc:
        return problem(request, str(exc), status=400, target=target)
    except limits.LimitError as exc:
        return problem(request, str(exc), status=429, target=target, retry_after=exc.retry_after)
    except broker.UNAVAILABLE_ERRORS as exc:
        return problem(request, redis_down_text(exc), status=503, target=target)
    if not request.htmx:
        return HttpResponseRedirect(reverse("sandbox:chat_room", args=[cleaned]))
    return part(request, "sandbox/_chat_form.html", {"c": context})


@require_GET
async def events(request: HttpRequest, room: str) -> HttpResponseBase:
    learner = await alearner_key_peek(request)
    try:
        cleaned = names.clean_room(room)
    except names.ChannelNameError as exc:
        return stream_refusal(request, str(exc))
    token = request.GET.get("seat")
    if not token:
        seats = await request.session.aget(SEATS_SESSION_KEY)
        token = seats.get(cleaned) if isinstance(seats, dict) else None
    seat = (
        chat_seats.seat_from_token(token, room=cleaned, learner=learner)
        if isinstance(token, str)
        else None
    )
    if seat is None:
        return stream_refusal(request, "Choose a nickname first, then the room opens.")
    return streaming.event_stream(
        chat_hub.chat_events(
            seat=seat, client_addr=streaming.client_addr(request), down_message=redis_down_text()
        )
    )
