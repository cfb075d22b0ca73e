from __future__ import annotations

import hmac

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from learnsite import admission, broker, metrics, multiplex, requestlog, streaming
from learnsite.content import lastgood

# How the local host looks once learnsite.admission has read the address (it counts IPv6
# per /64, and ::/64 holds no address but ::1 that a packet can come from).
_LOCAL = frozenset({admission.client_address("127.0.0.1"), admission.client_address("::1")})


def _database_state() -> dict[str, object]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"state": "down", "vendor": connection.vendor, "error": str(exc)}
    return {"state": "ok", "vendor": connection.vendor}


def _may_see_details(request: HttpRequest) -> bool:
    """Staff, or the host itself (an operator's curl, a local health checker). The client
    address is the peer's, or the one a proxy in ``TRUSTED_PROXIES`` forwarded, so a proxy
    on this host does not make the whole world local."""
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    return admission.request_address(request) in _LOCAL


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """``ok`` (200) or ``degraded`` (503) for a load balancer. What is wrong, which Redis and
    the error texts (which name hosts and users) only for staff and the local host."""
    database = _database_state()
    redis_health = broker.health()
    content = lastgood.state()
    failed = [
        name
        for name, bad in (
            ("database", database["state"] != "ok"),
            ("redis", redis_health.state == "down"),
            ("content", not content.valid),
        )
        if bad
    ]
    status = 503 if failed else 200
    if failed:
        requestlog.note_cause("unhealthy")
    summary = "degraded" if failed else "ok"
    if not _may_see_details(request):
        return JsonResponse({"status": summary}, status=status)
    return JsonResponse(
        {
            "status": summary,
            "failed": failed,
            "database": database,
            "redis": redis_health.as_dict(),
            "sandbox_redis": broker.sandbox_health(),
            "content": content.as_dict(),
        },
        status=status,
    )


def _may_scrape(request: HttpRequest) -> bool:
    """A bearer token that matches ``METRICS_TOKEN`` (a wrong one: 403), or, without one,
    the host itself (as for /healthz: through a proxy in ``TRUSTED_PROXIES`` the client
    is the address it forwarded). Anyone else is told there is nothing here (404)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given:
        token = settings.METRICS_TOKEN
        if token and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
        raise PermissionDenied("wrong metrics token")
    return admission.request_address(request) in _LOCAL


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition of every worker's metrics (``learnsite/metrics.py``)."""
    if not _may_scrape(request):
        raise Http404("no metrics here")
    body = metrics.render(settings.METRICS_MULTIPROC_DIR)
    return HttpResponse(body, content_type=metrics.CONTENT_TYPE)


@require_GET
async def streams(request: HttpRequest) -> HttpResponseBase:
    """Several streams in one (``learnsite.multiplex``): ``?s=<stream path>`` each."""
    targets = request.GET.getlist("s")
    if not targets:
        return HttpResponse(
            "Give one or more stream paths to follow (s=).",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return streaming.event_stream(multiplex.mux_events(request, targets))
