"""The site's settings with small live-stream limits and the debug counts, for the servers
of ``test_live_abuse.py`` (``GET /live/_debug/counts``: tasks and feeds of the process)."""

from __future__ import annotations

from learnsite.settings import *  # noqa: F403

LIVE_DEBUG_COUNTS = True
LIVE_STALL_SECONDS = 2.0  # a stalled viewer is aborted after 2 s instead of 30
LIVE_MAX_FEEDS = 4
