"""Loading many entries fast: the store's own upsert script, pipelined.

:meth:`Store.upsert` makes several round trips per entry (index lookup, script, index write);
at 10^6 entries that is minutes of round trips. :func:`load` sends the same upsert script
(EVALSHA through :class:`luasched.scripts.Scripts` bound to a pipeline) with the same
arguments for each *new* entry, ``chunk`` entries per round trip, then computes the cron
buffers with :meth:`Store.refill`. It is for fresh schedules only: entries already stored
elsewhere would not move shards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice

import msgpack

from luasched.entry import Entry
from luasched.schedules import Cron
from luasched.scripts import Scripts
from luasched.store import Store


def load(store: Store, entries: Iterable[Entry], *, chunk: int = 2000,
         advance: Callable[[int], None] | None = None) -> int:
    """Upsert ``entries`` (none stored yet) in pipelines of ``chunk``; returns how many."""
    done = 0
    cron_shards: set[str] = set()
    it = iter(entries)
    while batch := list(islice(it, chunk)):
        pipe = store.client.pipeline(transaction=False)
        scripts = Scripts(pipe)
        index: dict[str, str] = {}
        for entry in batch:
            entry = entry.with_default_timezone(store.default_timezone)
            shard = store.shard_of(entry)
            sk = store.keys.shard(shard)
            # the arguments Store.upsert passes for an entry with no previous shard
            scripts("upsert", [sk.defs, sk.meta, sk.due, sk.refill],
                    ["", entry.name, entry.pack(), msgpack.packb(entry.plan()),
                     store.keys.channel, shard, b""])
            index[entry.name] = shard
            if isinstance(entry.schedule, Cron):
                cron_shards.add(shard)
        pipe.sadd(store.keys.shards, *set(index.values()))
        pipe.hset(store.keys.index, mapping=index)
        pipe.execute()
        done += len(batch)
        if advance is not None:
            advance(len(batch))
    for shard in sorted(cron_shards):
        while store.refill(shard):
            pass
    return done
