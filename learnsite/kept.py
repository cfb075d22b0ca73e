"""A small store of values kept per process: at most ``size``, each for ``ttl`` seconds at
most (None: as long as it is not pushed out), the least recently used going first; safe to
share between threads. Every page-path keeper uses it: kept pages and their cut parts
(``pagecache``), kept embed pieces (``lessons/settled.py``), question fragments
(``quizzes/fragments.py``), a learner's progress (``progress/kept.py``)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Kept(Generic[V]):
    def __init__(self, *, size: int, ttl: float | None = None) -> None:
        if size < 1 or (ttl is not None and ttl <= 0):
            raise ValueError("a store keeps at least one value for some time")
        self.size = size
        self.ttl = ttl
        self._lock = threading.Lock()
        self._values: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()

    def get_or_make(
        self,
        key: Hashable,
        make: Callable[[], V],
        *,
        valid: Callable[[V], bool] | None = None,
        keep: Callable[[V], bool] | None = None,
    ) -> V:
        """The value kept for ``key`` (if ``valid`` says it still is), or ``make()``'s, kept
        in its place (unless ``keep`` says it is not worth it). ``make`` runs outside the
        lock: two threads missing the same key at once both make it, the later one kept."""
        now = time.monotonic()
        with self._lock:
            found = self._values.get(key)
            if (
                found is not None
                and (self.ttl is None or now - found[0] < self.ttl)
                and (valid is None or valid(found[1]))
            ):
                self._values.move_to_end(key)
                return found[1]
        value = make()
        if keep is not None and not keep(value):
            return value
        with self._lock:
            self._values[key] = (now, value)
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
