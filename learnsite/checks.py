"""Deployment checks of the ground (``manage.py check --deploy``).

learnsite.W001: the sandbox Redis (learner data) is the site's own Redis. Learners can then
fill its memory, hold its clients and stall its one thread with what the site itself needs
(live feeds, presence, rate limits, admission claims). Set ``SANDBOX_REDIS_URL`` to another
server.

Django's own security checks look for its middleware by dotted path in ``MIDDLEWARE``
(``"django.middleware.security.SecurityMiddleware" in settings.MIDDLEWARE``). The site runs
subclasses of them (``learnsite/asyncmiddleware.py``, ``learnsite.middleware``), so
:func:`recognise_site_middleware` teaches those four gates to accept a subclass: otherwise
``check --deploy`` would warn that the middleware is missing (security.W001-W003) and skip
every check behind it (HSTS, SSL redirect, secure CSRF and session cookies), silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register
from django.core.checks.security import base, csrf, sessions
from django.utils.module_loading import import_string

from learnsite import broker


@register(Tags.security, deploy=True)
def sandbox_redis_apart(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    if not broker.sandbox_shared_with_site():
        return []
    return [
        Warning(
            "Learner data (console keys, playground and chat channels, demo runs) is on "
            f"the site's own Redis ({broker.describe_url()}): what learners fill or block "
            "there, the site loses too.",
            hint="Set SANDBOX_REDIS_URL to a Redis server of its own, with maxmemory and "
            "maxmemory-policy volatile-ttl.",
            id="learnsite.W001",
        )
    ]


_GATES: dict[tuple[Any, str], str] = {
    (base, "_security_middleware"): "django.middleware.security.SecurityMiddleware",
    (base, "_xframe_middleware"): "django.middleware.clickjacking.XFrameOptionsMiddleware",
    (csrf, "_csrf_middleware"): "django.middleware.csrf.CsrfViewMiddleware",
    (sessions, "_session_middleware"): "django.contrib.sessions.middleware.SessionMiddleware",
}


def uses_middleware(dotted: str) -> bool:
    """Whether ``MIDDLEWARE`` holds ``dotted`` or a subclass of it."""
    wanted = import_string(dotted)
    for entry in settings.MIDDLEWARE:
        if entry == dotted:
            return True
        try:
            found = import_string(entry)
        except ImportError:
            continue
        if isinstance(found, type) and issubclass(found, wanted):
            return True
    return False


def _gate(dotted: str) -> Callable[[], bool]:
    return lambda: uses_middleware(dotted)


def recognise_site_middleware() -> None:
    """Point Django's middleware gates (private functions of ``django.core.checks.security``,
    pinned with Django 5.2) at :func:`uses_middleware`. A Django that renamed one fails
    here, loudly, rather than skipping its checks."""
    for (module, name), dotted in _GATES.items():
        if not callable(getattr(module, name, None)):
            raise RuntimeError(f"django.core.checks.security has no {name}: update {__name__}")
        setattr(module, name, _gate(dotted))
