"""Run the real site under uvicorn in a subprocess, on a free port, for browser and
streaming tests (pytest-django's live_server is WSGI and cannot stream SSE)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from learnsite.env import BASE_DIR
from learnsite.runner import free_port


@dataclass
class Database:
    url: str
    drop: object = field(default=None)


def make_database() -> Database:
    """A database of the server's own: a temp SQLite file, or a new PostgreSQL database
    when DATABASE_URL points at PostgreSQL."""
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith(("postgres://", "postgresql://")):
        import psycopg

        name = f"learnsite_srv_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        head, _, _ = base.rpartition("/")

        def drop() -> None:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return Database(f"{head}/{name}", drop)
    path = Path(tempfile.mkdtemp(prefix="learnsite-db-")) / "db.sqlite3"
    return Database(f"sqlite:///{path}")


def migrate(database: Database) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks", "-v", "0"],
        cwd=BASE_DIR,
        env=os.environ | {"DATABASE_URL": database.url},
        check=True,
    )


class AsgiServer:
    def __init__(
        self,
        *,
        database: Database,
        redis_url: str,
        extra_env: dict[str, str] | None = None,
        workers: int = 1,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database = database
        self.admission_prefix = f"tsrv{uuid.uuid4().hex[:12]}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix="uvicorn-", suffix=".log", delete=False
        )
        env = (
            os.environ
            | {
                "DATABASE_URL": database.url,
                "REDIS_URL": redis_url,
                "DEBUG": "1",
                "PYTHONUNBUFFERED": "1",
                # Admission claims of this server only: suites running at the same time
                # on one Redis all come from 127.0.0.1, and must not share its limits.
                "ADMISSION_PREFIX": self.admission_prefix,
            }
            | (extra_env or {})
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "learnsite.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--timeout-graceful-shutdown",
                "2",
                # uvicorn kills a worker that does not answer its health ping in time (5 s by
                # default) and starts another: on a loaded 2-core machine a worker still
                # starting can miss it, and tests that count workers saw one vanish.
                "--timeout-worker-healthcheck",
                "60",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        # Generous: a loaded 2-core machine has taken over 30 s to start one (a hang guard).
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited early:\n{self.output()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"uvicorn did not answer in 90 s:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
