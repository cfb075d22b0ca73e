"""Which of two update bodies of a feed is the newer one.

A feed's state can come from two places: the state key that ``feed_publish`` writes, and
the bodies the hub hears on the channel (which include raw ``PUBLISH`` from anything).
Both are compared with one rule, here and in the Lua script that writes a heard body
back as state (``source.STORE_IF_NEWER``): when both bodies are JSON objects with a
numeric ``seq``, the higher ``seq`` is newer; else when both carry a numeric ``ts``, the
later ``ts``; otherwise nothing tells them apart and the one that arrived later wins.
"""

from __future__ import annotations

import json


def _stamps(body: bytes) -> tuple[float | None, float | None]:
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None

    def number(name: str) -> float | None:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    return number("seq"), number("ts")


def is_older(body: bytes, than: bytes) -> bool:
    """True when ``body`` is known to be older than ``than`` by its ``seq`` or ``ts``."""
    seq, ts = _stamps(body)
    other_seq, other_ts = _stamps(than)
    if seq is not None and other_seq is not None:
        return seq < other_seq
    if ts is not None and other_ts is not None:
        return ts < other_ts
    return False


def newest(*, stored: bytes | None, heard: bytes | None) -> bytes | None:
    """The body a viewer should start from: what the hub heard last on the channel,
    unless the stored state is known to be newer (or nothing was heard)."""
    if heard is None:
        return stored
    if stored is None or is_older(stored, than=heard):
        return heard
    return stored if is_older(heard, than=stored) else heard
