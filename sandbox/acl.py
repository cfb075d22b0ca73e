"""The Redis ACL users of playground learners (see ``learnsite.sandbox_acl``).

The playground holds no keys, only channels: a learner's publishes and the blocking demo
run as ``lrn-sandbox-<learner>``, allowed ``PUBLISH``/``SUBSCRIBE`` on
``&sandbox:<learner>:*`` and nothing else. A subscriber panel subscribes as a user of its
own that lists its one channel or pattern: Redis checks a ``PSUBSCRIBE`` pattern literally
against the channel rules, so ``&sandbox:k:*`` alone would refuse ``sandbox:k:news.*``.
The worker embeds run as ``lrn-workers-<learner>``: their two key prefixes and the list and
stream commands their workers send. Chat rooms are shared between learners on purpose:
they use the site's sandbox connection.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import AuthenticationError

from learnsite import broker, sandbox_acl
from learnsite.sandbox_acl import LearnerUser
from sandbox import names

_COMMANDS = ("publish", "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ping")
T = TypeVar("T")


def learner_user(learner: str) -> LearnerUser:
    prefix = names.prefix_for(learner)  # refuses anything but a learner key
    rules = (
        "resetkeys",
        "resetchannels",
        "-@all",
        f"&{prefix}*",
        *(f"+{command}" for command in _COMMANDS),
        "+client|setname",
    )
    return LearnerUser(f"lrn-sandbox-{learner}", rules)


# The worker embeds (``sandbox.workers``): lists and a stream under two key prefixes.
_WORKER_COMMANDS = (
    "lpush", "brpop", "blmove", "lmove", "lrem", "lrange", "set", "exists", "ttl", "del",
    "expire", "multi", "exec", "xadd", "xgroup|create", "xreadgroup", "xack", "xautoclaim",
    "xpending", "xlen", "ping",
)  # fmt: skip


def workers_user(learner: str) -> LearnerUser:
    """The user a worker run connects as: its keys only, the commands its workers send."""
    prefix = names.prefix_for(learner)
    rules = (
        "resetkeys",
        "resetchannels",
        "-@all",
        f"~{prefix}queue-demo:*",
        f"~{prefix}group-demo:*",
        *(f"+{command}" for command in _WORKER_COMMANDS),
        "+client|setname",
    )
    return LearnerUser(f"lrn-workers-{learner}", rules)


def panel_user(learner: str, real: str) -> LearnerUser:
    """A user for one panel: its channel or pattern (``real``, under the prefix)."""
    prefix = names.prefix_for(learner)
    if not real.startswith(prefix):
        raise ValueError(f"{real!r} is not in {prefix!r}")
    rules = (
        "resetkeys",
        "resetchannels",
        "-@all",
        f"&{prefix}*",
        f"&{real}",
        "+subscribe",
        "+unsubscribe",
        "+psubscribe",
        "+punsubscribe",
        "+ping",
    )
    return LearnerUser(f"lrn-panel-{learner}-{secrets.token_hex(4)}", rules)


async def aas_learner(learner: str, run: Callable[[broker.Credentials | None], Awaitable[T]]) -> T:
    """``await run(credentials)`` as the learner's user; once more if Redis no longer knew
    it (its lease lapsed and another process removed it)."""
    user = learner_user(learner)
    try:
        return await run(await sandbox_acl.acredentials_for(user))
    except AuthenticationError:
        sandbox_acl.forget(user)
        return await run(await sandbox_acl.acredentials_for(user))
