"""Runs one code-lab exercise inside the jail: the learner's program, then its checks.

The learner's program (``/lab/learner.py``) runs in a thread called ``main`` with a
deadline, so a program that blocks for ever (``listen()`` in the main loop, say) is still
checked, and the checks can say why. ``/lab/check.py`` defines ``before(lab)`` (optional:
start what the exercise needs, such as a publisher) and ``after(lab)``, which calls
``lab.expect(...)`` once per check. The verdict goes to the runner as a mark.
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import labkit
import redis

DEADLINE = 6.0  # seconds the learner's program may run before it is checked anyway


class Lab:
    def __init__(self) -> None:
        self.ns: dict[str, Any] = {"__name__": "__main__", "__file__": "/lab/learner.py"}
        self.error: BaseException | None = None
        self.finished = False  # the program returned by itself before the deadline
        self.seconds = 0.0
        self.results: list[dict[str, Any]] = []
        self.redis = redis.Redis(decode_responses=True)
        self._helpers: list[threading.Thread] = []

    # what checks use
    def expect(
        self, ok: object, name: str, *, detail: str = "", mistake: str | None = None
    ) -> bool:
        passed = bool(ok)
        self.results.append(
            {
                "name": name,
                "passed": passed,
                "detail": detail,
                "mistake": None if passed else mistake,
            }
        )
        return passed

    @property
    def ticks(self) -> list[float]:
        return list(labkit.ticks)

    @property
    def messages(self) -> list[object]:
        return [data for _, data in labkit.messages]

    def threads(self) -> list[threading.Thread]:
        """The learner's threads still alive (not the program's own ``main``, not ours)."""
        return [
            t
            for t in threading.enumerate()
            if t is not threading.main_thread()
            and t.name != "main"
            and not t.name.startswith("lab-")
            and t.is_alive()
        ]

    def later(self, seconds: float, action: Callable[[], object]) -> None:
        def run() -> None:
            time.sleep(seconds)
            try:
                action()
            except Exception as exc:
                print(f"[lab] a check helper failed: {exc!r}", file=sys.stderr)

        thread = threading.Thread(target=run, name=f"lab-helper-{len(self._helpers)}", daemon=True)
        self._helpers.append(thread)
        thread.start()

    def publish_later(
        self, channel: str, messages: list[str], *, after: float = 0.4, every: float = 0.15
    ) -> None:
        """Publish ``messages`` on ``channel`` from a client of the checks' own."""

        def publish() -> None:
            for message in messages:
                self.redis.publish(channel, message)
                time.sleep(every)

        self.later(after, publish)

    def numsub(self, channel: str) -> int:
        return int(dict(self.redis.pubsub_numsub(channel)).get(channel, 0))


def _run_learner(lab: Lab) -> None:
    with open("/lab/learner.py", encoding="utf-8") as file:
        source = file.read()
    try:
        code = compile(source, "/lab/learner.py", "exec")
        exec(code, lab.ns)
        lab.finished = True
    except SystemExit:
        lab.finished = True
    except BaseException as exc:
        lab.error = exc
        lab.finished = True
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        traceback.print_exception(type(exc), exc, tb)


def main() -> None:
    check = runpy.run_path("/lab/check.py")
    lab = Lab()
    before = check.get("before")
    if before is not None:
        before(lab)
    started = time.monotonic()
    program = threading.Thread(target=_run_learner, args=(lab,), name="main", daemon=True)
    program.start()
    program.join(DEADLINE)
    lab.seconds = time.monotonic() - started
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        check["after"](lab)
    except Exception as exc:
        lab.expect(False, "the checks ran", detail=f"the checks failed: {exc!r}")
    passed = bool(lab.results) and all(r["passed"] for r in lab.results)
    mistake = next((r["mistake"] for r in lab.results if not r["passed"] and r["mistake"]), None)
    labkit.verdict(
        {
            "passed": passed,
            "checks": lab.results,
            "mistake": mistake,
            "finished": lab.finished,
            "seconds": round(lab.seconds, 2),
        }
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # threads the program left running end with the jail


if __name__ == "__main__":
    main()
