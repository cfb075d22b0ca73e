"""The first program in every code-lab jail (run by the jail's own Python, not the site's).

The jail has no network: only a Unix socket, bound in from outside, that leads to the
sandbox Redis as this learner's own Redis user. So that code copied from a lesson runs
unchanged (``redis.Redis()`` connects to localhost:6379), a small door listens on the jail's
own loopback port 6379 and copies bytes to and from that socket. The door is a process of
its own; then this process becomes the learner's program, so a traceback names only the
learner's file.
"""

import contextlib
import os
import resource
import selectors
import socket
import sys

SOCKET = "/run/lab/redis.sock"
PROGRAM = "/lab/main.py"
MAX_CONNECTIONS = 16


def door(listener: socket.socket) -> None:
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    peers: dict[socket.socket, socket.socket] = {}
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock is listener:
                inside, _ = listener.accept()
                if len(peers) >= 2 * MAX_CONNECTIONS:
                    inside.close()
                    continue
                outside = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    outside.connect(SOCKET)
                except OSError:
                    inside.close()
                    outside.close()
                    continue
                peers[inside], peers[outside] = outside, inside
                sel.register(inside, selectors.EVENT_READ, None)
                sel.register(outside, selectors.EVENT_READ, None)
                continue
            other = peers.get(sock)
            if other is None:
                continue  # its pair was closed earlier in this same round
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if data:
                try:
                    other.sendall(data)
                    continue
                except OSError:
                    pass
            for end in (sock, other):
                peers.pop(end, None)
                with contextlib.suppress(KeyError, ValueError):
                    sel.unregister(end)
                end.close()


def main() -> None:
    # Processes and threads of this jail, counted in its own user namespace: set here as
    # well as by the runner, because a limit set outside does not count per jail when the
    # runner is not root.
    limit = int(os.environ.pop("LAB_NPROC", "0"))
    if limit:
        resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 6379))
    listener.listen(MAX_CONNECTIONS)
    if os.fork() == 0:
        os.closerange(0, 3)  # the door writes nothing: stdout is the learner's
        marks = int(os.environ.get("LAB_MARK_FD", "-1"))
        if marks >= 0:
            os.close(marks)  # so the runner sees the marks end when the program does
        try:
            door(listener)
        finally:
            os._exit(0)
    listener.close()
    os.execv(sys.executable, [sys.executable, "-u", PROGRAM])


main()
