from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from learnsite.content.embeds import EmbedUse


def _room_problems(use: EmbedUse) -> list[str]:
    from sandbox import names

    if use.arg is None:
        return []
    try:
        names.clean_room(use.arg)
    except names.ChannelNameError:
        return [
            f"chat room {use.arg!r} is not a room name: write 1 to {names.ROOM_MAX} lowercase "
            "letters, digits and -, for example ::: embed chat lunch"
        ]
    return []


class SandboxConfig(AppConfig):
    name = "sandbox"

    def ready(self) -> None:
        from learnsite import multiplex
        from learnsite.content.embeds import Embed, register
        from sandbox import pages

        # Playground panels and chat rooms may share the page's one stream (/streams/).
        multiplex.allow("sandbox:stream", "sandbox:chat_events")

        # chat: the argument names the page's room (every tab of the page joins it, and
        # ``?room=`` in the URL overrides it); without one the embed offers a new room.
        register(Embed("chat", "sandbox/embeds/chat.html", arg="optional", validate=_room_problems))
        # The same HTML for every reader but their prefix: kept once, the prefix put in.
        register(
            Embed(
                "playground",
                "sandbox/embeds/playground.html",
                context=pages.playground_embed_context,
                kept_by=pages.playground_embed_key,
                fill=pages.playground_embed_fill,
            )
        )
        register(Embed("blocking-demo", "sandbox/embeds/blocking_demo.html"))
        # The worker embeds of lessons 7 and 8 (sandbox.workers).
        register(Embed("queue-workers", "sandbox/embeds/queue_workers.html"))
        register(Embed("group-janitor", "sandbox/embeds/group_janitor.html"))
