"""The ```redis blocks of lessons 1 and 3-6: enough of them, each one a Run button (every line
a command the console knows), and each running in the console without an error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from console.commands import COMMANDS
from console.parser import split_line
from console.services import console_run
from live.shared import update_clean
from tests.console.conftest import run_async

_FENCE = re.compile(r"^```redis\n(.*?)^```$", re.MULTILINE | re.DOTALL)
LESSONS = ("01", "03", "04", "05", "06")


def _blocks(number: str) -> list[list[str]]:
    (path,) = Path(settings.CONTENT_DIR, "lessons").glob(f"{number}-*.md")
    return [block.strip().splitlines() for block in _FENCE.findall(path.read_text())]


@pytest.mark.parametrize("number", LESSONS)
def test_each_lesson_has_at_least_three_runnable_redis_blocks(number: str) -> None:
    blocks = _blocks(number)
    assert len(blocks) >= 3, blocks
    for lines in blocks:
        # console.js puts a Run button on a block only when every line is a known command.
        assert lines and all(line.split()[0] in COMMANDS for line in lines), lines


async def _session(learner: str, lines: list[str]) -> list[str]:
    """Run a block's lines as its Run button does: one console, its state carried along."""
    state: dict[str, object] = {"channels": (), "patterns": (), "shards": (), "speaks": 2}
    outputs = []
    for line in lines:
        reply = await console_run(learner=learner, line=line, **state)  # type: ignore[arg-type]
        outputs.append(reply.output)
        if reply.channels is not None:
            state.update(channels=reply.channels, patterns=reply.patterns, shards=reply.shards)
        if reply.protocol is not None:
            state["speaks"] = reply.protocol
    return outputs


@pytest.mark.redis
@pytest.mark.parametrize("number", LESSONS)
def test_each_redis_block_runs_in_the_console_without_an_error(number: str, ns: str) -> None:
    learner = (ns + "0000")[:16]  # holds the test's prefix: the ns fixture cleans it up
    for block in _blocks(number):
        # A PUBLISH to the shared demo feed would reach every viewer of the real board (and
        # other tests): its body is checked as the feed checks it, and it is not sent.
        shared = [line for line in block if line.startswith("PUBLISH live:demo ")]
        for line in shared:
            assert update_clean(split_line(line)[2])
        lines = [line for line in block if line not in shared]
        outputs = run_async(_session(learner, lines))
        assert len(outputs) == len(lines)
        for line, output in zip(lines, outputs, strict=True):
            assert not output.startswith("(error)"), (line, output)
