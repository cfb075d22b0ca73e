from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from console.services import ConsoleReply, console_run

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run in a thread of its own: Playwright's sync API leaves a loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture
def learner(ns: str) -> str:
    """A learner key containing this test's prefix, so the ns fixture cleans up after it."""
    return (ns + "0000")[:16]


def console(learner: str, line: str, **state: Any) -> ConsoleReply:
    return run_async(console_run(learner=learner, line=line, **state))
