"""Publish timed updates to a Channels group, the way a Channels app does it
(``channel_layer.group_send``). Run with the peer's venv; prints a JSON summary."""

import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ["DJANGO_SETTINGS_MODULE"] = "channels_app.settings"

import django  # noqa: E402

django.setup()

from channels.layers import get_channel_layer  # noqa: E402


def body(seq, size):
    head = '{"seq":%d,"ts":%.3f,"pad":"' % (seq, time.time() * 1000)
    return head + "x" * max(0, size - len(head) - 2) + '"}'


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--feed", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    layer = get_channel_layer()
    group = "live-" + args.feed
    # Warm the layer's connections so the first timed update does not pay for them.
    await layer.group_send("warmup", {"type": "live.warmup"})
    await asyncio.sleep(0.2)
    start = time.monotonic()
    late = 0
    for seq in range(1, args.count + 1):
        delay = start + (seq - 1) * args.interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late += 1
        await layer.group_send(group, {"type": "live.update", "body": body(seq, args.size)})
    seconds = time.monotonic() - start
    # As bench/publish.py: idle one more interval so this process's exit does not compete
    # with the load client for the last update.
    await asyncio.sleep(args.interval)
    print(json.dumps({"sent": args.count, "late": late, "seconds": seconds}))


asyncio.run(main())
