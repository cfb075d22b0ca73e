"""The edges' attacks for ``bench/abuse.py`` (issue 11, findings 8 and 9), and the count of
500s across every scenario.

- ``body``: a 300 MB request body, declared (``Content-Length``) and streamed (chunked),
  sent as fast as the client can; the status and the bytes the client got to send before
  the answer (an upper bound on what the server read).
- ``inputs``: console lines with the numbers Python reads and Redis does not (``BRPOP k
  nan``, ``inf``, ``1e999``, negatives) and deeply nested JSON in ``channels``; the status of
  each answer.
- :func:`server_errors`: the 500s a server logged (Django logs every one it makes, once;
  uvicorn logs an application that crashed), read from its log when a scenario
  ends; ``bench/abuse.py`` adds them up across the scenarios into the ``500s`` section.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench.servers import Server
from tests.support.bodies import send_big_body
from tests.support.servers import Database, migrate

if TYPE_CHECKING:
    from bench.abuse import Context

_300_MB = 300 * 1024 * 1024
# One line per 500: Django logs "Internal Server Error: <path>" for every 500 response it
# makes (learnsite.errors.server_error's own "server error on" line is the same 500 again);
# uvicorn logs "Exception in ASGI application" for one that never reached Django's handler.
_500_MARKERS = ("Internal Server Error:", "Exception in ASGI application")


def server_errors(server: Server) -> int:
    """500 answers the server logged (its whole log, not the tail ``output()`` keeps)."""
    text = server.log.read_text(errors="replace")
    return sum(text.count(marker) for marker in _500_MARKERS)


def _site(ctx: Context) -> Server:
    """The site with DEBUG=1 (with DEBUG=0 the CSRF cookie is Secure and a plain-http client
    cannot post) and a migrated SQLite database of its own (sessions are stored there)."""
    database = Database(f"sqlite:///{Path(tempfile.mkdtemp(prefix='abuse-db-')) / 'db.sqlite3'}")
    migrate(database)
    return ctx.site(DEBUG="1", DATABASE_URL=database.url)


async def body_attack(ctx: Context) -> str:
    server = _site(ctx)
    total = _300_MB // (10 if ctx.quick else 1)
    lines = [
        "## 300 MB body: status and bytes read",
        "",
        f"A {total // (1024 * 1024)} MB body POSTed to `/quizzes/answer/`, sent as fast as the "
        "client can with a 64 KB send buffer; *sent* is what the client's kernel took before "
        "the answer came, an upper bound on what the server read. Before the fix (Django "
        "reading every body): 300 MB read and spooled to disk, then a 403.",
        "",
        "| body | status | sent before the answer | seconds |",
        "|---|---|---|---|",
    ]
    for chunked in (False, True):
        started = time.perf_counter()
        attack = await asyncio.to_thread(
            send_big_body,
            "127.0.0.1",
            server.port,
            "/quizzes/answer/",
            total=total,
            chunked=chunked,
        )
        took = time.perf_counter() - started
        lines.append(
            f"| {'chunked' if chunked else 'Content-Length'} | {attack.status} | "
            f"{attack.sent / 1024:.0f} KB | {took:.2f} |"
        )
    return "\n".join(lines)


_LINES = [
    "BRPOP k nan",
    "BRPOP k inf",
    "BRPOP k -inf",
    "BRPOP k 1e999",
    "BRPOP k -1",
    "BRPOP k 1_0",
    "XREAD BLOCK nan STREAMS s $",
    "XREAD BLOCK 99999999999999999999 STREAMS s $",
]


async def input_attack(ctx: Context) -> str:
    server = _site(ctx)
    base = f"http://127.0.0.1:{server.port}"
    rows: list[tuple[str, int]] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await client.get("/sandbox/console/")
        headers = {"X-CSRFToken": client.cookies.get("csrftoken") or ""}
        for line in _LINES:
            response = await client.post(
                "/sandbox/console/run/", data={"line": line}, headers=headers
            )
            rows.append((f"`{line}`", response.status_code))
        for depth in (3_000, 20_000):
            nested = "[" * depth + "]" * depth
            response = await client.post(
                "/sandbox/console/run/", data={"line": "PING", "channels": nested}, headers=headers
            )
            rows.append((f"`channels` nested {depth:,} deep", response.status_code))
    lines = [
        "## Bad numbers and deep JSON: statuses",
        "",
        "Console lines and fields that answered 500 before (a NaN timeout reached the socket "
        "layer; `json.loads` raised RecursionError). Each should be a 400 with Redis's own "
        "one-line error.",
        "",
        "| input | status |",
        "|---|---|",
        *(f"| {what} | {status} |" for what, status in rows),
    ]
    return "\n".join(lines)


def errors_section(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    lines = [
        f"## {total} responses with status 500 across the attacks",
        "",
        "500s each scenario's servers logged (Django's `Internal Server Error` line, one per 500, "
        "and uvicorn's for an application that crashed).",
        "",
        "| scenario | 500s |",
        "|---|---|",
        *(f"| {name} | {count} |" for name, count in counts.items()),
    ]
    return "\n".join(lines)
