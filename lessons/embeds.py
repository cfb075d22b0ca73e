"""Live pieces a lesson can embed with a line of its own: ``::: embed <name> [<arg>]``.

Each name maps to a template owned by the app that provides the piece; the template gets
``embed_arg`` (the optional argument, e.g. a prediction id or a feed name) and ``lesson``.
The loader rejects unknown names (naming the file and line), so a typo never reaches a learner.
"""

from __future__ import annotations

EMBEDS: dict[str, str] = {
    "chat": "sandbox/embeds/chat.html",
    "playground": "sandbox/embeds/playground.html",
    "blocking-demo": "sandbox/embeds/blocking_demo.html",
    "live-feed": "live/embeds/live_feed.html",
    "console": "console/embeds/console.html",
    "streams-vs-pubsub": "console/embeds/streams_vs_pubsub.html",
    "predict": "console/embeds/predict.html",
}
