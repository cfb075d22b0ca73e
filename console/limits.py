"""What the console may hold and do at once, claimed through :mod:`learnsite.admission`.

Console streams are ``console.streams.STREAMS`` (one stream holds a console's channels,
patterns and shard channels). Here: blocking commands (``BRPOP``, ``XREAD BLOCK``...: each
holds a Redis connection of its own for up to ``MAX_BLOCK_SECONDS``), the learners who keep
data in the sandbox per client address (``WRITERS``: every learner's data is capped by
``console/quota.py``, so this caps what one network holds however many fresh sessions it
makes), ``PUBLISH`` and
``SPUBLISH`` (on the playground's limiter, ``admission.PUBLISHES``: one learner's messages
are counted the same whichever door they use) and prediction runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from console import quota
from console.commands import MAX_BLOCK_SECONDS, Prepared
from learnsite import admission
from learnsite.admission import LimitError

__all__ = [
    "BLOCKING",
    "BLOCKING_HERE",
    "PREDICTIONS",
    "WRITERS",
    "LimitError",
    "command_admitted",
]

BLOCKING_PER_LEARNER = 2  # blocking commands waiting at once, per learner
BLOCKING_PER_ADDRESS = 16
BLOCKING_SITE = 200
BLOCKING_PER_PROCESS = 100  # each is a connection of this process's own
# Learners of one address with data in the sandbox at once: a class behind one NAT fits,
# a script minting fresh sessions holds at most this many quotas (MAX_MEMORY_BYTES each).
WRITERS_PER_ADDRESS = 32
PREDICTION_RATE = 10  # prediction runs per learner ...
PREDICTION_WINDOW = 60  # ... in this many seconds
PREDICTION_RATE_PER_ADDRESS = 60
PREDICTION_RATE_SITE = 600

_BLOCKING_MESSAGES: dict[admission.Scope, str] = {
    "learner": "You already have {limit} blocking commands waiting (the limit per learner). "
    "Wait for one to return, then try again.",
    "address": "Your network already has {limit} blocking commands waiting (the limit per "
    "address). Try again in {wait} s.",
    "site": "The console is busy: {limit} blocking commands are waiting on this site. "
    "Try again in {wait} s.",
    "process": "This server already has {limit} blocking commands waiting. Try again in {wait} s.",
}

BLOCKING = admission.Capacity(
    name="console-blocking",
    per_learner=BLOCKING_PER_LEARNER,
    per_address=BLOCKING_PER_ADDRESS,
    site=BLOCKING_SITE,
    lease=MAX_BLOCK_SECONDS + 5,
    messages=_BLOCKING_MESSAGES,
)
BLOCKING_HERE = admission.LocalCapacity(
    per_learner=None,
    per_address=None,
    total=BLOCKING_PER_PROCESS,
    messages=_BLOCKING_MESSAGES,
    retry_after=MAX_BLOCK_SECONDS,
)

WRITERS = admission.Capacity(
    name="console-writers",
    per_learner=None,
    per_address=WRITERS_PER_ADDRESS,
    site=None,  # the sandbox's own ceiling (console/quota.py) bounds the site
    lease=quota.MAX_TTL_SECONDS,  # as long as the data it stands for can live
    messages={
        "address": "{limit} learners on your network already keep data in this sandbox "
        "(the limit per address), so this write was refused. Their keys expire within an "
        "hour of their last write; try again in {wait} s, or use commands that only read.",
    },
)

PREDICTIONS = admission.Rate(
    name="prediction",
    per_learner=PREDICTION_RATE,
    per_address=PREDICTION_RATE_PER_ADDRESS,
    site=PREDICTION_RATE_SITE,
    window=PREDICTION_WINDOW,
    messages={
        "learner": "Slow down: at most {limit} prediction runs every {window} seconds from "
        "one learner. Try again in {wait} s.",
        "address": "Slow down: at most {limit} prediction runs every {window} seconds from "
        "one network. Try again in {wait} s.",
        "site": "Predictions are very busy: at most {limit} runs every {window} seconds "
        "in all. Try again in {wait} s.",
    },
)


@asynccontextmanager
async def command_admitted(
    prepared: Prepared, *, learner: str, client_addr: str
) -> AsyncIterator[None]:
    """Hold what running ``prepared`` takes for as long as it runs; LimitError when a
    limit is reached (nothing ran)."""
    if prepared.args[:1] in ((b"PUBLISH",), (b"SPUBLISH",)):
        await admission.PUBLISHES.ahit(learner=learner, address=client_addr)
    if quota.grows(prepared.args):
        await WRITERS.akeep(learner=learner, address=client_addr, member=learner)
    if prepared.kind != "blocking":
        yield
        return
    async with (
        BLOCKING_HERE.claim(learner=learner, address=client_addr),
        BLOCKING.claim(learner=learner, address=client_addr),
    ):
        yield
