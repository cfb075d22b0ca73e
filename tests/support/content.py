"""The course content as committed, extracted into a folder of the test's own: a test that
starts a server on it does not depend on an edit a writer is halfway through."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from learnsite.env import BASE_DIR


def committed_content(into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD", "content"],
        cwd=BASE_DIR,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "content"
