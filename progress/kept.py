"""What a page reads of a learner's progress, kept per process while that progress stays
the same (issue 16: a page with a session made five queries of it, most of its cost).

``Learner.state`` takes a new random value, in the same transaction, on every insert,
update and delete of a row of the learner's progress: database triggers make it
(``progress/triggers.py``), so no write path, bulk or by hand, can leave it behind. A
read kept under (learner, state) is therefore what the database holds for that state.

Only a learner found for a safe request (GET, HEAD) is marked (:func:`mark`): pages only
read (``tests/security/test_pages_only_read.py``), so nothing such a request reads can be
a write of its own not committed yet. A request that writes (an answer's POST, anything
that asks ``services.learner_for_request``) reads its learner's progress from the
database, before and after its write. What is kept is shared
by every request of the process: a read returns values no caller changes (tuples,
frozen dataclasses) or fresh copies of model instances.

Kept for ``TTL_SECONDS`` at most, ``SIZE`` reads at most (a few hundred bytes each; one
per learner and kind of read, the latest state's), the least recently used going first: a
thousand fresh learners push out only each other, and a learner who writes a thousand times
leaves one of each. A read that grows with a learner's history (their answers) is kept only
while it is small (``MAX_ROWS``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from django.db import connection
from django.http import HttpRequest

from learnsite.kept import Kept
from progress.models import Learner

T = TypeVar("T")

SIZE = 8192
TTL_SECONDS = 60.0
# The databases progress/triggers.py makes the triggers on; on another, nothing is kept.
_TRIGGERED = ("sqlite", "postgresql")
MAX_ROWS = 2000  # rows of a read kept at most (a learner's answers, for the review)
_MARK = "_progress_kept_state"
_WRITES = "_progress_writes"

_kept: Kept[tuple[int, Any]] = Kept(size=SIZE, ttl=TTL_SECONDS)


def mark(learner: Learner, *, request: HttpRequest) -> None:
    """Let reads of ``learner``'s progress for ``request`` be kept, if it only reads."""
    if (
        request.method in ("GET", "HEAD")
        and not request.__dict__.get(_WRITES)
        and connection.vendor in _TRIGGERED
    ):
        learner.__dict__[_MARK] = learner.state


def writes(request: HttpRequest, found: Learner | None) -> None:
    """``request`` is about to write (``services.learner_for_request``): from now on, what
    it reads of its learner's progress (``found``, if it found them already) is read anew."""
    request.__dict__[_WRITES] = True
    if found is not None:
        found.__dict__.pop(_MARK, None)


def learner_kept(
    learner: Learner,
    name: str,
    args: Hashable,
    read: Callable[[], T],
    *,
    keep: Callable[[T], bool] | None = None,
) -> T:
    """``read()``, kept for ``learner`` in the state they were found in when marked; for an
    unmarked learner, read each time. One value per learner and read (``name``, ``args``):
    a new state replaces the old one's. The learner's key is part of it (SQLite gives a
    rolled-back learner's id to the next one). ``keep``: whether a value is small enough to
    keep (a read that grows with the learner's history)."""
    state = learner.__dict__.get(_MARK)
    if state is None:
        return read()
    kept = _kept.get_or_make(
        (name, args, learner.pk, learner.key),
        lambda: (state, read()),
        valid=lambda found: found[0] == state,
        keep=None if keep is None else lambda made: keep(made[1]),
    )
    return kept[1]  # type: ignore[no-any-return]


def forget() -> None:
    """Drop everything kept (tests that change the database behind the triggers' back)."""
    _kept.clear()
