"""Content validation on Django's system check framework.

Each app registers its content checks with ``@register(CONTENT)``; ``manage.py check --tag
content``, ``manage.py validate_content``, start-up and CI all run :func:`run_content_checks`.
``settings.CONTENT_CHECKS`` names every check that must exist: one that cannot be imported,
or is not registered, is an error, so a renamed check can never turn validation off.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from learnsite.content import lastgood
from learnsite.content.errors import ContentError

logger = logging.getLogger(__name__)

CONTENT = "content"  # the check tag: manage.py check --tag content


def as_errors(problems: Iterable[ContentError], check_id: str) -> list[checks.CheckMessage]:
    """``checks.Error(message, hint=..., obj="content/quizzes/02-x.md:14", id=check_id)``."""
    return [
        checks.Error(problem.message, hint=problem.hint, obj=problem.where, id=check_id)
        for problem in problems
    ]


def describe(message: checks.CheckMessage) -> str:
    """One line as authors read it: ``content/x.md:12: message; hint (quizzes.E004)``."""
    text = f"{message.obj}: {message.msg}" if message.obj is not None else message.msg
    if message.hint:
        text = f"{text}; {message.hint}"
    return f"{text} ({message.id})"


def registered_content_checks() -> list[object]:
    """Every check registered with the content tag."""
    return [
        check
        for check in checks.registry.registry.get_checks(include_deployment_checks=True)
        if CONTENT in getattr(check, "tags", ())
    ]


@checks.register(CONTENT)
def content_checks_exist(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Every check named in ``settings.CONTENT_CHECKS`` imports and is registered."""
    found: list[checks.CheckMessage] = []
    registered = registered_content_checks()
    for dotted in settings.CONTENT_CHECKS:
        try:
            check = import_string(dotted)
        except ImportError as exc:
            found.append(
                checks.Error(
                    f"{dotted}: cannot import the check ({exc})",
                    hint="fix the import, or correct its path in settings.CONTENT_CHECKS",
                    obj="settings.CONTENT_CHECKS",
                    id="learnsite.E001",
                )
            )
            continue
        if check not in registered:
            found.append(
                checks.Error(
                    f"{dotted}: is not registered as a content check",
                    hint="decorate it with @register(CONTENT) from learnsite.content.checks "
                    "in a module its app imports in ready()",
                    obj="settings.CONTENT_CHECKS",
                    id="learnsite.E002",
                )
            )
    return found


def run_content_checks() -> list[checks.CheckMessage]:
    """Every content check's messages (all of them errors: content has no warnings)."""
    return list(checks.run_checks(tags=[CONTENT]))


_WARMUPS: list[Callable[[], object]] = []


def register_warmup(warmup: Callable[[], object]) -> None:
    """Work an app wants done once the content is known to be valid, before the first
    request (the lessons app builds its search index)."""
    if warmup not in _WARMUPS:
        _WARMUPS.append(warmup)


def _print_refusal(problems: Sequence[checks.CheckMessage]) -> None:
    print("Refusing to start: the course content has problems.", file=sys.stderr)
    for problem in problems:
        print(describe(problem), file=sys.stderr)
    print(
        "Fix them (python manage.py validate_content checks again), then start the server again.",
        file=sys.stderr,
        flush=True,
    )


def refuse_invalid_content() -> None:
    """Check the content when a process starts; the ASGI entry point calls this.

    Valid: keep a copy of it as the last good content, run the registered warm-ups.
    Invalid, with a last good copy kept by an earlier start: log every problem, serve that
    copy (``settings.CONTENT_DIR`` points at it) and report the content invalid on
    ``/healthz``; a worker uvicorn starts again must not exit and be restarted for ever.
    Invalid with no copy (the first start): print every problem as ``manage.py
    validate_content`` would and exit 1.
    """
    live = Path(settings.CONTENT_DIR)
    problems = run_content_checks()
    if not problems:
        lastgood.remember(live)
        lastgood.set_state(lastgood.ContentState(valid=True, serving="live"))
    else:
        copy = lastgood.last_good(live)
        if copy is None:
            _print_refusal(problems)
            raise SystemExit(1)
        described = tuple(describe(problem) for problem in problems)
        logger.error(
            "The course content in %s has problems; serving the last good copy (%s) until "
            "it is fixed and the server restarted:\n%s",
            live,
            copy,
            "\n".join(described),
        )
        settings.CONTENT_DIR = copy
        still = run_content_checks()  # the loaders now read (and cache) the copy
        if still:
            _print_refusal(still)
            raise SystemExit(1)
        lastgood.set_state(
            lastgood.ContentState(valid=False, serving="last-good", problems=described)
        )
    for warmup in _WARMUPS:
        warmup()
