"""Publish timed updates on ``live:<feed>`` with plain redis-py, the way any code drives a
feed. Run as a subprocess by the harness; prints a JSON summary."""

from __future__ import annotations

import argparse
import http.client
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import redis


def body(seq: int, size: int) -> str:
    head = f'{{"seq":{seq},"ts":{time.time() * 1000:.3f},"pad":"'
    return head + "x" * max(0, size - len(head) - 2) + '"}'


def _redis_sender(url: str, channel: str) -> Callable[[str], int]:
    client = redis.Redis.from_url(url)
    client.ping()
    return lambda data: int(client.publish(channel, data))


def _http_sender(url: str) -> Callable[[str], int]:
    """One keep-alive connection; nchan answers each POST with the channel's subscriber
    count in its text ("subscribers: N")."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80)

    def send(data: str) -> int:
        connection.request("POST", parts.path, body=data.encode(), headers={"Accept": "text/plain"})
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
        if response.status >= 300:
            raise RuntimeError(f"POST {url}: {response.status} {text[:200]}")
        for line in text.splitlines():
            if line.startswith("subscribers:"):
                return int(line.split(":", 1)[1])
        return -1

    return send


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", help="publish with PUBLISH on this Redis ...")
    parser.add_argument("--channel", help="... to this channel")
    parser.add_argument("--http", help="or POST each update to this URL (nchan's publisher)")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    send = _http_sender(args.http) if args.http else _redis_sender(args.redis, args.channel)
    start = time.monotonic()
    late = 0
    receivers = []
    for seq in range(1, args.count + 1):
        delay = start + (seq - 1) * args.interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            late += 1
        receivers.append(send(body(seq, args.size)))
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
