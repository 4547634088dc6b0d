"""A beat replica process for the sharding tests: records every fire it publishes.

Usage: python replica_proc.py '<settings JSON>' — settings as luasched.config.Settings names;
LUASCHED_* variables apply too. Each fire is appended to the list ``<key_prefix>:fired`` as
JSON {replica, shard, entry, instant, published (Redis ms)}. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Sequence

from luasched.beat import BeatSettings, Replica
from luasched.config import Settings
from luasched.runtime import build_membership, build_store
from luasched.store import Fire, Store


class RecordingPublisher:
    def __init__(self, store: Store, replica_id: str) -> None:
        self.store, self.replica_id = store, replica_id
        self.key = f"{store.keys.prefix}:fired"

    def publish(self, fires: Sequence[Fire]) -> list[Fire]:
        now = self.store.time_ms()
        self.store.client.rpush(self.key, *[json.dumps(
            {"replica": self.replica_id, "shard": f.shard, "entry": f.name, "instant": f.instant,
             "published": now}) for f in fires])
        return list(fires)


def main() -> None:
    settings = Settings.load(overrides=json.loads(sys.argv[1]))
    store = build_store(settings)
    membership = build_membership(settings, store)
    beat = BeatSettings(rescue_grace=settings.rescue_grace, max_sleep=settings.max_sleep)
    replica = Replica(store, RecordingPublisher(store, membership.replica_id), membership, beat)
    signal.signal(signal.SIGTERM, lambda *_: replica.stop())
    replica.run()
    store.client.close()


if __name__ == "__main__":
    main()
