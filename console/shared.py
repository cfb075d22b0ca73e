"""The console's one exception to its namespace: ``PUBLISH <channel> <message>`` where an
app registered ``<channel>`` as shared (:mod:`learnsite.sharedchannels`; the live app's demo
feeds, ``live:demo``). Such a line is not rewritten into ``console:<learner>:``: the app's
publisher validates it, rate-limits it and publishes it to the real channel, and the reply
says the channel is shared. Every other line, other ``live:*`` names included, is
namespaced as before."""

from __future__ import annotations

from collections.abc import Sequence

from asgiref.sync import sync_to_async
from django.conf import settings

from learnsite import sharedchannels


async def shared_publish(
    args: Sequence[bytes], *, learner: str, client_addr: str
) -> tuple[str, int, int | None] | None:
    """(output, status, retry_after) when ``args`` publish to a shared channel; else None
    (the line goes through the console's namespace rewriting as usual)."""
    if len(args) != 3 or args[0].upper() != b"PUBLISH":
        return None
    channel = args[1].decode("utf-8", "replace")
    publisher = sharedchannels.publisher_for(channel)
    if publisher is None:
        return None
    request = sharedchannels.Publish(
        channel=channel, message=args[2], learner=learner, address=client_addr
    )
    try:
        return await sync_to_async(publisher)(request), 200, None
    except sharedchannels.SharedPublishRefused as exc:
        return f"(error) {exc}", exc.status, exc.retry_after


def namespaced_live_note(args: Sequence[bytes]) -> str:
    """A line after the reply to ``PUBLISH live:<x>`` that is not a shared feed: it went to
    the learner's own channel, which no live board listens to (else a silent 0)."""
    if len(args) < 2 or args[0].upper() != b"PUBLISH" or not args[1].startswith(b"live:"):
        return ""
    shared = ", ".join(f"live:{feed}" for feed in settings.LIVE_DEMO_FEEDS) or "none"
    return (
        f"\n(note) {args[1].decode('utf-8', 'replace')} is a channel in your own namespace, "
        "like every name you type here: no live board listens to it. The one shared channel "
        f"is the demo feed ({shared}), which every viewer of /live/ sees."
    )
