from __future__ import annotations

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"

    def ready(self) -> None:
        from console import checks  # noqa: F401  (registers the content check)
        from console.predictions import embed_problems
        from console.selectors import (
            prediction_embed_context,
            prediction_embed_key,
            prediction_revealed,
        )
        from learnsite import multiplex
        from learnsite.content.embeds import Embed, register

        # A console's subscriptions may share the page's one stream (/streams/).
        multiplex.allow("console:stream")

        # The same for every reader: rendered once per content version (Embed.static).
        register(Embed("console", "console/embeds/console.html", static=True))
        register(Embed("streams-vs-pubsub", "console/embeds/streams_vs_pubsub.html", static=True))
        register(
            Embed(
                "predict",
                "console/embeds/predict.html",
                arg="required",
                validate=embed_problems,
                context=prediction_embed_context,
                kept_by=prediction_embed_key,
                holds_output=True,
                reveal=prediction_revealed,
            )
        )
