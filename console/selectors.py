"""Reads for the "predict, then run" embed: what this visitor has locked in. Never writes
(a lesson page is a GET: it finds the learner's predictions, it never creates a learner)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from django.http import HttpRequest

from console.predictions import Prediction, get_prediction
from learnsite.content.embeds import EmbedUse
from progress.models import PredictionAnswer
from progress.selectors import prediction_tries

_REQUEST_CACHE = "_console_prediction_tries"


@dataclass(frozen=True)
class PredictionState:
    """One prediction as this learner stands with it."""

    prediction: Prediction
    tries: tuple[PredictionAnswer, ...]  # try 1 first

    @property
    def locked(self) -> PredictionAnswer | None:
        """The locked prediction, the one that counts (try 1), if it is made."""
        return self.tries[0] if self.tries else None

    @property
    def later_tries(self) -> tuple[PredictionAnswer, ...]:
        return self.tries[1:]

    @property
    def next_try(self) -> int:
        """The try number the embed's form makes: 1 (the prediction) or the next try again."""
        return len(self.tries) + 1


def _tries(request: HttpRequest) -> dict[str, list[PredictionAnswer]]:
    # A lesson has several predictions and each asks twice (its box and its held output):
    # read them once per request.
    cached: dict[str, list[PredictionAnswer]] | None = getattr(request, _REQUEST_CACHE, None)
    if cached is None:
        cached = prediction_tries(request=request)
        setattr(request, _REQUEST_CACHE, cached)
    return cached


def prediction_state(
    *, request: HttpRequest, prediction: Prediction, tries: list[PredictionAnswer] | None = None
) -> PredictionState:
    """``tries``: given by a POST that has just read them; otherwise read for ``request``."""
    found = tries if tries is not None else _tries(request).get(prediction.id, [])
    return PredictionState(prediction, tuple(found))


def prediction_embed_context(request: HttpRequest, use: EmbedUse) -> Mapping[str, object]:
    prediction = get_prediction(use.arg or "")
    if prediction is None:
        return {"state": None}
    return {"state": prediction_state(request=request, prediction=prediction)}


def prediction_embed_key(request: HttpRequest, use: EmbedUse) -> Hashable:
    """What a prediction box shows this reader depends on: the prediction and their tries
    (each as it is shown); a reader who has made none shares the box with every other."""
    prediction = get_prediction(use.arg or "")
    if prediction is None:
        return None
    tries = _tries(request).get(prediction.id, [])
    return (prediction, tuple((t.pk, t.try_number, t.answer, t.actual, t.correct) for t in tries))


def prediction_revealed(request: HttpRequest, use: EmbedUse) -> bool:
    """The lesson shows the output a prediction asks about only once it is locked in."""
    prediction = get_prediction(use.arg or "")
    return prediction is not None and bool(_tries(request).get(prediction.id))
