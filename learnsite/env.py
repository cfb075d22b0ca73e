"""The one place that reads the process environment.

Every setting the site takes from outside is read here, parsed, and given a default,
so the rest of the code never touches ``os.environ``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class EnvError(ValueError):
    """A setting in the environment has a value we cannot use."""


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise EnvError(f"{name}={raw!r} is not a boolean; use 1 or 0")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise EnvError(f"{name}={raw!r} is not a whole number") from None


@dataclass(frozen=True)
class Environment:
    debug: bool
    secret_key: str | None
    allowed_hosts: tuple[str, ...]
    csrf_trusted_origins: tuple[str, ...]
    database_url: str | None
    redis_url: str
    # How the Redis was found: "external" (REDIS_URL or 127.0.0.1:6379), "private"
    # (a redis-server we started) or "embedded" (the fakeredis TCP fallback).
    redis_mode: str
    port: int
    web_concurrency: int
    content_dir: Path
    ci: bool
    secure_ssl_redirect: bool
    # PostgreSQL connection pool per worker process (Django's psycopg pool).
    db_pool_min: int
    db_pool_max: int


def read() -> Environment:
    debug = _bool("DEBUG", True)
    hosts = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if debug else "")
    origins = os.environ.get("CSRF_TRUSTED_ORIGINS", "")
    return Environment(
        debug=debug,
        secret_key=os.environ.get("SECRET_KEY") or None,
        allowed_hosts=tuple(h.strip() for h in hosts.split(",") if h.strip()),
        csrf_trusted_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
        database_url=os.environ.get("DATABASE_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        redis_mode=os.environ.get("LEARNSITE_REDIS_MODE", "external"),
        port=_int("PORT", 8000),
        web_concurrency=_int("WEB_CONCURRENCY", os.cpu_count() or 1),
        content_dir=Path(os.environ.get("CONTENT_DIR") or BASE_DIR / "content"),
        ci=_bool("CI", False),
        secure_ssl_redirect=_bool("SECURE_SSL_REDIRECT", False),
        db_pool_min=_int("DB_POOL_MIN", 2),
        db_pool_max=_int("DB_POOL_MAX", 20),
    )
