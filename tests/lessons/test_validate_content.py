"""validate_content and the server's refusal to start on invalid content."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.checks.registry import registry
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from learnsite.content.checks import CONTENT, refuse_invalid_content
from learnsite.env import BASE_DIR
from learnsite.runner import free_port
from lessons import search
from tests.lessons.conftest import WriteLesson


@pytest.fixture
def lesson_checks_only(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the lessons' content checks run: the content in tmp_path has no quizzes."""
    own = ("lessons.checks", "learnsite.content.checks")
    kept = {
        check
        for check in registry.registered_checks
        if CONTENT not in getattr(check, "tags", ()) or check.__module__ in own
    }
    monkeypatch.setattr(registry, "registered_checks", kept)
    settings.CONTENT_CHECKS = ["lessons.checks.lesson_files", "lessons.checks.lesson_embeds"]


def test_ok_summary(
    write_lesson: WriteLesson, lesson_checks_only: None, capsys: pytest.CaptureFixture[str]
) -> None:
    write_lesson("01-a.md")
    call_command("validate_content")
    out, err = capsys.readouterr()
    assert "Content OK: 1 lessons, 3 checks passed" in out
    assert err == ""


@pytest.mark.parametrize("missing", ["lessons.checks.renamed_check", "not_built_yet.loader.errors"])
def test_a_check_that_cannot_be_found_fails_validation(
    write_lesson: WriteLesson,
    lesson_checks_only: None,
    settings: Any,
    missing: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_lesson("01-a.md")
    settings.CONTENT_CHECKS = [*settings.CONTENT_CHECKS, missing]
    with pytest.raises(SystemExit) as exited:
        call_command("validate_content")
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert f"settings.CONTENT_CHECKS: {missing}: cannot import the check (" in err
    assert "(learnsite.E001)" in err


def test_a_check_that_is_not_registered_fails_validation(
    write_lesson: WriteLesson,
    lesson_checks_only: None,
    settings: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_lesson("01-a.md")
    settings.CONTENT_CHECKS = [*settings.CONTENT_CHECKS, "lessons.loader.content_errors"]
    with pytest.raises(SystemExit):
        call_command("validate_content")
    err = capsys.readouterr().err
    assert "lessons.loader.content_errors: is not registered as a content check" in err


def test_a_renamed_check_fails_validate_content_in_a_fresh_process(tmp_path: Path) -> None:
    settings_module = tmp_path / "renamed_check_settings.py"
    settings_module.write_text(
        "from learnsite.settings import *  # noqa: F403\n"
        "CONTENT_CHECKS = [*CONTENT_CHECKS, 'quizzes.checks.quiz_files_renamed']\n"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "validate_content"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ
        | {
            "DJANGO_SETTINGS_MODULE": "renamed_check_settings",
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(BASE_DIR)]),
        },
    )
    assert result.returncode == 1
    assert "quizzes.checks.quiz_files_renamed: cannot import the check" in result.stderr


def test_check_tag_content_reports_file_line_and_id(
    write_lesson: WriteLesson, lesson_checks_only: None
) -> None:
    path = write_lesson("01-a.md", body="!!! warn\n    x\n")
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", tags=[CONTENT])
    assert f'{path}:8: (lessons.E001) unknown callout type "warn"; use note, warning or tip' in str(
        raised.value
    )


def test_errors_are_printed_and_exit_1(
    write_lesson: WriteLesson, lesson_checks_only: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_lesson("01-a.md", body="!!! warn\n    x\n")
    with pytest.raises(SystemExit) as exited:
        call_command("validate_content")
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert f'{path}:8: unknown callout type "warn"; use note, warning or tip' in err
    assert "1 content problem(s); fix them and run this again." in err


def test_a_check_that_fails_to_import_is_an_error(
    write_lesson: WriteLesson,
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "h1_broken_check.py").write_text("import no_such_dependency_h1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.CONTENT_CHECKS = ["h1_broken_check.content_errors"]
    with pytest.raises(SystemExit):
        call_command("validate_content")
    assert "h1_broken_check.content_errors: cannot import the check" in capsys.readouterr().err


def test_the_real_content_is_valid() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "validate_content"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lessons = len(list((BASE_DIR / "content" / "lessons").glob("*.md")))
    assert f"Content OK: {lessons} lessons" in result.stdout


def test_startup_refuses_invalid_content(
    write_lesson: WriteLesson, lesson_checks_only: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_lesson("01-a.md", body="::: embed nope\n")
    with pytest.raises(SystemExit) as exited:
        refuse_invalid_content()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "Refusing to start: the course content has problems." in err
    assert f'{path}:8: unknown embed "nope"; use one of ' in err


def test_startup_on_valid_content_builds_the_search_index(
    write_lesson: WriteLesson, lesson_checks_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "_index", None)
    write_lesson("01-a.md", body="Brokers fan out.\n")
    refuse_invalid_content()
    assert search._index is not None
    assert search._index.search("fan").results


@pytest.mark.slow
def test_uvicorn_exits_with_the_messages(tmp_path: Path) -> None:
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    (lessons / "01-a.md").write_text("---\ntitle: T\nslug: Bad Slug\norder: 1\nsummary: S\n---\n")
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "learnsite.asgi:application", "--port", str(free_port())],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"CONTENT_DIR": str(tmp_path), "DEBUG": "1"},
    )
    assert result.returncode == 1
    assert "Refusing to start: the course content has problems." in result.stderr
    assert f'{lessons / "01-a.md"}:3: bad slug "Bad Slug"' in result.stderr
