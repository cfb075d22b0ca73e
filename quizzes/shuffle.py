"""Option order per learner and attempt: deterministic from the attempt's stored seed."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from django.utils.crypto import salted_hmac

from quizzes.parsing import Option, Question

LABELS = "ABCD"


@dataclass(frozen=True)
class ShownOption:
    label: str  # the letter the learner saw, in the order they saw it
    option: Option


def new_seed() -> int:
    return secrets.randbelow(2**62)


def first_seed(*, learner_key: str, scope: str) -> int:
    """The seed of a learner's first round of ``scope`` (a practice set, or the review).

    Pages only read, so a round is created by its first answer; until then the order shown
    comes from this seed, derived from the learner's key and kept secret by the site's key,
    so the lesson page, the quiz page and that first answer all agree on it.
    """
    digest = salted_hmac("quizzes.shuffle.first_seed", f"{learner_key}:{scope}").digest()
    return int.from_bytes(digest[:8], "big") % 2**62


def shown_options(question: Question, seed: int) -> tuple[ShownOption, ...]:
    """The question's options in this attempt's order, labelled A-D as shown.

    Seeded by the attempt's seed and the question id (a str seed is hashed with SHA-512 by
    `random`, so the order is the same in every process and every run).
    """
    options = list(question.options)
    random.Random(f"{seed}:{question.id}").shuffle(options)
    return tuple(ShownOption(LABELS[i], option) for i, option in enumerate(options))


def label_of(question: Question, seed: int, option_id: str) -> str:
    for shown in shown_options(question, seed):
        if shown.option.id == option_id:
            return shown.label
    raise KeyError(option_id)
