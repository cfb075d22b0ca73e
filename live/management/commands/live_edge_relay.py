from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from live.edge import EdgePublisher, relay


class Command(BaseCommand):
    help = (
        "Edge mode (LIVE_EDGE=nchan): relay every live:<feed> message from the site Redis "
        "to nginx + nchan's publisher location (LIVE_EDGE_PUBLISH_URL), which holds the "
        "viewers' streams. Run one per machine running nginx; stops on SIGTERM or Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--publish-url",
            default=None,
            help="nchan's publisher location, ending in / (default LIVE_EDGE_PUBLISH_URL)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["publish_url"] or settings.LIVE_EDGE_PUBLISH_URL
        try:
            edge = EdgePublisher(url)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"Relaying live:* to {url} (Ctrl-C to stop).")
        self.stdout.flush()
        counts = relay(edge, stop=stop)
        self.stdout.write(
            f"Stopped: {counts.relayed} updates and {counts.states} states relayed, "
            f"{counts.failed} failed, {counts.reconnects} Redis reconnections."
        )
