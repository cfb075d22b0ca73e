from __future__ import annotations

from tests.quizzes.conftest import quiz_dir, small_bank  # noqa: F401  (shared quiz fixtures)
