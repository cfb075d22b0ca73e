"""What an operator can count: the Prometheus series of the site, and ``/metrics``.

Every metric object lives here, in the ground layer; the apps above increment them (the
code lab observes its runs, the quizzes count answers), and what only an app can read at
scrape time (the code lab's queue) is registered with :func:`on_scrape`.

Under uvicorn with several workers each worker is a process of its own, so the counters
are kept by ``prometheus_client``'s multiprocess mode: with ``PROMETHEUS_MULTIPROC_DIR`` set
(``make run`` sets it up, empty, in a directory of its own) every process writes its values
to memory-mapped files there and ``/metrics``, answered by any worker, adds them up. Without
it, one process's registry is exported.

Labels are bounded by the code, never by a client: a view's name (not its path), a
resource's name, a cause from a fixed list, a live feed (which must exist, at most
``LIVE_MAX_FEEDS`` of them per process).

The fan-out hub's counts are the hot path (one per viewer per frame): the hub counts them
in plain ints (:class:`FanoutCounts`) and :func:`fanout_flush` adds what changed to the
counters about once a second per feed, so a delivery costs an integer addition, no lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST

# -- requests ----------------------------------------------------------------------------

PAGE_SECONDS = Histogram(
    "learnsite_page_seconds",
    "Time from the request reaching Django to its response (a stream: to its start), by view",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UNAVAILABLE = Counter(
    "learnsite_unavailable_responses",
    "503 answers, by cause",
    ["cause"],
)
# What ``learnsite.requestlog.note_cause`` may be told; anything else counts as "other".
CAUSES = frozenset(
    {
        "database",  # a locked or unreachable database (learnsite.errors.database_busy)
        "redis_down",  # the site or sandbox Redis is not answering
        "redis_busy",  # every connection of a shared pool stayed in use
        "redis_memory",  # the (sandbox) Redis is out of memory
        "feeds_full",  # a process already serves LIVE_MAX_FEEDS live feeds
        "unhealthy",  # /healthz says degraded
        "limit",  # a per-process limit said "this server is full"
        "other",
    }
)

# -- the fan-out hub ---------------------------------------------------------------------

VIEWERS = Gauge(
    "learnsite_fanout_viewers",
    "Viewers connected now, by hub and feed (chat rooms are not named: feed is empty)",
    ["hub", "feed"],
    multiprocess_mode="livesum",
)
DELIVERIES = Counter(
    "learnsite_fanout_deliveries", "Frames offered to viewers (one per viewer per frame)", ["hub"]
)
DROPS = Counter(
    "learnsite_fanout_drops",
    "Frames thrown away from the queue of a viewer that fell behind",
    ["hub"],
)
SKIPS = Counter(
    "learnsite_fanout_skips", "Times a viewer that fell behind was skipped to the latest", ["hub"]
)
ABORTS = Counter(
    "learnsite_fanout_aborts", "Viewers cut off (skipped too often, or stalled)", ["hub"]
)
RECONNECTS = Counter(
    "learnsite_redis_reconnects",
    "Times a hub's reader subscribed again after losing Redis",
    ["hub"],
)


class FanoutCounts:
    """One hub's counts, in plain ints: the hub and its viewers add to them as they go,
    :func:`fanout_flush` exports what changed."""

    __slots__ = ("deliveries", "drops", "skips", "aborts", "reconnects", "_exported")

    def __init__(self) -> None:
        self.deliveries = 0
        self.drops = 0
        self.skips = 0
        self.aborts = 0
        self.reconnects = 0
        self._exported = (0, 0, 0, 0, 0)

    def _now(self) -> tuple[int, int, int, int, int]:
        return (self.deliveries, self.drops, self.skips, self.aborts, self.reconnects)


def fanout_flush(hub: str, counts: FanoutCounts) -> None:
    """Add to the counters what ``counts`` gained since the last flush."""
    now = counts._now()
    if now == counts._exported:
        return
    for metric, new, old in zip(
        (DELIVERIES, DROPS, SKIPS, ABORTS, RECONNECTS), now, counts._exported, strict=True
    ):
        if new > old:
            metric.labels(hub).inc(new - old)
    counts._exported = now


# -- admission ---------------------------------------------------------------------------

ADMISSION_CLAIMS = Counter(
    "learnsite_admission_claims",
    "Places claimed (capacities) and actions counted (rates), by resource",
    ["resource"],
)
ADMISSION_REFUSALS = Counter(
    "learnsite_admission_refusals",
    "Claims and actions refused (a 429), by resource and the limit that refused",
    ["resource", "scope"],
)

# -- progress ----------------------------------------------------------------------------

ANSWERS = Counter(
    "learnsite_answers_recorded",
    "Answers recorded: quiz answers, prediction answers, graded exercise runs",
    ["kind"],
)

# -- the code lab ------------------------------------------------------------------------

LAB_QUEUE = Gauge(
    "learnsite_lab_queue_depth",
    "Code-lab runs waiting for a runner (read from the site Redis at scrape time)",
    multiprocess_mode="mostrecent",
)
LAB_RUNNERS = Gauge(
    "learnsite_lab_runners",
    "Code-lab runners that heart-beat lately (read at scrape time)",
    multiprocess_mode="mostrecent",
)
LAB_RUN_SECONDS = Histogram(
    "learnsite_lab_run_seconds",
    "Wall time of a code-lab run in its jail, by how it ended",
    ["reason"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0),
)

# -- export ------------------------------------------------------------------------------

_scrape_hooks: list[Callable[[], None]] = []


def on_scrape(hook: Callable[[], None]) -> None:
    """Run ``hook`` before each scrape (to set a gauge only an app can read); once."""
    if hook not in _scrape_hooks:
        _scrape_hooks.append(hook)


def _reap_dead_processes(directory: Path) -> None:
    """Forget the live gauges of worker processes that are gone (uvicorn restarts a
    worker without telling anyone): their files name their pid."""
    for path in directory.glob("gauge_live*_*.db"):
        pid_text = path.stem.rsplit("_", 1)[-1]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            _multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
        except PermissionError:  # alive, someone else's
            pass


def render(multiprocess_dir: Path | None) -> bytes:
    """The exposition text: this process's registry, or every process's values."""
    for hook in _scrape_hooks:
        try:
            hook()
        except Exception:  # one app's gauge must not take the whole scrape down
            logger.warning("metrics: a scrape hook failed", exc_info=True)
    if multiprocess_dir is None:
        return generate_latest(REGISTRY)
    with contextlib.suppress(OSError):
        _reap_dead_processes(multiprocess_dir)
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def clean_multiprocess_dir(directory: Path) -> None:
    """Make ``directory`` exist and hold no values of an earlier run (``make run``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)
