# mypy: disable-error-code="no-untyped-call"
"""The little app of the blocking-versus-thread demo.

The page shows these two functions with ``inspect.getsource``: what the learner reads is
exactly what runs. ``record`` writes to the timeline; ``stop`` is set when the run ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import redis

Record = Callable[..., None]


def listen_in_main_thread(
    r: redis.Redis,
    channel: str,
    stop: threading.Event,
    record: Record,
) -> None:
    pubsub = r.pubsub()
    pubsub.subscribe(channel)
    try:
        while not stop.is_set():
            record("tick")  # the work due every 250 ms
            # listen() waits here until a message arrives
            for message in pubsub.listen():
                if message["type"] == "message":
                    record("message", message["data"])
                    break  # back to the loop, to wait again
    finally:
        pubsub.close()


def listen_in_background_thread(
    r: redis.Redis,
    channel: str,
    stop: threading.Event,
    record: Record,
) -> None:
    pubsub = r.pubsub()
    pubsub.subscribe(channel)

    def listener() -> None:
        # this thread waits in listen(); the main loop does not
        for message in pubsub.listen():
            if stop.is_set():
                break
            if message["type"] == "message":
                record("message", message["data"])

    thread = threading.Thread(target=listener, daemon=True)
    thread.start()
    try:
        while not stop.wait(0.25):  # keeps its 250 ms rhythm
            record("tick")
    finally:
        thread.join(timeout=5)
        pubsub.close()
