"""A client that streams a huge request body and counts what it managed to send before
the server answered: an upper bound on what the server read (the rest of the count sits in
the two kernels' socket buffers). The body is one reused block, never built in memory."""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass

_BLOCK = 64 * 1024
# A small send buffer keeps the bytes "sent" but still queued in this kernel small, so the
# count is close to what reached the server.
_SEND_BUFFER = 64 * 1024


@dataclass(frozen=True)
class BodyAttack:
    status: int | None  # None: the connection ended without an answer
    sent: int  # bytes after the request head that the kernel took before the answer came
    answer: bytes


def send_big_body(
    host: str, port: int, path: str, *, total: int, chunked: bool, give_up_after: float = 60.0
) -> BodyAttack:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER)
    sock.settimeout(10)
    sock.connect((host, port))
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n{framing}\r\n\r\n"
    )
    block = b"a" * _BLOCK
    piece = b"%x\r\n%b\r\n" % (len(block), block) if chunked else block
    sent = 0
    body_left = total
    pending = b""
    stop_at = time.monotonic() + give_up_after  # a safety net for a server that never answers
    try:
        sock.sendall(head.encode())
        sock.setblocking(False)
        while (body_left > 0 or pending) and time.monotonic() < stop_at:
            readable, writable, _ = select.select([sock], [sock], [], 1.0)
            if readable:
                break  # the server answered (or closed): stop sending, as a client would
            if not writable:
                continue
            if not pending:
                pending = piece if body_left >= _BLOCK else block[:body_left]
                body_left -= min(_BLOCK, body_left)
            try:
                count = sock.send(pending)
            except BlockingIOError:
                continue
            except OSError:
                break  # reset or broken pipe: the server hung up
            sent += count
            pending = pending[count:]
        answer = _read_answer(sock)
    finally:
        sock.close()
    status = None
    if answer.startswith(b"HTTP/1.1 "):
        status = int(answer[9:12])
    return BodyAttack(status, sent, answer)


def _read_answer(sock: socket.socket) -> bytes:
    sock.setblocking(True)
    sock.settimeout(10)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass  # a reset after the answer (the server closed with our body unread) is expected
    return data
