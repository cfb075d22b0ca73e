"""The last content that passed every check, kept so a worker never has nothing to serve.

Start-up refuses invalid content (``checks.refuse_invalid_content``). But uvicorn starts
workers again long after the first start (one died, was killed for memory, or stopped
answering its health check): if the content on disk went bad in between, each new worker
used to exit at once and be started again, every few seconds, for ever. Instead, each
start on valid content copies it here (one copy per content folder, in the system's temp
folder); a later start on invalid content logs the problems and serves this copy, and
``/healthz`` says the content is invalid until it is fixed and the server restarted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from django.conf import settings

logger = logging.getLogger(__name__)

_DIGEST_FILE = ".learnsite-digest"


@dataclass(frozen=True)
class ContentState:
    """What this process serves: the content folder itself, or the last good copy of it
    because the folder's content is invalid (``problems`` says how)."""

    valid: bool
    serving: Literal["live", "last-good"]
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "state": "ok" if self.valid else "invalid",
            "serving": self.serving,
            "problems": list(self.problems),
        }


_state = ContentState(valid=True, serving="live")


def state() -> ContentState:
    return _state


def set_state(new: ContentState) -> None:
    global _state
    _state = new


def copy_dir(live: Path) -> Path:
    """Where the last good copy of ``live`` is kept (``settings.CONTENT_LAST_GOOD_DIR``, else
    a folder in the temp folder named after ``live``, so two sites never share one)."""
    configured = getattr(settings, "CONTENT_LAST_GOOD_DIR", None)
    if configured:
        return Path(configured)
    tag = hashlib.sha256(str(live.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"learnsite-content-{tag}"


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != _DIGEST_FILE):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def remember(live: Path) -> None:
    """Keep ``live`` (just found valid) as the last good copy. Best effort: a failure to
    write it is logged, never fatal; workers starting together may race, and the rename
    makes each copy appear whole or not at all."""
    target = copy_dir(live)
    try:
        digest = _digest(live)
        if (target / _DIGEST_FILE).is_file() and (target / _DIGEST_FILE).read_text() == digest:
            return
        fresh = target.with_name(f"{target.name}.new-{os.getpid()}")
        stale = target.with_name(f"{target.name}.old-{os.getpid()}")
        shutil.rmtree(fresh, ignore_errors=True)
        shutil.copytree(live, fresh)
        (fresh / _DIGEST_FILE).write_text(digest)
        if target.exists():
            os.rename(target, stale)
        os.rename(fresh, target)
        shutil.rmtree(stale, ignore_errors=True)
    except OSError as exc:
        logger.warning("could not keep a copy of the valid content in %s: %s", target, exc)


def last_good(live: Path) -> Path | None:
    """The last good copy of ``live``, if one was kept."""
    target = copy_dir(live)
    return target if (target / _DIGEST_FILE).is_file() else None
