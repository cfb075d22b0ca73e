"""A join storm (issue 16): every join used to broadcast the viewer count to everyone
already connected (617,000 count frames while 19,000 viewers joined). The hub coalesces
it: a viewer gets a few counts a second however many join, and the last one is right."""

from __future__ import annotations

import asyncio

from learnsite.fanout.frames import Frame, Viewers
from learnsite.fanout.hub import Hub
from tests.learnsite.test_hub import FakeSource, fanout_tasks, until


def test_a_join_storm_sends_a_few_counts_not_one_per_join() -> None:
    async def main() -> None:
        source = FakeSource()
        reports: list[int] = []

        async def report(feed: str, viewers: int) -> int:
            reports.append(viewers)
            return viewers  # this is the only process

        hub = Hub(source=source, presence_reporter=report, poll_every=0.05)
        first = await hub.join("cup")
        joined = [first]
        seen: list[Frame] = []
        for _ in range(20):  # 500 joins in about a second
            joined.extend(hub.add("cup") for _ in range(25))
            await asyncio.sleep(0.05)
            seen.extend(first.drain())

        def last_count() -> Viewers | None:
            seen.extend(first.drain())
            counts = [frame for frame in seen if isinstance(frame, Viewers)]
            return counts[-1] if counts else None

        await until(lambda: last_count() == Viewers(501))
        counts = [frame for frame in seen if isinstance(frame, Viewers)]
        assert len(counts) <= 10, f"{len(counts)} count frames for 500 joins"
        assert len(reports) <= 10, "the presence report is coalesced too"
        for viewer in joined:
            hub.leave(viewer)
        await until(lambda: not fanout_tasks())
        await hub.aclose()

    asyncio.run(asyncio.wait_for(main(), 30))
