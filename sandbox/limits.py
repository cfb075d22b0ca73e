"""The sandbox's limits, and the messages that name them.

Everything here is claimed through :mod:`learnsite.admission`: per learner and per client
address under a site-wide ceiling, in the site Redis so the limits hold across server
processes, plus what one process can hold. Publishing is ``admission.PUBLISHES`` (the
console's PUBLISH counts there too). Every refusal is a ``LimitError``.
"""

from __future__ import annotations

from learnsite import admission
from learnsite.admission import LimitError
from learnsite.streaming import StreamSlots
from sandbox import chat_seats

__all__ = [
    "CHAT_LINES",
    "CHAT_NOTICES",
    "CHAT_ROOM_NOTICES",
    "STREAMS",
    "LimitError",
    "chat_line_allowed",
    "apublish_allowed",
]

MESSAGE_MAX = 1000  # characters in a playground message
CHAT_MESSAGE_MAX = 500  # characters in a chat message
NICK_MAX = chat_seats.NICK_MAX
PANELS_MAX = 4  # subscriber panels in one playground
PUBLISH_RATE = admission.PUBLISH_RATE  # publishes ...
PUBLISH_WINDOW = admission.PUBLISH_WINDOW  # ... per this many seconds, per learner
STREAMS_PER_LEARNER = 8  # open live streams (panels, chat, demo) per learner, site-wide
# A class behind one NAT address is 30 learners with a panel or two each.
STREAMS_PER_ADDRESS = 64
STREAMS_SITE = 2000  # open sandbox streams on the whole site
STREAMS_TOTAL = 200  # open live streams per server process (its sockets and tasks)
CHAT_RATE = 10  # chat lines per learner ...
CHAT_WINDOW = 10  # ... per this many seconds
CHAT_RATE_PER_ADDRESS = 60
CHAT_RATE_SITE = 1000
NOTICE_RATE = 10  # join and leave notices per learner ...
NOTICE_WINDOW = 60  # ... per this many seconds
NOTICE_RATE_PER_ADDRESS = 60
NOTICE_RATE_SITE = 1000
ROOM_NOTICE_RATE = 20  # join and leave notices one room shows ...
ROOM_NOTICE_WINDOW = 30  # ... per this many seconds, whoever causes them


async def apublish_allowed(*, learner: str, client_addr: str) -> None:
    """Count one publish; raise LimitError past a rate limit (nothing is counted then)."""
    await admission.PUBLISHES.ahit(learner=learner, address=client_addr)


CHAT_LINES = admission.Rate(
    name="chat-line",
    per_learner=CHAT_RATE,
    per_address=CHAT_RATE_PER_ADDRESS,
    site=CHAT_RATE_SITE,
    window=CHAT_WINDOW,
    messages={
        "learner": "Slow down: a chat takes at most {limit} lines every {window} seconds "
        "from one learner. Try again in {wait} s.",
        "address": "Slow down: chats take at most {limit} lines every {window} seconds from "
        "one network. Try again in {wait} s.",
        "site": "The chats are very busy: at most {limit} lines every {window} seconds in "
        "all. Try again in {wait} s.",
    },
)

# Join and leave notices are sent by the server when a tab opens or closes a room; a
# client that opens and closes streams in a loop would flood a room with them. Over the
# rate the tab still opens, silently.
CHAT_NOTICES = admission.Rate(
    name="chat-notice",
    per_learner=NOTICE_RATE,
    per_address=NOTICE_RATE_PER_ADDRESS,
    site=NOTICE_RATE_SITE,
    window=NOTICE_WINDOW,
)

# A room's own bound: 200 fresh cookies from many addresses reloading at once make a room
# show at most this many notices (the who-is-here list stays exact).
CHAT_ROOM_NOTICES = admission.Rate(
    name="chat-room-notice",
    per_learner=ROOM_NOTICE_RATE,
    per_address=None,
    site=None,
    window=ROOM_NOTICE_WINDOW,
)


def chat_line_allowed(*, learner: str, client_addr: str) -> None:
    """Count one chat line; raise LimitError past a rate limit."""
    CHAT_LINES.hit(learner=learner, address=client_addr)


STREAMS = StreamSlots(
    name="sandbox-streams",
    per_learner=STREAMS_PER_LEARNER,
    per_address=STREAMS_PER_ADDRESS,
    site=STREAMS_SITE,
    total=STREAMS_TOTAL,
    per_learner_message=(
        "You already have {limit} live streams open (the limit per learner). "
        "Remove a subscriber panel or close another sandbox tab, then try again."
    ),
    per_address_message=(
        "Your network already has {limit} sandbox streams open (the limit per address). "
        "Close some tabs, or try again in {wait} s."
    ),
    site_message=(
        "The sandbox is full: the site holds at most {limit} live streams. Try again in {wait} s."
    ),
    total_message=(
        "The sandbox is full: this server holds at most {limit} live streams. "
        "Try again in a minute."
    ),
)
