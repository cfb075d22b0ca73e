"""The Redis ACL user a learner's lab programs run as (see ``learnsite.sandbox_acl``).

``lrn-lab-<learner>``: keys ``~sandbox:<learner>:*`` and channels ``&sandbox:<learner>:*``
(the playground's namespace), and only the commands named here: those the course teaches
and the ones redis-py sends by itself when it connects. No ``KEYS``, ``FLUSHALL``,
``CONFIG``, ``ACL`` (but ``ACL WHOAMI``), ``EVAL``, ``SELECT``, ``MONITOR``, ``CLIENT KILL``,
``SORT`` or ``DEBUG``: those are refused by Redis itself (``NOPERM``).
"""

from __future__ import annotations

import re
import secrets

from console.namespace import glob_escape
from lab import names
from learnsite.sandbox_acl import LearnerUser

_LEARNER_RE = re.compile(r"[0-9a-f]{16}")

# No client|setinfo: Redis 7.0 has no CLIENT SETINFO (7.2 added it), and an unknown name
# fails the whole ACL SETUSER; redis-py ignores the error reply it then gets.
_CONNECTION = (
    "ping",
    "echo",
    "hello",
    "quit",
    "client|setname",
    "client|getname",
    "client|id",
    "client|info",
    "acl|whoami",
    "multi",
    "exec",
    "discard",
    "unwatch",
    "time",
    "type",
)
_PUBSUB = (
    "pubsub|channels",
    "pubsub|numsub",
    "pubsub|numpat",
    "pubsub|shardchannels",
    "pubsub|shardnumsub",
)
_SUBCOMMANDS = (
    "xgroup|create",
    "xgroup|destroy",
    "xgroup|createconsumer",
    "xgroup|delconsumer",
    "xgroup|setid",
    "xinfo|stream",
    "xinfo|groups",
    "xinfo|consumers",
    "object|encoding",
    "memory|usage",
)


def prefix_for(learner: str) -> str:
    """The playground's namespace of ``learner`` (``sandbox/names.py`` says the same)."""
    if not _LEARNER_RE.fullmatch(learner):
        raise ValueError(f"not a learner key: {learner!r}")
    return f"sandbox:{learner}:"


def commands() -> tuple[str, ...]:
    granted = sorted(name.decode().lower() for name in names.REWRITTEN)
    return (*granted, *_CONNECTION, *_PUBSUB, *_SUBCOMMANDS)


def lab_run_user(learner: str) -> LearnerUser:
    """A user for one run: the learner's rules, made when the run starts and deleted when it
    ends (Redis then closes every connection the program left open). A run's pattern
    subscriptions are added to it as the program makes them (``pattern_rule``): Redis checks
    a ``PSUBSCRIBE`` pattern literally against the user's channel rules."""
    base = lab_user(learner)
    return LearnerUser(f"{base.name}-{secrets.token_hex(4)}", base.rules)


def pattern_rule(learner: str, pattern: bytes) -> str | None:
    """The ACL rule allowing ``PSUBSCRIBE pattern`` (already rewritten into the learner's
    namespace), or None when it may not be granted. A pattern that starts with the literal
    prefix can only match the learner's own channels."""
    prefix = glob_escape(prefix_for(learner).encode())
    if not pattern.startswith(prefix) or len(pattern) > 512:
        return None
    text = pattern.decode("utf-8", "replace")
    if any(c.isspace() or ord(c) < 32 for c in text):
        return None
    return f"&{text}"


def lab_user(learner: str) -> LearnerUser:
    prefix = prefix_for(learner)
    escaped = glob_escape(prefix.encode()).decode()
    rules = [
        "resetkeys",
        "resetchannels",
        "-@all",
        f"~{escaped}*",
        f"&{escaped}*",
        *(f"+{command}" for command in commands()),
    ]
    return LearnerUser(f"lrn-lab-{learner}", tuple(rules))
