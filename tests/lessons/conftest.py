"""Lesson files written into tmp_path, with settings.CONTENT_DIR pointed there."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lessons import loader

WriteLesson = Callable[..., Path]


def lesson_text(
    *,
    title: str = "A lesson",
    slug: str = "a-lesson",
    order: int = 1,
    summary: str = "What it is about.",
    part: str = "Pub/sub",
    body: str = "Some text.\n",
    extra: str = "",
) -> str:
    return (
        f"---\ntitle: {title}\nslug: {slug}\norder: {order}\nsummary: {summary}\npart: {part}\n"
        f"{extra}---\n" + textwrap.dedent(body)
    )


@pytest.fixture
def content_dir(tmp_path: Path, settings: Any) -> Iterator[Path]:
    (tmp_path / "lessons").mkdir()
    settings.CONTENT_DIR = tmp_path
    loader.reset_cache()
    yield tmp_path
    loader.reset_cache()


@pytest.fixture
def write_lesson(content_dir: Path) -> WriteLesson:
    """write_lesson("01-a.md", slug=..., body=...) or write_lesson("01-a.md", raw="...")."""

    def write(name: str, raw: str | None = None, **fields: Any) -> Path:
        path = content_dir / "lessons" / name
        path.write_text(raw if raw is not None else lesson_text(**fields), encoding="utf-8")
        return path

    return write
