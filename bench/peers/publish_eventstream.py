"""Publish timed updates the way a django-eventstream app does (``send_event``, which
with EVENTSTREAM_REDIS publishes through Redis to every server process). Run with the
peer's venv; prints a JSON summary."""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ["DJANGO_SETTINGS_MODULE"] = "eventstream_app.settings"

import django  # noqa: E402

django.setup()

from django_eventstream import send_event  # noqa: E402


def body(seq, size):
    head = '{"seq":%d,"ts":%.3f,"pad":"' % (seq, time.time() * 1000)
    return head + "x" * max(0, size - len(head) - 2) + '"}'


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--feed", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    send_event("warmup", "message", "{}", json_encode=False)
    start = time.monotonic()
    late = 0
    for seq in range(1, args.count + 1):
        delay = start + (seq - 1) * args.interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            late += 1
        # The body is JSON already: sent as it is, as our publisher sends its own.
        send_event(args.feed, "message", body(seq, args.size), json_encode=False)
    seconds = time.monotonic() - start
    time.sleep(args.interval)
    print(json.dumps({"sent": args.count, "late": late, "seconds": seconds}))


main()
