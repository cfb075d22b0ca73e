"""Quiz test helpers: a small practice set written into tmp_path, and a bank of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quizzes import loader
from quizzes.loader import LessonInfo, QuizBank, load_bank

CATALOG = """\
# Common mistakes

## thinks-stored
Name: Thinks messages are stored
Fix: intro#what-it-does
Why: They are not.

## wrong-method
Name: Uses a method that does not exist
Fix: intro#publishing
Why: There is no such method.
"""

QUESTION = """\
## Question {qid}

What sends a message?

```python
r.publish('c', 'm')
```

- [x] `publish()`
- [ ] `send()`
  mistake: wrong-method
- [ ] `store()`
  mistake: thinks-stored
- [ ] `receive()`
  mistake: wrong-method

### Solution

1. Sending is publishing.
2. So it is `publish()`.

Final answer: `publish()`

Quick check: Send = publish.
"""

LESSONS = {
    "intro": LessonInfo("intro", "Intro", frozenset({"what-it-does", "publishing"})),
}


def quiz_file(*qids: str, lesson: str = "intro", title: str = "Intro") -> str:
    body = "\n".join(QUESTION.format(qid=q) for q in qids)
    return f"---\nlesson: {lesson}\ntitle: {title}\n---\n\n{body}"


@pytest.fixture
def quiz_dir(tmp_path: Path) -> Path:
    (tmp_path / "quizzes").mkdir()
    (tmp_path / "misconceptions.md").write_text(CATALOG)
    (tmp_path / "quizzes" / "01-intro.md").write_text(
        quiz_file("q-one", "q-two", "q-three", "q-four")
    )
    return tmp_path


@pytest.fixture
def small_bank(quiz_dir: Path) -> QuizBank:
    bank, problems = load_bank(quiz_dir, LESSONS)
    assert problems == []
    return bank


@pytest.fixture
def use_small_bank(
    quiz_dir: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[QuizBank]:
    """Views and services read this small bank instead of the course's content."""
    settings.CONTENT_DIR = quiz_dir
    monkeypatch.setattr(loader, "course_lessons", lambda: LESSONS)
    loader.clear_cache()
    yield loader.get_bank()
    loader.clear_cache()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Accounts are made in many tests here; the real hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
