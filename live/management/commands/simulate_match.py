from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from learnsite import broker
from live.feeds import InvalidFeedName, validate_feed
from live.match import play
from live.services import feed_publish, feed_reset


class Command(BaseCommand):
    help = (
        "Play a made-up football match into a live feed: each update is stored as the "
        "feed's state and PUBLISHed on live:<feed>. Open /live/<feed>/ to watch it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("feed", help="feed name, e.g. demo")
        parser.add_argument(
            "--events",
            type=int,
            default=30,
            help="about how many updates to play (default 30, at least 3)",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=2.0,
            help="seconds between updates (default 2; 0 plays at once)",
        )
        parser.add_argument("--home", default="Reds", help="home team name")
        parser.add_argument("--away", default="Blues", help="away team name")
        parser.add_argument("--seed", type=int, default=None, help="random seed, for a replay")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            feed = validate_feed(options["feed"])
        except InvalidFeedName as exc:
            raise CommandError(str(exc)) from None
        if options["events"] < 3 or options["events"] > 10_000:
            raise CommandError("--events must be between 3 and 10000")
        if options["interval"] < 0:
            raise CommandError("--interval must be 0 or more seconds")
        updates = play(
            home=options["home"],
            away=options["away"],
            events=options["events"],
            seed=options["seed"],
        )
        try:
            feed_reset(feed=feed)
            for index, update in enumerate(updates):
                if index and options["interval"]:
                    time.sleep(options["interval"])
                published = feed_publish(
                    feed=feed, event=update.as_event(options["home"], options["away"])
                )
                self.stdout.write(f"[{published.receivers} hub(s)] {update.text}")
        except broker.UNAVAILABLE_ERRORS as exc:
            raise CommandError(
                f"Redis is not answering at {broker.describe_url()} ({exc}). "
                "Start it or set REDIS_URL, then run this again."
            ) from None
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
