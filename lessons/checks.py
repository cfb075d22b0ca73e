"""Run every content check in ``settings.CONTENT_CHECKS`` (validate_content and start-up)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: why"


def _missing_module(dotted: str, exc: ModuleNotFoundError) -> bool:
    """True when the check's own module (or a parent) does not exist yet, not a broken import
    inside it."""
    module = dotted.rpartition(".")[0]
    return exc.name is not None and (module == exc.name or module.startswith(exc.name + "."))


def run_content_checks(paths: Iterable[str] | None = None) -> CheckReport:
    report = CheckReport()
    for dotted in settings.CONTENT_CHECKS if paths is None else paths:
        try:
            check: Callable[[], Iterable[object]] = import_string(dotted)
        except ModuleNotFoundError as exc:
            if not _missing_module(dotted, exc):
                report.errors.append(f"{dotted}: cannot import the check ({exc})")
                continue
            report.skipped.append(f"{dotted}: module not built yet")
            continue
        except ImportError as exc:
            report.skipped.append(f"{dotted}: {exc}")
            continue
        report.ran.append(dotted)
        report.errors.extend(str(error) for error in check())
    return report
