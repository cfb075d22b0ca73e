"""The one place that reads the process environment.

Every setting the site takes from outside is read here, parsed, and given a default,
so the rest of the code never touches ``os.environ``.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

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


def _int_at_least(name: str, default: int, least: int) -> int:
    value = _int(name, default)
    if value < least:
        raise EnvError(f"{name}={value} is too small: give a whole number from {least} up")
    return value


def _networks(name: str) -> tuple[str, ...]:
    raw = os.environ.get(name, "")
    entries = tuple(e.strip() for e in raw.split(",") if e.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise EnvError(
                f"{name}: {entry!r} is not an IP address or network; "
                "write e.g. 127.0.0.1,10.0.0.0/8"
            ) from None
    return entries


@dataclass(frozen=True)
class Mail:
    """Where the site's mail goes (``EMAIL_URL``): ``smtp://user:pass@host:587`` (STARTTLS),
    ``smtps://...`` (TLS from the start, port 465) or ``console://`` (printed to the server's
    output, for development)."""

    kind: str  # "smtp" or "console"
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = ""
    use_ssl: bool = False
    from_address: str = ""


def _mail(name: str, debug: bool) -> Mail | None:
    """``EMAIL_URL``; unset: the console under DEBUG, else no mail at all (None)."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return Mail("console") if debug else None
    parts = urlsplit(raw)
    if parts.scheme == "console":
        return Mail("console")
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise EnvError(
            f"{name} must look like smtp://user:password@host:587, smtps://... or console://"
        )
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
    except ValueError:
        raise EnvError(
            f"{name} has a port that is not a number; write e.g. smtp://user:password@host:587"
        ) from None
    sender = parse_qs(parts.query).get("from", [""])[0]
    return Mail(
        "smtp",
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_ssl=parts.scheme == "smtps",
        from_address=sender,
    )


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
    # The Redis that holds learner data (console keys, playground and chat channels, demo
    # runs); None means the site's own Redis (REDIS_URL) holds it too.
    sandbox_redis_url: str | None
    # How it was found: "external" (SANDBOX_REDIS_URL), "private" (make run started one),
    # "embedded" (the fakeredis fallback) or "shared" (it is the site's Redis).
    sandbox_redis_mode: str
    # Redis ACL users per learner on the sandbox Redis (SANDBOX_ACL=0: the prefix rewrite
    # alone, e.g. on a managed Redis whose ACL you do not want the site to change).
    sandbox_acl: bool
    port: int
    web_concurrency: int
    content_dir: Path
    ci: bool
    secure_ssl_redirect: bool
    # PostgreSQL connection pool per worker process (Django's psycopg pool).
    db_pool_min: int
    db_pool_max: int
    # Long-lived threads per worker process that run the requests' sync work (views, the
    # ORM), one lent per request (learnsite/asgihandler.py); each keeps its own database
    # connection.
    sync_threads: int
    # PostgreSQL: seconds a statement waits for a lock, and runs at all, before it fails
    # (an OperationalError: the learner sees 503 "try again" instead of a hung page).
    db_lock_timeout: int
    db_statement_timeout: int
    # Proxies whose X-Forwarded-For is believed (addresses or networks); empty: none.
    trusted_proxies: tuple[str, ...]
    # Where admission claims and rate counters live in the site Redis.
    admission_prefix: str
    lab_prefix: str
    # The shared demo feeds a learner may kick a match off on (and the console may publish
    # to): comma-separated feed names. The seconds between a kicked-off match's updates.
    live_demo_feeds: tuple[str, ...]
    live_match_interval: float
    # The live stream's direct write into uvicorn's transport (live/asgi.py): "auto" takes
    # it only under the uvicorn versions it was tested with, "on" wherever the transport
    # looks as expected, "off" never (every frame through the ASGI send).
    live_direct_write: str
    # Edge mode (live/edge.py): "nchan" when nginx + nchan holds the viewers' streams and
    # the site only publishes (through `manage.py live_edge_relay`); "off" (default): none.
    live_edge: str
    live_edge_publish_url: str
    anon_retention_days: int
    # Logs: "plain" (default) or "json" (one object per line; learnsite/logs.py).
    log_format: str
    # Error reporting: sentry-sdk is imported and started only when SENTRY_DSN is set.
    sentry_dsn: str | None
    sentry_environment: str
    # /metrics: from the local host, or with "Authorization: Bearer <METRICS_TOKEN>".
    metrics_token: str | None
    # prometheus_client's multiprocess mode (it reads the variable itself, too): where
    # every worker writes its values. Unset: one process's registry.
    metrics_multiproc_dir: Path | None
    # Mail (password reset): EMAIL_URL; None means the site sends no mail.
    mail: Mail | None = None


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (os.environ.get(name) or default).strip().lower()
    if value not in choices:
        raise EnvError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


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
        sandbox_redis_url=os.environ.get("SANDBOX_REDIS_URL") or None,
        sandbox_redis_mode=os.environ.get(
            "LEARNSITE_SANDBOX_REDIS_MODE",
            "external" if os.environ.get("SANDBOX_REDIS_URL") else "shared",
        ),
        sandbox_acl=_bool("SANDBOX_ACL", True),
        port=_int("PORT", 8000),
        web_concurrency=_int("WEB_CONCURRENCY", os.cpu_count() or 1),
        content_dir=Path(os.environ.get("CONTENT_DIR") or BASE_DIR / "content"),
        ci=_bool("CI", False),
        secure_ssl_redirect=_bool("SECURE_SSL_REDIRECT", False),
        db_pool_min=_int("DB_POOL_MIN", 2),
        db_pool_max=_int("DB_POOL_MAX", 20),
        sync_threads=_int_at_least("SYNC_THREADS", 8, 1),
        db_lock_timeout=_int("DB_LOCK_TIMEOUT", 5),
        db_statement_timeout=_int("DB_STATEMENT_TIMEOUT", 15),
        trusted_proxies=_networks("TRUSTED_PROXIES"),
        admission_prefix=os.environ.get("ADMISSION_PREFIX") or "admission",
        lab_prefix=os.environ.get("LAB_PREFIX") or "lab",
        live_demo_feeds=tuple(
            f.strip() for f in (os.environ.get("LIVE_DEMO_FEEDS") or "demo").split(",") if f.strip()
        ),
        live_match_interval=float(os.environ.get("LIVE_MATCH_INTERVAL") or "2.0"),
        live_direct_write=_choice("LIVE_DIRECT_WRITE", "auto", ("auto", "on", "off")),
        live_edge=_choice("LIVE_EDGE", "off", ("off", "nchan")),
        live_edge_publish_url=os.environ.get("LIVE_EDGE_PUBLISH_URL")
        or "http://127.0.0.1:8090/pub/",
        anon_retention_days=_int("ANON_RETENTION_DAYS", 30),
        log_format=_choice("LOG_FORMAT", "plain", ("plain", "json")),
        sentry_dsn=os.environ.get("SENTRY_DSN") or None,
        sentry_environment=os.environ.get("SENTRY_ENVIRONMENT") or "production",
        metrics_token=os.environ.get("METRICS_TOKEN") or None,
        metrics_multiproc_dir=(
            Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR")
            else None
        ),
        mail=_mail("EMAIL_URL", debug),
    )
