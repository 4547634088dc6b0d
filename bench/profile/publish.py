"""Publish 10,000 herd fires through CeleryPublisher in one process and print the rate.

Profile it without overhead with py-spy, then attribute the samples:

    py-spy record -r 250 --format raw -o publish.raw -- python bench/profile/publish.py [BROKER]
    python bench/profile/stacks.py publish.raw

BROKER defaults to database 1 of an embedded Redis (as the bench); pass an amqp:// URL to
profile RabbitMQ instead.
"""

from __future__ import annotations

import sys
import time

from celery import Celery
from kombu import Connection

from luasched.bench import workloads
from luasched.embedded import RedisServer
from luasched.publish import CeleryPublisher
from luasched.store import Fire

QUEUE = "luasched-profile-publish"


def main(broker: str | None) -> None:
    with RedisServer() as server:
        url = broker or f"{server.url}/1"
        publisher = CeleryPublisher(Celery("profile", broker=url))
        fires = [Fire(QUEUE, job.name, job.first, job.entry(QUEUE).pack(), "profile")
                 for job in workloads.herd(10_000, 1_800_000_000_000)]
        publisher.publish(fires[:10])  # connect first
        started = time.perf_counter()
        for i in range(0, len(fires), 1000):
            publisher.publish(fires[i:i + 1000])
        print(f"{len(fires) / (time.perf_counter() - started):,.0f} messages/s", file=sys.stderr)
        with Connection(url) as conn:
            conn.default_channel.queue_delete(QUEUE)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
