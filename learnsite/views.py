from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from learnsite import broker


def _database_state() -> dict[str, object]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"state": "down", "vendor": connection.vendor, "error": str(exc)}
    return {"state": "ok", "vendor": connection.vendor}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    database = _database_state()
    redis_health = broker.health()
    ok = database["state"] == "ok" and redis_health.state != "down"
    return JsonResponse(
        {
            "status": "ok" if ok else "degraded",
            "database": database,
            "redis": redis_health.as_dict(),
        },
        status=200 if ok else 503,
    )
