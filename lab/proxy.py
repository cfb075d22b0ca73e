"""The jail's one way out: a Unix socket whose far end is the sandbox Redis, as the learner.

The runner opens one ``Door`` per run, at ``<socket_dir>/redis.sock``, bound into the jail.
Each connection the learner's program makes through it becomes one connection to the
sandbox Redis that has already said ``AUTH <learner's ACL user>`` before the first byte of
the program's is carried, so the program never holds a password and cannot become anyone
else (``AUTH``, ``HELLO ... AUTH`` and ``RESET`` are refused on the way). Every command is
parsed and its key and channel names rewritten into the learner's namespace
(``lab/names.py``); every reply is parsed and the names in it unprefixed. Per run: at most
``redis_connections`` connections and ``redis_bytes`` sent to Redis (a program that would
write more is cut off), and every connection ends with the run.

Where the sandbox Redis has no ACL users (``credentials`` is None: fakeredis, or a managed
Redis without ACL rights), the door itself allows only the commands it knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from lab import names, resp
from lab.jail import LIMITS, Limits
from learnsite import broker

T = TypeVar("T")

log = logging.getLogger(__name__)

_SUBSCRIBING = frozenset(
    b"SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE SSUBSCRIBE SUNSUBSCRIBE".split()
)
# What the door carries when Redis cannot check an ACL user (credentials is None).
_STRICT_EXTRA = frozenset(
    b"PING ECHO HELLO QUIT MULTI EXEC DISCARD UNWATCH TIME CLIENT PUBSUB XGROUP XINFO".split()
)
_STRICT_CLIENT = frozenset(b"SETINFO SETNAME GETNAME ID".split())
_KNOWN = names.REWRITTEN | _STRICT_EXTRA


async def _parsed(
    reader: asyncio.StreamReader, parse: Callable[[bytearray], tuple[T, int]]
) -> AsyncIterator[list[T]]:
    """What ``parse`` finds in ``reader``'s bytes, one list per chunk read (a command or
    reply split across chunks comes whole with a later one), until the reader ends."""
    buf = bytearray()
    while chunk := await reader.read(65536):
        buf += chunk
        found: list[T] = []
        while True:
            try:
                item, used = parse(buf)
            except resp.Incomplete:
                break
            del buf[:used]
            found.append(item)
        yield found


@dataclass(frozen=True)
class Upstream:
    host: str | None
    port: int
    path: str | None  # a unix socket
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> Upstream:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return cls(
                None,
                0,
                parts.path,
                unquote(parts.username or "") or None,
                unquote(parts.password or "") or None,
            )
        if parts.scheme not in ("redis", ""):
            raise ValueError(f"the lab's door speaks plain redis:// or unix://, not {parts.scheme}")
        return cls(
            parts.hostname or "127.0.0.1",
            parts.port or 6379,
            None,
            unquote(parts.username or "") or None,
            unquote(parts.password or "") or None,
        )

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.path is not None:
            return await asyncio.open_unix_connection(self.path)
        return await asyncio.open_connection(self.host, self.port)


@dataclass
class Door:
    socket_dir: Path
    namespace: names.Namespace
    credentials: broker.Credentials | None
    upstream: Upstream
    limits: Limits = LIMITS
    # Called with each pattern (rewritten) before a PSUBSCRIBE of it goes to Redis: the
    # runner adds it to the run's ACL user. Returns False to refuse the pattern.
    grant_pattern: Callable[[bytes], Awaitable[bool]] | None = None
    connections: int = 0
    sent_bytes: int = 0
    cut_off: str | None = None  # why the run's Redis link was cut, if it was
    _server: asyncio.AbstractServer | None = None
    _links: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def path(self) -> Path:
        return self.socket_dir / "redis.sock"

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._accept, path=str(self.path))
        os.chmod(self.path, 0o777)  # the jail's user is not the runner's

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._links):
            task.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)
        with contextlib.suppress(OSError):
            self.path.unlink()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        try:
            if self.connections >= self.limits.redis_connections:
                writer.write(
                    resp.error(
                        f"ERR the lab allows {self.limits.redis_connections} Redis connections "
                        "per run; close the ones you no longer use"
                    )
                )
                await writer.drain()
                return
            self.connections += 1
            try:
                await self._link(reader, writer)
            finally:
                self.connections -= 1  # the cap counts connections open at once
        except (OSError, asyncio.IncompleteReadError, resp.ProtocolError):
            pass
        finally:
            self._links.discard(task)
            writer.close()

    async def _sign_in(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        up_reader, up_writer = await self.upstream.open()
        user = self.credentials.username if self.credentials else self.upstream.username
        password = self.credentials.password if self.credentials else self.upstream.password
        if password is not None:
            args = [b"AUTH", *([user.encode()] if user else []), password.encode()]
            up_writer.write(resp.pack_command(args))
            await up_writer.drain()
            buf = bytearray()
            while True:
                try:
                    reply, _ = resp.parse(buf)
                    break
                except resp.Incomplete:
                    chunk = await up_reader.read(4096)
                    if not chunk:
                        raise ConnectionError("Redis closed the connection at AUTH") from None
                    buf += chunk
            if reply.kind == b"-":
                up_writer.close()
                raise PermissionError(reply.value.decode(errors="replace"))
        return up_reader, up_writer

    def _allowed(self, args: list[bytes]) -> bool:
        if self.credentials is not None:
            return True  # Redis checks the ACL user
        name = args[0].upper()
        if name == b"CLIENT":
            return len(args) > 1 and args[1].upper() in _STRICT_CLIENT
        return name in _KNOWN

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await self._sign_in()
        except (OSError, PermissionError) as exc:
            writer.write(resp.error(f"ERR the lab could not reach your Redis: {exc}"))
            await writer.drain()
            return
        # What each reply still owed to the program is: a fix of its names, or an error of
        # ours that takes the place of a PING sent to keep the replies in order.
        owed: deque[tuple[names.Fix, bytes | None]] = deque()
        state = {"subscribing": 0}

        async def inbound() -> None:
            async for commands in _parsed(reader, resp.parse_command):
                out = bytearray()
                for args in commands:
                    try:
                        if not self._allowed(args):
                            raise names.Refused(
                                f"NOPERM the lab does not run {args[0].decode(errors='replace')} "
                                "on this Redis"
                            )
                        rewritten, fix = self.namespace.command(args)
                        if rewritten[0].upper() == b"PSUBSCRIBE" and self.grant_pattern:
                            for pattern in rewritten[1:]:
                                if not await self.grant_pattern(pattern):
                                    raise names.Refused(
                                        "ERR the lab cannot subscribe to that pattern: use "
                                        "letters, digits and glob characters, no spaces"
                                    )
                    except names.Refused as exc:
                        out += resp.pack_command([b"PING"])
                        owed.append(("none", resp.error(str(exc))))
                        continue
                    packed = resp.pack_command(rewritten)
                    self.sent_bytes += len(packed)
                    if self.sent_bytes > self.limits.redis_bytes:
                        self.cut_off = (
                            f"your program sent more than {self.limits.redis_bytes // 1024} KB "
                            "to Redis in one run, the lab's most"
                        )
                        return
                    out += packed
                    if rewritten[0].upper() in _SUBSCRIBING:
                        state["subscribing"] += 1
                    else:
                        owed.append((fix, None))
                if out:
                    up_writer.write(bytes(out))
                    await up_writer.drain()

        async def outbound() -> None:
            async for replies in _parsed(up_reader, resp.parse):
                out = bytearray()
                for reply in replies:
                    out += self._outgoing(reply, owed, state)
                if out:
                    writer.write(bytes(out))
                    await writer.drain()

        tasks = [asyncio.create_task(inbound()), asyncio.create_task(outbound())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            up_writer.close()

    def _outgoing(
        self, reply: resp.Reply, owed: deque[tuple[names.Fix, bytes | None]], state: dict[str, int]
    ) -> bytes:
        first = reply.value[0].text() if isinstance(reply.value, list) and reply.value else None
        is_pubsub = first is not None and first.lower() in names.PUBSUB_KINDS
        if reply.kind == b">" or (reply.kind == b"*" and is_pubsub and state["subscribing"] > 0):
            if is_pubsub:
                if (
                    first is not None
                    and first.lower().endswith(b"subscribe")
                    and len(reply.value) >= 3
                ):
                    count = reply.value[2].value
                    if isinstance(count, int) and count == 0:
                        state["subscribing"] = 0
                return resp.encode(self.namespace.pubsub(reply))
            return reply.raw
        fix, instead = owed.popleft() if owed else ("none", None)
        if instead is not None:
            return instead
        return resp.encode(self.namespace.reply(reply, fix))
