"""Error reports to Sentry, when ``SENTRY_DSN`` is set.

``learnsite/settings.py`` imports this module only then: without a DSN, ``sentry_sdk`` is
never imported and nothing is sent anywhere. With one, an event carries what is needed to
find the bug and nothing a learner typed or could be impersonated with:

- no request bodies (``max_request_body_size="never"``), no cookies, no ``Authorization``
  or forwarded-address headers, no client address (``send_default_pii=False``), and no
  local variables of the traceback (they hold request data and keys);
- the learner as the same hash the logs use (``learnsite.requestlog.learner_hash``), never
  their key or session id;
- a password in any ``scheme://user:password@host`` (a ``REDIS_URL`` in an exception's
  message, a query string) masked, as the DEBUG page does (``learnsite.reports``).
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration

from learnsite import logs
from learnsite.reports import mask_url_passwords

_DROPPED_HEADERS = frozenset(
    {
        "cookie",
        "authorization",
        "x-forwarded-for",
        "x-real-ip",
        "x-csrftoken",
        "proxy-authorization",
    }
)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_url_passwords(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


def scrub(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """``before_send``: what leaves the site (see the module's docstring)."""
    request = event.get("request")
    if isinstance(request, dict):
        for name in ("data", "cookies", "env"):
            request.pop(name, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                key: value for key, value in headers.items() if key.lower() not in _DROPPED_HEADERS
            }
    info = logs.current()
    if info is not None and info.learner:
        event["user"] = {"id": info.learner}
    else:
        event.pop("user", None)
    if info is not None:
        event.setdefault("tags", {})["request_id"] = info.request_id
    masked: dict[str, Any] = _masked(event)
    return masked


def start(dsn: str, *, environment: str) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration()],
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        before_send=scrub,  # type: ignore[arg-type]
    )
