"""What the sandbox pages and lesson embeds show. Everything here only reads: a page may
show a learner's namespace before they have done anything, so the key is the provisional
one (``learner_key_peek``) and nothing is written."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from learnsite.content.embeds import EmbedUse
from learnsite.learners import learner_key_peek
from sandbox import chat_seats, limits, names
from sandbox.demo import runs
from sandbox.workers import app as workers_app
from sandbox.workers import group as workers_group
from sandbox.workers import queue as workers_queue
from sandbox.workers import runs as workers_runs

_FORMATTER = HtmlFormatter(cssclass="highlight", wrapcode=True)  # as lessons/rendering.py

# The seat (signed) each room's nickname form last gave this session, for a client that
# sends no seat of its own (a plain form, a script); and the nickname last chosen, to fill
# the form in. Only POSTs write them.
SEATS_SESSION_KEY = "sandbox_chat_seats"
LAST_NICK_SESSION_KEY = "sandbox_chat_nick"


def playground_context(request: HttpRequest) -> dict[str, Any]:
    return _playground(names.prefix_for(learner_key_peek(request)))


def _playground(prefix: str) -> dict[str, Any]:
    return {
        "prefix": prefix,
        "panels_max": limits.PANELS_MAX,
        "channel_max": names.CHANNEL_MAX,
        "message_max": limits.MESSAGE_MAX,
        "publish_rate": limits.PUBLISH_RATE,
        "publish_window": limits.PUBLISH_WINDOW,
    }


# The lesson embed is the same for every reader but for their prefix: rendered once with
# this marker in its place, each request puts its reader's own prefix in (issue 16).
PREFIX_MARKER = "sandbox-prefix-marker-3e9a71c4"


def playground_embed_key(request: HttpRequest, use: EmbedUse) -> Hashable:
    return "every reader"


def playground_embed_context(request: HttpRequest, use: EmbedUse) -> dict[str, Any]:
    return {"sb": _playground(PREFIX_MARKER)}


def playground_embed_fill(request: HttpRequest, use: EmbedUse) -> dict[str, str]:
    # A prefix is "sandbox:" and 16 hex digits: nothing in it to escape, escaped anyway.
    return {PREFIX_MARKER: escape(names.prefix_for(learner_key_peek(request)))}


def highlighted(source: str) -> SafeString:
    """Python highlighted as the lessons' code is (Pygments, the same CSS classes)."""
    return mark_safe(highlight(source, PythonLexer(), _FORMATTER))


def demo_context() -> dict[str, Any]:
    return {
        "source_main": runs.source("main"),
        "source_thread": runs.source("thread"),
        "source_main_html": highlighted(runs.source("main")),
        "source_thread_html": highlighted(runs.source("thread")),
        "max_seconds": int(runs.MAX_SECONDS),
        "max_runs": runs.MAX_RUNS,
        "channel": runs.DEMO_CHANNEL,
    }


def workers_context(request: HttpRequest, kind: str) -> dict[str, Any]:
    """A worker embed: the code its workers run, verbatim, and the real key names."""
    base = names.prefix_for(learner_key_peek(request))
    common = {
        "prefix": base,
        "max_seconds": int(workers_runs.MAX_SECONDS),
        "job_seconds": workers_app.JOB_SECONDS,
    }
    if kind == "queue":
        keys = workers_queue.QueueKeys(base + workers_queue.QueueRun.key_part + ":")
        return common | {
            "keys": keys,
            "source_a": workers_runs.source(workers_app.brpop_worker),
            "source_b": workers_runs.source(workers_app.blmove_worker),
            "source_reaper": workers_runs.source(workers_app.reaper),
            "heartbeat": workers_app.HEARTBEAT_SECONDS,
            "max_jobs": workers_queue.MAX_JOBS,
        }
    keys_g = workers_group.GroupKeys(base + workers_group.GroupRun.key_part + ":")
    return common | {
        "keys": keys_g,
        "source_consumer": workers_runs.source(workers_app.group_consumer),
        "source_janitor": workers_runs.source(workers_app.janitor),
        "min_idle_ms": workers_group.MIN_IDLE_MS,
        "max_entries": workers_group.MAX_ENTRIES,
    }


def room_context(
    request: HttpRequest,
    room: str,
    uid: str | None = None,
    *,
    seat: chat_seats.Seat | None = None,
    room_error: str | None = None,
) -> dict[str, Any]:
    """A chat room as one tab shows it: with ``seat``, the tab is in the room under that
    nickname; without, it offers the nickname form (filled with the last one used)."""
    last = request.session.get(LAST_NICK_SESSION_KEY)
    events_url = reverse("sandbox:chat_events", args=[room])
    return {
        "room": room,
        "nick": seat.nick if seat else None,
        "seat": seat.token if seat else "",
        "last_nick": last if isinstance(last, str) else "",
        "uid": uid,
        "share_url": request.build_absolute_uri(reverse("sandbox:chat_room", args=[room])),
        "events_url": f"{events_url}?{urlencode({'seat': seat.token})}" if seat else events_url,
        "message_max": limits.CHAT_MESSAGE_MAX,
        "nick_max": limits.NICK_MAX,
        "nick_charset": chat_seats.NICK_CHARSET,
        "channel": names.chat_channel(room),
        "room_error": room_error,
    }


def lesson_room(request: HttpRequest, page_room: str | None) -> dict[str, Any] | None:
    """The room a lesson's chat embed joins: ``?room=`` if the URL names a valid one, else
    the room the page names; None when neither does (the embed offers a new room). A bad
    ``?room=`` is said, beside the page's room."""
    asked = request.GET.get("room")
    error = None
    if asked is not None:
        try:
            return room_context(request, names.clean_room(asked))
        except names.ChannelNameError as exc:
            error = str(exc)
    room = None
    if page_room:
        try:
            room = names.clean_room(page_room)
        except names.ChannelNameError:
            room = None
    if room is None:
        return {"room": None, "room_error": error} if error else None
    return room_context(request, room, room_error=error)
