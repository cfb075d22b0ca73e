"""Scenario 1, the floor: raw redis-py PUBLISH to a subscriber on this machine."""

from __future__ import annotations

import threading
import time
import uuid

import redis

from bench.stats import percentile


def run(*, redis_url: str, messages: int, interval: float) -> dict[str, object]:
    channel = f"bench:floor:{uuid.uuid4().hex[:8]}"
    sub_client = redis.Redis.from_url(redis_url)
    pub_client = redis.Redis.from_url(redis_url)
    pubsub = sub_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel)
    while pubsub.get_message(timeout=1.0) is None and not pubsub.subscribed:
        pass
    latencies: list[float] = []
    done = threading.Event()

    def listen() -> None:
        while len(latencies) < messages:
            message = pubsub.get_message(timeout=2.0)
            if message is None:
                if done.is_set():
                    return
                continue
            latencies.append((time.perf_counter_ns() - int(message["data"])) / 1e6)

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    pub_client.publish(channel, str(time.perf_counter_ns()))  # warm both connections
    time.sleep(0.1)
    latencies.clear()
    for _ in range(messages):
        pub_client.publish(channel, str(time.perf_counter_ns()))
        time.sleep(interval)
    done.set()
    thread.join(5)
    pubsub.close()
    sub_client.close()
    pub_client.close()
    return {
        "scenario": "floor",
        "messages": messages,
        "delivered": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else None,
    }
