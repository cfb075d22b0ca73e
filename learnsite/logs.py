"""Log lines that say which request they belong to.

The request being served is a ``contextvars`` variable holding a :class:`RequestInfo`:
set once per request (``learnsite.requestlog``), it is seen by everything that request
runs, async views, streaming bodies and the threads sync views run in (asgiref copies
the context into them), and by nothing else. Because the variable holds an object,
what Django's middleware learns later (the view, the learner) reaches the ASGI layer
that logs the access line.

:class:`RequestFilter`, on the handler, puts the request's fields on every record;
``LOG_FORMAT=json`` formats each record as one JSON object per line
(:class:`JsonFormatter`), the default is plain text with the request id.
Nothing here imports Django: ``LOGGING`` names these classes before apps load.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestInfo:
    request_id: str
    method: str
    path: str
    started: float = field(default_factory=time.perf_counter)
    learner: str | None = None  # a hash of the learner's key, never the key
    view: str | None = None
    status: int | None = None
    cause: str | None = None  # why a 503 was answered (learnsite.metrics.CAUSES)


_current: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "learnsite_request", default=None
)


def current() -> RequestInfo | None:
    """The request this code runs for, if any."""
    return _current.get()


def enter(info: RequestInfo) -> contextvars.Token[RequestInfo | None]:
    return _current.set(info)


def leave(token: contextvars.Token[RequestInfo | None]) -> None:
    _current.reset(token)


_FIELDS = ("request_id", "learner", "path", "status", "duration_ms")


class RequestFilter(logging.Filter):
    """Adds ``request_id``, ``learner`` and ``path`` of the current request to a record
    (``-`` outside a request); ``status`` and ``duration_ms`` when the line gave them."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = _current.get()
        if not hasattr(record, "request_id"):
            record.request_id = info.request_id if info else "-"
        if not hasattr(record, "learner"):
            record.learner = (info.learner if info else None) or "-"
        if not hasattr(record, "path"):
            record.path = info.path if info else "-"
        for name in ("status", "duration_ms"):
            if not hasattr(record, name):
                setattr(record, name, None)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request's fields, and
    ``exc_info`` (the formatted traceback) when the record carries one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            entry[name] = None if value == "-" else value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


JsonFormatter.converter = time.gmtime

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def config(log_format: str) -> dict[str, Any]:
    """Django's ``LOGGING`` for ``LOG_FORMAT`` (``plain`` or ``json``)."""
    formatter: dict[str, Any] = (
        {"()": "learnsite.logs.JsonFormatter"} if log_format == "json" else {"format": PLAIN_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": "learnsite.logs.RequestFilter"}},
        "formatters": {"site": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "site",
                "filters": ["request"],
            }
        },
        "root": {"handlers": ["console"], "level": "INFO"},
        "loggers": {
            "django.request": {"level": "ERROR"},
            # uvicorn's own lines (started, a worker died) in the same format, once Django
            # has loaded. Not its access lines: learnsite.requestlog writes one per request,
            # with the request id (dictConfig would otherwise send uvicorn.access, a child
            # of "uvicorn", through this handler even under --no-access-log).
            "uvicorn": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }
