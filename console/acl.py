"""The Redis ACL users of console learners (see ``learnsite.sandbox_acl``).

A learner's commands run as ``lrn-console-<learner>``: keys ``~console:<learner>:*``, channels
``&console:<learner>:*``, and only the commands the console's allow-list runs (``-@all``
first), plus what the quota script needs to run them (``console/quota.py``: ``EVALSHA``, the
exact ``MEMORY USAGE``, ``DUMP``/``RESTORE`` to roll a write back, ``COMMAND GETKEYS``) and,
in a selector of its own, the learner's bookkeeping set ``console-meta:<learner>``.

A console stream subscribes as a user of its own, made for that stream and deleted with it:
Redis checks a ``PSUBSCRIBE`` pattern *literally* against the user's channel rules
(``&console:k:*`` allows ``PSUBSCRIBE console:k:*`` only, not ``console:k:news.*``), so each
stream's user lists exactly its own patterns.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from console.commands import COMMANDS
from console.namespace import Namespace, glob_escape
from learnsite.sandbox_acl import LearnerUser

_LEARNER_RE = re.compile(r"[0-9a-z]{1,40}")

# Commands whose allow-list entry runs only some subcommands, and entries that run nothing
# in Redis (HELP and HELLO answer here; SUBSCRIBE and friends run on the stream's own user;
# PUBSUB NUMPAT is counted by the site). Every other allow-listed command is granted by its name.
_ACL_COMMANDS: dict[str, tuple[str, ...]] = {
    "HELP": (),
    "SUBSCRIBE": (),
    "PSUBSCRIBE": (),
    "UNSUBSCRIBE": (),
    "PUNSUBSCRIBE": (),
    "SSUBSCRIBE": (),
    "SUNSUBSCRIBE": (),
    "HELLO": (),  # answered from the site's own reading of the server (console/protocol.py)
    "XGROUP": ("xgroup|create",),
    "PUBSUB": ("pubsub|channels", "pubsub|numsub", "pubsub|shardchannels", "pubsub|shardnumsub"),
}
# What the quota script calls besides the learner's command, on the learner's own keys.
QUOTA_HELPERS = ("evalsha", "command|getkeys", "memory|usage", "dump", "restore", "pttl")
_STREAM_COMMANDS = (
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "sunsubscribe",
    "ping",
)


def allowed_commands() -> tuple[str, ...]:
    """The ACL command names of the console's allow-list, in a stable order."""
    granted: list[str] = []
    for name in sorted(COMMANDS):
        granted.extend(_ACL_COMMANDS.get(name, (name.lower(),)))
    return tuple(granted)


def _checked(ns: Namespace) -> str:
    if not _LEARNER_RE.fullmatch(ns.learner):
        # Learner keys are hex made by learnsite.learners; an ACL rule must hold no space.
        raise ValueError(f"not a learner key: {ns.learner!r}")
    return ns.learner


def _prefix_rule(ns: Namespace) -> str:
    return glob_escape(ns.prefix).decode() + "*"


def command_user(ns: Namespace) -> LearnerUser:
    learner = _checked(ns)
    rules = [
        "resetkeys",
        "resetchannels",
        "-@all",
        f"~{_prefix_rule(ns)}",
        f"&{_prefix_rule(ns)}",
        *(f"+{command}" for command in (*allowed_commands(), *QUOTA_HELPERS)),
        "+client|setname",
        # The bookkeeping set, reachable only by the commands the quota script uses on it.
        f"(~{glob_escape(ns.meta_key).decode()} +smembers +sadd +srem +expire)",
    ]
    return LearnerUser(f"lrn-console-{learner}", tuple(rules))


def stream_user(
    ns: Namespace, *, channels: Iterable[bytes], patterns: Iterable[bytes]
) -> LearnerUser:
    """A user for one console stream: its channels (under the prefix) and exactly its
    patterns (already rewritten into the namespace)."""
    learner = _checked(ns)
    del channels  # covered by &<prefix>*: SUBSCRIBE is matched as a glob
    rules = [
        "resetkeys",
        "resetchannels",
        "-@all",
        f"&{_prefix_rule(ns)}",
        *(f"&{pattern.decode()}" for pattern in patterns),
        *(f"+{command}" for command in _STREAM_COMMANDS),
        "+client|setname",
    ]
    return LearnerUser(f"lrn-cstream-{learner}-{secrets.token_hex(4)}", tuple(rules))
