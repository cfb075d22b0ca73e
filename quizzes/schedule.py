"""The review's spaced schedule, derived from the answers already stored (no table of its own).

Every question a learner has answered is on the schedule, wherever they answered it (a practice
set, a retry, the review). A right answer brings the question back after 1 day, the next right
answer after 3 days, the next after 7; a right answer after those 7 days and the question is
learned: it leaves the review. A wrong answer brings it back after 10 minutes, and the next
right answer after that starts the ladder again at 1 day.

Only an answer given once the question is due moves it up: answering it right again before then
(trying a practice set again the same evening) changes nothing, so cramming cannot skip a step.
A wrong answer always counts, whenever it is given.

Pure functions over plain events and an explicit ``now``, so a fixed clock is all a test needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

INTERVALS = (timedelta(days=1), timedelta(days=3), timedelta(days=7))
RELEARN = timedelta(minutes=10)  # a wrong answer comes back this soon
RELEARNING = -1  # the step of a question last answered wrong
LEARNED = len(INTERVALS)  # the step of a question right at every interval: no longer asked


@dataclass(frozen=True)
class AnswerEvent:
    question_id: str
    correct: bool
    at: datetime


@dataclass(frozen=True)
class Card:
    """Where one question stands on the schedule."""

    question_id: str
    step: int  # RELEARNING, 0 .. len(INTERVALS) - 1, or LEARNED
    due_at: datetime | None  # None once learned
    last_at: datetime
    last_correct: bool

    @property
    def learned(self) -> bool:
        return self.step == LEARNED

    def is_due(self, now: datetime) -> bool:
        return self.due_at is not None and self.due_at <= now


def _after(card: Card | None, event: AnswerEvent) -> Card:
    """The card once ``event`` is taken into account."""
    if not event.correct:
        step = RELEARNING
    elif card is None:
        step = 0
    elif card.due_at is None or event.at < card.due_at:
        return card  # learned already, or answered before it was due: nothing moves
    else:
        step = min(card.step + 1, LEARNED)
    if step == RELEARNING:
        due_at: datetime | None = event.at + RELEARN
    elif step == LEARNED:
        due_at = None
    else:
        due_at = event.at + INTERVALS[step]
    return Card(event.question_id, step, due_at, event.at, event.correct)


def schedule(events: Iterable[AnswerEvent]) -> dict[str, Card]:
    """Each answered question's card, from the learner's answers in the order given (oldest
    first)."""
    cards: dict[str, Card] = {}
    for event in events:
        cards[event.question_id] = _after(cards.get(event.question_id), event)
    return cards
