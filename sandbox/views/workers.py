"""The worker embeds (lessons 7 and 8): start a run, stream it, send it an action."""

from __future__ import annotations

import re
import secrets

from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from learnsite import broker, streaming
from learnsite.http import HtmxHttpRequest
from learnsite.learners import alearner_key_peek, learner_key_peek
from sandbox import limits
from sandbox.views.common import clean_uid, part, problem, redis_down_text, stream_refusal
from sandbox.workers import runs
from sandbox.workers.events import KINDS, run_events

TOKEN_TTL = 60  # seconds a started run waits for its page to connect
_RUN_ID_RE = re.compile(r"[0-9a-f]{12}")
ACTION_LABELS = {
    "enqueue": "Enqueue 3 jobs",
    "kill-a": "Kill worker A",
    "kill-b": "Kill worker B",
    "restart-a": "Restart worker A",
    "restart-b": "Restart worker B",
    "add": "Add 3 entries",
    "crash-1": "Crash consumer-1",
    "restart-1": "Restart consumer-1",
    "stop": "Stop the run",
}


def _kind(raw: str) -> type[runs.Run]:
    found = KINDS.get(raw)
    if found is None:
        raise Http404("There is no such worker demo.")
    return found


@require_POST
def start(request: HtmxHttpRequest, kind: str) -> HttpResponse:
    run_class = _kind(kind)
    learner = learner_key_peek(request)
    uid = clean_uid(request.POST.get("uid"))
    target = f"#{uid}-start-error" if uid else None
    try:
        runs.REGISTRY.check(learner=learner, client_addr=streaming.client_addr(request))
    except limits.LimitError as exc:
        return problem(request, str(exc), status=429, target=target, retry_after=exc.retry_after)
    except broker.UNAVAILABLE_ERRORS as exc:
        return problem(request, redis_down_text(exc), status=503, target=target)
    token = secrets.token_urlsafe(16)
    run_id = secrets.token_hex(6)
    try:
        broker.client().set(runs.token_key(token), f"{learner}|{kind}|{run_id}", ex=TOKEN_TTL)
    except broker.UNAVAILABLE_ERRORS as exc:
        return problem(request, redis_down_text(exc), status=503, target=target)
    context = {
        "uid": uid,
        "kind": kind,
        "run_id": run_id,
        "events_url": reverse("sandbox:workers_events", args=[token]),
        "control_url": reverse("sandbox:workers_control", args=[kind]),
        "buttons": [(a, ACTION_LABELS[a]) for a in run_class.actions if a != "stop"],
        "max_seconds": int(runs.MAX_SECONDS),
    }
    return part(request, "sandbox/workers/_run.html", context)


@require_GET
async def events(request: HttpRequest, token: str) -> HttpResponseBase:
    learner = await alearner_key_peek(request)
    key = runs.token_key(token[:64])
    try:
        site = broker.async_client()
        owner, _, rest = runs.decoded(await site.get(key)).partition("|")
    except broker.UNAVAILABLE_ERRORS as exc:
        return stream_refusal(request, redis_down_text(exc), state="down")
    kind, _, run_id = rest.partition("|")
    if owner != learner or kind not in KINDS:
        # Someone else's link (or none): refused, and left alone for its owner.
        return stream_refusal(
            request, "This run has ended or its link expired. Start a new run.", state="ended"
        )
    try:
        await site.delete(key)  # a link opens its run once
    except broker.UNAVAILABLE_ERRORS as exc:
        return stream_refusal(request, redis_down_text(exc), state="down")
    return streaming.event_stream(
        run_events(
            kind=kind,
            learner=learner,
            run_id=run_id,
            client_addr=streaming.client_addr(request),
        )
    )


@require_POST
def control(request: HtmxHttpRequest, kind: str) -> HttpResponse:
    run_class = _kind(kind)
    learner = learner_key_peek(request)
    action = request.POST.get("action", "")
    run_id = request.POST.get("run", "")
    if action not in run_class.actions:
        names = ", ".join(ACTION_LABELS[a] for a in run_class.actions)
        return problem(request, f"Unknown action; use one of the buttons: {names}.", status=400)
    if not _RUN_ID_RE.fullmatch(run_id):
        return problem(request, "This is not a run of yours; start a new run.", status=400)
    try:
        client = broker.client()
        if runs.decoded(client.get(runs.live_key(learner))) != run_id:
            return problem(request, "This run has ended. Start a new run.", status=409)
        key = runs.control_key(learner, run_id)
        with client.pipeline(transaction=True) as pipe:
            pipe.rpush(key, action)
            pipe.ltrim(key, -runs.CONTROL_MAX, -1)
            pipe.expire(key, runs.KEY_TTL)
            pipe.execute()
    except broker.UNAVAILABLE_ERRORS as exc:
        return problem(request, redis_down_text(exc), status=503)
    return HttpResponse(f"Sent: {ACTION_LABELS[action]}.")
