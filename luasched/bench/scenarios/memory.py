"""``memory``: Redis bytes per entry, for a minimal and for a typical entry.

``--entries`` entries of each kind are stored in a fresh namespace. Reported per entry:
the growth of INFO ``used_memory`` (what the server really spends, allocator overhead
included: the figure), ``MEMORY USAGE`` summed over the namespace's keys, that sum split by
key (definitions, run state, due ZSET, name index), and the size of one definition record.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from luasched.entry import Entry

from ..context import Bench
from ..load import load
from ..progress import bar
from ..report import Result, Target, Value, number
from ..workloads import minimal_entry, typical_entry

KINDS: dict[str, Callable[[int], Entry]] = {"minimal": minimal_entry, "typical": typical_entry}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entries", type=int, default=10_000)


def run(bench: Bench, args: argparse.Namespace) -> Result:
    result = Result("memory", {"entries": args.entries})
    for kind, make in KINDS.items():
        result.rows.append(_measure(bench, kind, make, args.entries))
    result.targets = [Target("memory: <= 250 bytes per minimal entry (used_memory)",
                             number(result.rows[0]["used_memory_per_entry"]), 250)]
    return result


def _measure(bench: Bench, kind: str, make: Callable[[int], Entry], n: int) -> dict[str, Value]:
    config = bench.phase(f"memory-{kind}")
    store = bench.store(config)
    before = _used_memory(bench)
    with bar(bench.console, f"loading {n:,} {kind} entries", n) as progress:
        load(store, (make(i) for i in range(n)), advance=progress.advance)
    grown = _used_memory(bench) - before
    keys = {"index": [store.keys.index, store.keys.shards]}
    for shard in store.shards():
        sk = store.keys.shard(shard)
        for part, key in (("defs", sk.defs), ("meta", sk.meta), ("due", sk.due),
                          ("other", sk.refill)):
            keys.setdefault(part, []).append(key)
    usage = {part: sum(bench.client.memory_usage(k, samples=0) or 0 for k in names)
             for part, names in keys.items()}
    row: dict[str, Value] = {
        "label": kind, "entries": n, "used_memory_per_entry": grown / n,
        "memory_usage_per_entry": sum(usage.values()) / n,
        **{f"{part}_per_entry": usage[part] / n for part in ("defs", "meta", "due", "index")},
        "definition_record_bytes": len(make(0).pack())}
    bench.clean(config)
    return row


def _used_memory(bench: Bench) -> int:
    return int(bench.client.info("memory")["used_memory"])
