"""Runs as jobs on the site Redis: the lab uses what the course teaches.

The web process adds a job to a Stream (``<prefix>:jobs``); runner processes read it through a
consumer group (``GROUP``), so each job goes to one runner, and a job whose runner died is
taken over with ``XAUTOCLAIM`` (a live runner keeps its jobs' idle time at zero with
``XCLAIM``). Everything the page shows about a run is an entry of the run's own Stream
(``events_key``): queued, started, output, marks, done. A page that reconnects resumes
from the last entry it saw (``Last-Event-ID``), so nothing printed is lost, which pub/sub,
at most once, could not promise. A job is acknowledged (``XACK``) once its result is stored.

Keys (site Redis, under ``settings.LAB_PREFIX``, default ``lab``): ``lab:jobs`` (stream),
``lab:job:<id>`` (hash: learner, status, runner, claim), ``lab:job:<id>:events`` (stream),
``lab:queue`` (sorted set: waiting jobs by arrival), ``lab:runners`` (sorted set: runner ->
heartbeat deadline, ms).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from learnsite import admission, broker, metrics

logger = logging.getLogger(__name__)

GROUP = "runners"
KEEP_SECONDS = 3600  # how long a run's events and state are kept
JOBS_MAXLEN = 10_000
EVENTS_MAXLEN = 2_000
HEARTBEAT_EVERY = 1.0
RUNNER_DEAD_AFTER_MS = 4_000  # no heartbeat for this long: the runner is gone
CODE_MAX = 20_000  # characters of code one run may send

RUNS = admission.Capacity(
    name="lab-runs",
    per_learner=1,
    per_address=4,
    site=40,
    lease=120.0,
    messages={
        "learner": "Your last run has not finished yet; wait for it, then run again.",
        "address": "Your network already has {limit} runs waiting or running; "
        "try again in {wait} s.",
        "site": "The lab is busy: {limit} runs are waiting or running. Try again in {wait} s.",
    },
)
RUN_RATE = admission.Rate(
    name="lab-run-rate",
    per_learner=20,
    per_address=60,
    site=None,
    window=60,
)


def _prefix() -> str:
    return str(getattr(settings, "LAB_PREFIX", "lab"))


def jobs_key() -> str:
    return f"{_prefix()}:jobs"


def queue_key() -> str:
    return f"{_prefix()}:queue"


def runners_key() -> str:
    return f"{_prefix()}:runners"


def job_key(job: str) -> str:
    return f"{_prefix()}:job:{job}"


def events_key(job: str) -> str:
    return f"{_prefix()}:job:{job}:events"


@dataclass(frozen=True)
class Submitted:
    job: str
    position: int


class NoRunner(RuntimeError):
    """No runner has said it is alive lately: a run would wait for ever."""


NO_RUNNER_TEXT = (
    "No code runner is running, so your code cannot run just now. "
    "Try again in a few minutes; the rest of the lesson works meanwhile."
)
# For whoever runs the site (the log, not the learner's page).
NO_RUNNER_LOG = "code lab: no runner alive; start one with manage.py codelab_runner (make run does)"


def runners_alive(client: Any = None) -> int:
    client = client or broker.client()
    now = int(time.time() * 1000)
    return int(client.zcount(runners_key(), now, "+inf"))


async def arunners_alive() -> int:
    now = int(time.time() * 1000)
    return int(await broker.async_client().zcount(runners_key(), now, "+inf"))


def export_queue_metrics() -> None:
    """At each scrape of /metrics: runs waiting and runners alive, read from the site
    Redis (left as they were when it cannot be read)."""
    now = int(time.time() * 1000)
    try:
        pipe = broker.client().pipeline(transaction=False)
        pipe.zcard(queue_key())
        pipe.zcount(runners_key(), now, "+inf")
        waiting, alive = pipe.execute()
    except broker.UNAVAILABLE_ERRORS:
        return
    metrics.LAB_QUEUE.set(int(waiting))
    metrics.LAB_RUNNERS.set(int(alive))


def submit(
    *, learner: str, address: str, code: str, block: str = "", exercise: str = ""
) -> Submitted:
    """Queue a run (sync, from a view). Raises ``admission.LimitError`` when the learner,
    their network or the site has too many, ``NoRunner`` when nobody would run it, and a
    ``broker.UNAVAILABLE_ERRORS`` error when the site Redis is down."""
    client = broker.client()
    if runners_alive(client) == 0:
        logger.warning(NO_RUNNER_LOG)
        raise NoRunner(NO_RUNNER_TEXT)
    RUN_RATE.hit(learner=learner, address=address)
    job = secrets.token_hex(12)
    claim = RUNS.take(learner=learner, address=address, member=job)
    try:
        now_ms = int(time.time() * 1000)
        pipe = client.pipeline(transaction=True)
        pipe.hset(
            job_key(job),
            mapping={
                "learner": learner,
                "status": "queued",
                "block": block,
                "exercise": exercise,
                "created": now_ms,
                "claim": json.dumps(list(claim.keys)),
            },
        )
        pipe.expire(job_key(job), KEEP_SECONDS)
        pipe.zadd(queue_key(), {job: now_ms})
        pipe.xadd(
            jobs_key(),
            {"job": job, "learner": learner, "code": code, "exercise": exercise, "block": block},
            maxlen=JOBS_MAXLEN,
            approximate=True,
        )
        pipe.zrank(queue_key(), job)
        replies = pipe.execute()
    except BaseException:
        claim.release()
        raise
    return Submitted(job=job, position=int(replies[-1] or 0))


def ensure_group(client: Any) -> None:
    try:
        client.xgroup_create(jobs_key(), GROUP, id="0", mkstream=True)
    except Exception as exc:  # BUSYGROUP: it exists
        if "BUSYGROUP" not in str(exc):
            raise


async def aensure_group(client: Any) -> None:
    try:
        await client.xgroup_create(jobs_key(), GROUP, id="0", mkstream=True)
    except Exception as exc:
        if "BUSYGROUP" not in str(exc):
            raise


# Finish a run once, whoever notices first (its runner, a runner taking over, or the page
# seeing that the runner is gone): status done, the done event, the keys' expiry, the job
# out of the queue. Returns 1 if this call finished it, 0 if it was finished already.
_FINISH = """
if redis.call('HGET', KEYS[1], 'status') == 'done' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'done')
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'kind', 'done', 'data', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[4])
return 1
"""


def done_payload(
    reason: str,
    message: str,
    *,
    exit_code: int | None = None,
    wall_ms: int = 0,
    verdict: dict[str, object] | None = None,
) -> dict[str, object]:
    return {
        "reason": reason,
        "message": message,
        "exit_code": exit_code,
        "wall_ms": wall_ms,
        "verdict": verdict,
    }


async def afinish(job: str, payload: dict[str, object], client: Any = None) -> bool:
    client = client or broker.async_client()
    done = await client.eval(
        _FINISH,
        3,
        job_key(job),
        events_key(job),
        queue_key(),
        json.dumps(payload),
        KEEP_SECONDS,
        EVENTS_MAXLEN,
        job,
    )
    return bool(done)


async def aevent(job: str, kind: str, data: dict[str, object], client: Any = None) -> None:
    client = client or broker.async_client()
    pipe = client.pipeline(transaction=False)
    pipe.xadd(
        events_key(job),
        {"kind": kind, "data": json.dumps(data)},
        maxlen=EVENTS_MAXLEN,
        approximate=True,
    )
    pipe.expire(events_key(job), KEEP_SECONDS)
    await pipe.execute()


async def astate(job: str) -> dict[str, str]:
    raw = await broker.async_client().hgetall(job_key(job))
    return {
        k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
        for k, v in raw.items()
    }


async def aposition(job: str) -> int | None:
    rank: Any = await broker.async_client().zrank(queue_key(), job)
    return None if rank is None else int(rank)


async def arunner_alive(name: str) -> bool:
    score = await broker.async_client().zscore(runners_key(), name)
    return score is not None and score >= time.time() * 1000


def claim_of(job: str, claim_keys: str) -> admission.Claim:
    """The run's admission claim, from the keys its job carries (the runner renews it
    while the run waits or runs and releases it when the run is done)."""
    try:
        keys = tuple(str(key) for key in json.loads(claim_keys or "[]"))
    except ValueError:
        keys = ()
    return admission.Claim(RUNS, job, keys)
