"""A worker freezes what it loaded at startup out of the cyclic garbage collector (see the
end of learnsite/asgi.py), so full collections under load walk only what requests made."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings


def test_the_asgi_module_freezes_the_startup_objects() -> None:
    probe = (
        "import gc; before = gc.get_freeze_count(); import learnsite.asgi; "
        "print(before, gc.get_freeze_count())"
    )
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "learnsite.settings"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = (int(n) for n in done.stdout.split()[-2:])
    assert before == 0
    assert after > 10_000  # Django, the course and its index: tens of thousands of objects
