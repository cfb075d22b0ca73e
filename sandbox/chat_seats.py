"""Who is in a chat room: one nickname per person per room, leased, and the who-is-here list.

A nickname in a room is a *seat*: the key ``<prefix>:chat:<room>:nick:<folded nick>`` on the
site Redis, claimed with ``SET ... NX PX`` (one command, so of two learners racing for one
nickname exactly one gets it) and holding the seat's id. Choosing a nickname reserves the
seat for ``RESERVE_SECONDS`` until the tab's stream opens; the stream renews it every
``RENEW_EVERY`` seconds and gives it up however it ends (a ``WATCH``/``MULTI`` compare and
delete, so a lapsed seat someone else has taken since is left alone). A tab that crashed
stops renewing, and its nickname is free again ``SEAT_LEASE`` seconds later.

The who-is-here list is a sorted set of folded nicknames scored by when their lease ends,
beside a hash of the names as typed; entries past their lease are not listed. A seat is
per tab, not per learner: two tabs of one page are two people in the room.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import cast

from django.core import signing
from redis.exceptions import WatchError

from learnsite import admission, broker

NICK_MAX = 24
NICK_CHARSET = "letters, digits, spaces and . _ ' -"
_NICK_RE = re.compile(r"[\w .'-]+")
SEAT_LEASE = 30.0  # seconds a seat outlives its last renewal (a crashed tab)
RESERVE_SECONDS = 60.0  # from choosing a nickname to the room's stream opening
RENEW_EVERY = 10.0
ROOM_TTL = 3600  # the room's who-is-here keys go when nobody has renewed for an hour
_SALT = "sandbox.chat.seat"


class NickError(ValueError):
    """A nickname that cannot be used in this room; the message says why and what to do."""


@dataclass(frozen=True)
class Seat:
    room: str
    nick: str  # as typed (spaces collapsed)
    id: str
    learner: str

    @property
    def folded(self) -> str:
        return self.nick.casefold()

    @property
    def token(self) -> str:
        """What the tab sends back with each line and to open its stream (signed)."""
        return signing.dumps([self.room, self.nick, self.id, self.learner], salt=_SALT)


def clean_nick(raw: str) -> str:
    nick = " ".join(raw.split())
    if not nick:
        raise NickError("Choose a nickname so others know who is talking.")
    if len(nick) > NICK_MAX:
        raise NickError(
            f"A nickname is at most {NICK_MAX} characters; this one has {len(nick)}. Shorten it."
        )
    if not _NICK_RE.fullmatch(nick):
        raise NickError(f"A nickname may use only {NICK_CHARSET}: {nick!r} does not fit.")
    return nick


def seat_from_token(token: str, *, room: str, learner: str) -> Seat | None:
    """The seat a tab claims to hold, if the token is ours, for this room and learner."""
    try:
        value = signing.loads(token[:400], salt=_SALT)
        room_, nick, seat_id, learner_ = (str(part) for part in value)
    except (signing.BadSignature, TypeError, ValueError):
        return None
    if room_ != room or learner_ != learner:
        return None
    return Seat(room=room_, nick=nick, id=seat_id, learner=learner_)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _base(room: str) -> str:
    return f"{admission._prefix()}:chat:{room}"


def nick_key(room: str, folded: str) -> str:
    return f"{_base(room)}:nick:{folded}"


def here_key(room: str) -> str:
    return f"{_base(room)}:here"


def names_key(room: str) -> str:
    return f"{_base(room)}:names"


def _taken(nick: str) -> NickError:
    return NickError(
        f"Someone in this room is already called {nick}. Choose another nickname "
        f"(for example {nick[: NICK_MAX - 1]}2)."
    )


def seat_claim(*, room: str, nick: str, learner: str) -> Seat:
    """Reserve ``nick`` in ``room`` for a new seat; NickError if someone holds it."""
    seat = Seat(room=room, nick=clean_nick(nick), id=secrets.token_hex(8), learner=learner)
    client = broker.client()
    lease_ms = int(RESERVE_SECONDS * 1000)
    if not client.set(nick_key(room, seat.folded), seat.id, nx=True, px=lease_ms):
        raise _taken(seat.nick)
    until = time.time() + RESERVE_SECONDS
    with client.pipeline(transaction=True) as pipe:
        pipe.zadd(here_key(room), {seat.folded: until})
        pipe.hset(names_key(room), seat.folded, seat.nick)
        pipe.expire(here_key(room), ROOM_TTL)
        pipe.expire(names_key(room), ROOM_TTL)
        pipe.execute()
    return seat


def seat_holds(seat: Seat) -> bool:
    """Whether the seat still holds its nickname (it may have lapsed and been taken)."""
    held = broker.client().get(nick_key(seat.room, seat.folded))
    return held is not None and _text(held) == seat.id


def seat_keep(seat: Seat) -> bool:
    """Whether the seat may speak: it holds its nickname, or nobody does (its lease lapsed,
    or Redis restarted empty) and it takes it back. False when someone else has it now."""
    client = broker.client()
    key = nick_key(seat.room, seat.folded)
    if client.set(key, seat.id, nx=True, px=int(SEAT_LEASE * 1000)):
        with client.pipeline(transaction=True) as pipe:
            pipe.zadd(here_key(seat.room), {seat.folded: time.time() + SEAT_LEASE})
            pipe.hset(names_key(seat.room), seat.folded, seat.nick)
            pipe.expire(here_key(seat.room), ROOM_TTL)
            pipe.expire(names_key(seat.room), ROOM_TTL)
            pipe.execute()
        return True
    held = client.get(key)
    return held is not None and _text(held) == seat.id


async def aseat_renew(seat: Seat) -> bool:
    """Push the seat's lease out; False when the nickname is no longer this seat's (it
    lapsed and someone else took it). A lapsed seat nobody took is claimed again."""
    client = broker.async_client()
    key = nick_key(seat.room, seat.folded)
    lease_ms = int(SEAT_LEASE * 1000)
    async with client.pipeline(transaction=True) as pipe:
        try:
            await pipe.watch(key)
            held = await pipe.get(key)
            if held is not None and _text(held) != seat.id:
                return False
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(key, seat.id, px=lease_ms)
            pipe.zadd(here_key(seat.room), {seat.folded: time.time() + SEAT_LEASE})
            pipe.hset(names_key(seat.room), seat.folded, seat.nick)
            pipe.expire(here_key(seat.room), ROOM_TTL)
            pipe.expire(names_key(seat.room), ROOM_TTL)
            await pipe.execute()
        except WatchError:
            return False  # someone claimed it between our read and our write
    return True


async def aseat_release(seat: Seat) -> bool:
    """Give the nickname up, if it is still this seat's; True when it was."""
    client = broker.async_client()
    key = nick_key(seat.room, seat.folded)
    async with client.pipeline(transaction=True) as pipe:
        try:
            await pipe.watch(key)
            held = await pipe.get(key)
            if held is None or _text(held) != seat.id:
                return False
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.delete(key)
            pipe.zrem(here_key(seat.room), seat.folded)
            pipe.hdel(names_key(seat.room), seat.folded)
            await pipe.execute()
        except WatchError:
            return False
    return True


async def awho_is_here(room: str) -> list[str]:
    """The nicknames in the room now, in alphabetical order."""
    client = broker.async_client()
    found = cast("list[bytes]", await client.zrangebyscore(here_key(room), time.time(), "+inf"))
    folded = [_text(f) for f in found]
    if not folded:
        return []
    shown = await client.hmget(names_key(room), folded)
    return sorted((_text(name) for name in shown if name is not None), key=str.casefold)
