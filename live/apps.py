from __future__ import annotations

from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    verbose_name = "Live match feed"

    def ready(self) -> None:
        from learnsite import multiplex, sharedchannels
        from learnsite.content.embeds import Embed, register
        from live.selectors import live_feed_embed_context
        from live.shared import demo_channel_publisher

        # The argument names the feed; "demo" when left out.
        register(
            Embed(
                "live-feed",
                "live/embeds/live_feed.html",
                arg="optional",
                context=live_feed_embed_context,
                blocks=True,  # the kick-off box reads the feed's state from Redis
            )
        )
        # The console's one exception to its namespace: PUBLISH to a demo feed's channel.
        sharedchannels.register(demo_channel_publisher)
        # A board's stream may share the page's one multiplexed stream (/streams/).
        multiplex.allow("live:stream")
