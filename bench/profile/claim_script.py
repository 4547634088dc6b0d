"""Where the claim script's server time goes, per fire, on a 10,000-entry shard at batch 1,000.

Each line adds one step of the claim script's work to a stripped-down script (reads, meta
decode, meta encode + HSET, ZADDs, fire log, reply with definitions) and reports Redis's own
execution time (INFO commandstats, mean of 60 calls); then the real claim script and the
minimal ZPOPMIN + ZADD floor of ``python -m luasched.bench claim``.
Run: python bench/profile/claim_script.py
"""

from __future__ import annotations

from collections.abc import Callable

from luasched.bench.load import load
from luasched.bench.scenarios.claim import FLOOR
from luasched.bench.servertime import ServerTimer
from luasched.bench.workloads import Job
from luasched.embedded import RedisServer
from luasched.store import Store

CALLS = 60
HEAD = """
local now = tonumber(ARGV[1])
local names = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, 1000)
"""
STEPS = [
    ("ZRANGE the due names", ""),
    ("+ HMGET meta, HMGET defs", """
local metas = redis.call('HMGET', KEYS[2], unpack(names))
local defs = redis.call('HMGET', KEYS[3], unpack(names))"""),
    ("+ cmsgpack.unpack each meta", """
local ms = {}
for i = 1, #names do ms[i] = cmsgpack.unpack(metas[i]) end"""),
    ("+ cmsgpack.pack each meta, HSET", """
local w = {}
for i = 1, #names do w[#w + 1] = names[i]; w[#w + 1] = cmsgpack.pack(ms[i]) end
redis.call('HSET', KEYS[2], unpack(w))"""),
    ("+ ZADD due, ZADD leases", """
local d, l = {}, {}
for i = 1, #names do
  d[#d + 1] = now; d[#d + 1] = names[i]
  l[#l + 1] = now + 15000; l[#l + 1] = string.format('%.0f', now) .. ':' .. names[i]
end
redis.call('ZADD', KEYS[1], unpack(d))
redis.call('ZADD', KEYS[4], unpack(l))"""),
    ("+ XADD one fire-log record", """
local g = {}
for i = 1, #names do g[#g + 1] = names[i]; g[#g + 1] = now end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', 10000, '*', 'f', cmsgpack.pack(g))"""),
    ("+ reply {name, instant, definition}", """
local f = {}
for i = 1, #names do f[#f + 1] = names[i]; f[#f + 1] = now; f[#f + 1] = defs[i] end
return f"""),
]


def mean_us(timer: ServerTimer, call: Callable[[], object]) -> float:
    """The mean server-side duration of ``CALLS`` calls of ``call`` (after one more)."""
    call()
    before = timer.evalsha_us()
    for _ in range(CALLS):
        call()
    return (timer.evalsha_us() - before) / CALLS


def main() -> None:
    with RedisServer() as server:
        client = server.client()
        store = Store(client, prefix="profile")
        now = store.time_ms()
        first = now - now % 60_000 + 120_000
        load(store, (Job(f"claim-{i:07d}", first, 60_000).entry("q") for i in range(10_000)))
        sk = store.keys.shard("q")
        keys = [sk.due, sk.meta, sk.defs, sk.tag + ":scratch-leases", sk.tag + ":scratch-log"]
        timer = ServerTimer(client)
        body = HEAD
        for label, step in STEPS:
            body += step + "\n"
            script = client.register_script(body if "return" in step else body + "return 0")
            us = mean_us(timer, lambda s=script: s(keys=keys, args=[first]))
            print(f"{label:38s} {us / 1000:6.2f} us/fire")
        rounds = iter(range(1, 10 * CALLS))

        def claim() -> None:
            store.claim("q", 1000, now=first + next(rounds) * 60_000)

        print(f"{'the claim script':38s} {mean_us(timer, claim) / 1000:6.2f} us/fire")
        client.zadd(sk.tag + ":floor", {f"claim-{i:07d}": first for i in range(10_000)})
        floor = client.register_script(FLOOR)
        us = mean_us(timer, lambda: floor(keys=[sk.tag + ":floor"], args=[1000]))
        print(f"{'the ZPOPMIN + ZADD floor':38s} {us / 1000:6.2f} us/fire")


if __name__ == "__main__":
    main()
