"""Share of CeleryPublisher.publish samples spent in named frames, from a py-spy raw file
(``py-spy record --format raw``). A frame counts when it is anywhere on the stack, so the
shares of nested frames overlap."""

from __future__ import annotations

import sys
from collections import Counter

ROOT = "publish (luasched/publish.py"
FRAMES = {
    "Celery send_task": "send_task (celery/app/base.py",
    "  kombu Producer._publish": "_publish (kombu/messaging.py",
    "    Redis transport _put (LPUSH)": "_put (kombu/transport/redis.py",
    "      a new redis.Redis per message": "_create_client (kombu/transport/redis.py",
    "    py-amqp basic_publish": "basic_publish (amqp/channel.py",
    "  kombu maybe_declare": "maybe_declare (kombu/messaging.py",
    "  Celery as_task_v2 (message)": "as_task_v2 (",
    "  JSON encoding": "dumps (kombu/utils/json.py",
    "Entry.unpack (definitions)": "unpack (luasched/entry.py",
    "task_options": "task_options (luasched/publish.py",
}


def main(path: str) -> None:
    total, counts = 0, Counter[str]()
    with open(path) as raw:
        for line in raw:
            stack, _, samples = line.rpartition(" ")
            if ROOT not in stack:
                continue
            total += int(samples)
            for name, frame in FRAMES.items():
                if frame in stack:
                    counts[name] += int(samples)
    for name in FRAMES:
        if counts[name]:
            print(f"{name:38s} {100 * counts[name] / total:5.1f}%")


if __name__ == "__main__":
    main(sys.argv[1])
