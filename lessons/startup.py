"""The server refuses to start on invalid content (called from ``learnsite/asgi.py``)."""

from __future__ import annotations

import sys

from lessons.checks import run_content_checks
from lessons.loader import get_course
from lessons.search import get_index


def refuse_invalid_content() -> None:
    """Print every content problem and exit 1, as ``manage.py validate_content`` would;
    otherwise load the course and build the search index before the first request."""
    report = run_content_checks()
    if report.errors:
        print("Refusing to start: the course content has problems.", file=sys.stderr)
        for error in report.errors:
            print(error, file=sys.stderr)
        print(
            "Fix them (python manage.py validate_content checks again), then start the "
            "server again.",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(1)
    get_index(get_course())
