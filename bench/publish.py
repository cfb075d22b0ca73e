"""Publish timed updates on ``live:<feed>`` with plain redis-py, the way any code drives a
feed. Run as a subprocess by the harness; prints a JSON summary."""

from __future__ import annotations

import argparse
import json
import time

import redis


def body(seq: int, size: int) -> str:
    head = f'{{"seq":{seq},"ts":{time.time() * 1000:.3f},"pad":"'
    return head + "x" * max(0, size - len(head) - 2) + '"}'


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis)
    client.ping()
    start = time.monotonic()
    late = 0
    receivers = []
    for seq in range(1, args.count + 1):
        delay = start + (seq - 1) * args.interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            late += 1
        receivers.append(client.publish(args.channel, body(seq, args.size)))
    seconds = time.monotonic() - start
    # Stay idle one more interval: this process shares the load client's core, and its
    # exit (interpreter teardown) would otherwise land on the last update's deliveries.
    time.sleep(args.interval)
    print(
        json.dumps(
            {
                "sent": args.count,
                "late": late,
                "seconds": seconds,
                "min_receivers": min(receivers) if receivers else 0,
            }
        )
    )


if __name__ == "__main__":
    main()
