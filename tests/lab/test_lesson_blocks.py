"""Code copied from a lesson runs unchanged in the lab: every runnable block of the course,
run in the real jail as a learner (names rewritten into their namespace, their ACL user),
prints exactly the lesson's output block."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lessons.test_runnable_code import REAL_BLOCKS, _normalise

pytestmark = [pytest.mark.redis, pytest.mark.slow]


_LIBRARIES = "imports a library the lab's jail does not have (only redis-py is there)"
_ADMIN = "runs an admin command a learner's Redis user may not run on the shared sandbox"
# The blocks that cannot run in the lab, and why: strict, so a block that starts to work
# (or a new one that does not) is noticed.
CANNOT_RUN = {
    "work-queues-on-lists:294": "uses a Lua script (EVALSHA): the lab runs no scripts on the "
    "shared sandbox Redis, where a looping script would stall every learner",
    "work-queues-on-lists:336": _LIBRARIES,
    "celery-and-rq:23": _LIBRARIES,
    "celery-and-rq:83": _LIBRARIES,
    "celery-and-rq:172": _LIBRARIES,
    "celery-and-rq:267": _LIBRARIES,
    "celery-and-rq:336": _LIBRARIES,
    "channels-layers:45": _LIBRARIES,
    "channels-layers:116": _LIBRARIES,
    "channels-layers:208": _LIBRARIES,
    "running-in-production:95": _ADMIN + " (CLIENT LIST)",
    "running-in-production:193": _ADMIN + " (CLIENT LIST)",
    "redis-py-settings:80": _ADMIN + " (CONFIG RESETSTAT)",
    "redis-py-settings:319": _ADMIN + " (CONFIG SET maxmemory, INFO)",
}


def _param(lesson: Any, block: Any) -> Any:
    key = f"{lesson.slug}:{block.line}"
    marks = [pytest.mark.xfail(reason=CANNOT_RUN[key], strict=True)] if key in CANNOT_RUN else []
    return pytest.param(lesson, block, id=key, marks=marks)


@pytest.mark.parametrize(
    ("lesson", "block"), [_param(lesson, block) for lesson, block in REAL_BLOCKS]
)
def test_a_lesson_block_prints_its_output_in_the_lab(run: Any, lesson: Any, block: Any) -> None:
    ran = run(block.code + "\n")
    assert ran.outcome.reason == "finished", (ran.outcome, ran.stderr)
    assert _normalise(ran.stdout) == _normalise(block.expected_output), ran.stderr
