"""Server-Sent Events frames, built once per message and shared by every viewer."""

from __future__ import annotations

import json

KEEPALIVE = b": keep-alive\n\n"
RETRY = b"retry: 2000\n\n"  # how long a browser waits before reconnecting by itself


def frame(body: bytes, event: str | None = None) -> bytes:
    """One SSE event whose ``data:`` line is ``body``.

    A published body is passed through verbatim on one line. A body that spans lines
    (pretty-printed JSON from redis-cli) cannot: JSON is re-serialised compactly, and
    anything else is sent as several ``data:`` lines, which EventSource joins back with
    newlines.
    """
    head = b"event: " + event.encode() + b"\n" if event else b""
    if b"\n" in body or b"\r" in body:
        try:
            body = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
        except ValueError:
            lines = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
            return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"
    return head + b"data: " + body + b"\n\n"


def json_frame(event: str, payload: dict[str, object]) -> bytes:
    return frame(json.dumps(payload, separators=(",", ":")).encode(), event)
