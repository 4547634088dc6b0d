"""`luasched doctor`: checks of a cluster and its Redis, each finding naming cause and fix.

The checklist follows the troubleshooting list of the system luasched replaces: a task not
executed (no replica, paused or finished entries, overdue shards, quarantined records), run
twice (unacknowledged leases, colliding key prefixes), connection failures, bottlenecks
(late fires), timezones and clocks; plus what keeps a schedule safe in Redis (version,
eviction policy, persistence, scripts). Every check only reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import redis

from .clocks import measure_offset, read_clocks
from .config import Settings
from .schedules import Cron
from .status import ClusterStatus, cluster_status
from .store import LoggedFire, Store, StoredEntry

Severity = Literal["ok", "info", "warning", "error"]
PROBLEMS = ("warning", "error")
MIN_VERSION = (6, 2)
CLOCK_TOLERANCE_MS = 1000  # larger offsets are reported
CLOCK_REPORT_AGE_MS = 60_000  # older clock reports (replicas that died) are ignored
LATE_MS = 1000  # a p99 lateness above this is reported
LOG_SAMPLE = 200  # newest fires per shard read for lateness


@dataclass(frozen=True)
class Finding:
    """What one check found: its severity, the cause, and the fix (empty when all is well)."""

    check: str
    severity: Severity
    cause: str
    fix: str = ""

    @property
    def problem(self) -> bool:
        return self.severity in PROBLEMS


class Context:
    """What the checks read, each read at most once."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.client: Any = store.client

    @cached_property
    def info(self) -> dict[str, Any]:
        """INFO of the server (of the first node, on a Redis Cluster)."""
        return _first_node(self.client.info())

    @cached_property
    def status(self) -> ClusterStatus:
        return cluster_status(self.store)

    @cached_property
    def entries(self) -> list[StoredEntry]:
        return list(self.store.entries())

    @property
    def grace_ms(self) -> int:
        return round(self.settings.rescue_grace * 1000)


Check = Callable[[Context], Iterator[Finding]]


def run(store: Store, settings: Settings) -> list[Finding]:
    """Every check's findings; a Redis that cannot be reached is one error finding."""
    try:
        store.client.ping()
    except redis.RedisError as exc:
        return [Finding("connection", "error", f"cannot reach Redis at {settings.redis_url}: {exc}",
                        "check redis_url (--redis-url, LUASCHED_REDIS_URL), that Redis runs, "
                        "and that this host can reach it (network, firewall, password, TLS)")]
    context = Context(store, settings)
    findings: list[Finding] = []
    for check in CHECKS:
        name = check.__name__.removeprefix("check_").replace("_", " ")
        try:
            findings += list(check(context))
        except redis.RedisError as exc:
            findings.append(Finding(name, "warning", f"could not check: {exc}",
                                    "allow this command on the server (managed Redis may "
                                    "forbid CONFIG), or check by hand"))
    return findings


# -- Redis ---------------------------------------------------------------------------------

def version_finding(version: str) -> Finding:
    """Whether a Redis (or Valkey) version can run the scripts."""
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < MIN_VERSION:
        return Finding("redis version", "error", f"Redis {version} is older than 6.2: the "
                       "scripts use ZRANGE ... BYSCORE LIMIT, which fails there",
                       "upgrade Redis to 6.2 or later (7.x or Valkey recommended)")
    return Finding("redis version", "ok", f"Redis {version}")


def check_redis_version(ctx: Context) -> Iterator[Finding]:
    yield version_finding(str(ctx.info.get("redis_version", "0")))


def check_eviction(ctx: Context) -> Iterator[Finding]:
    policy = str(ctx.info.get("maxmemory_policy", "noeviction"))
    if policy.startswith("allkeys-"):
        yield Finding("eviction", "error", f"maxmemory-policy is {policy}: when Redis reaches "
                      "maxmemory it evicts any key, including schedule definitions, run state "
                      "and leases, so entries silently vanish or fire again",
                      "CONFIG SET maxmemory-policy noeviction (and in redis.conf); volatile-* "
                      "policies are safe too, as schedule keys have no TTL")
    else:
        yield Finding("eviction", "ok", f"maxmemory-policy is {policy}")


def check_persistence(ctx: Context) -> Iterator[Finding]:
    persistence = _first_node(ctx.client.info("persistence"))
    aof = int(persistence.get("aof_enabled", 0)) == 1
    save = _config(ctx.client, "save")
    if aof:
        yield Finding("persistence", "ok", "AOF is on")
    elif save:
        yield Finding("persistence", "warning", f"RDB snapshots only (save {save}): a crash "
                      "loses the changes since the last snapshot, so fires may repeat and "
                      "recent schedule edits vanish", "CONFIG SET appendonly yes "
                      "(appendfsync everysec), and set it in redis.conf")
    else:
        yield Finding("persistence", "warning", "no AOF and no RDB snapshots: a Redis restart "
                      "loses the whole schedule and its run state",
                      "CONFIG SET appendonly yes (appendfsync everysec), and set it in redis.conf")


def check_scripts(ctx: Context) -> Iterator[Finding]:
    shas = ctx.store.scripts.shas()
    loaded = ctx.client.script_exists(*shas.values())
    missing = sorted(name for name, ok in zip(shas, loaded) if not ok)
    if missing:
        yield Finding("scripts", "info", f"scripts not in Redis' script cache: "
                      f"{', '.join(missing)} (Redis restarted, SCRIPT FLUSH ran, or no replica "
                      "ran yet); replicas load them again on first use",
                      "nothing to do, unless Redis restarted without persistence: then restart "
                      "beat so that the static schedule is synced again")
    else:
        yield Finding("scripts", "ok", f"all {len(shas)} scripts loaded")


def check_key_prefixes(ctx: Context) -> Iterator[Finding]:
    bases = cluster_bases(ctx.client)
    nested = [(a, b) for a in bases for b in bases if b.startswith(a + ":")]
    for outer, inner in nested:
        yield Finding("key prefixes", "warning", f"the keys of cluster base {inner!r} lie "
                      f"inside those of {outer!r}: a pattern such as '{outer}:*' (cleanup "
                      "scripts, SCAN-based tools, RedBeat-style key reuse) touches both "
                      "deployments", "give each deployment a key_prefix that is not an "
                      "extension of another's (e.g. 'luasched-billing', not 'luasched:billing')")
    if not nested:
        yield Finding("key prefixes", "ok", f"{len(bases)} cluster(s) on this Redis, no nesting")


def cluster_bases(client: Any) -> list[str]:
    """The ``<prefix>:<cluster>`` bases found on the server (from their cluster-wide keys)."""
    bases = set()
    for suffix in (":shards", ":index", ":members"):
        for key in client.scan_iter(match="*" + suffix, count=1000):
            text = key.decode(errors="replace")
            if not text.startswith("{"):
                bases.add(text.removesuffix(suffix))
    return sorted(bases)


# -- replicas ------------------------------------------------------------------------------

def check_replicas(ctx: Context) -> Iterator[Finding]:
    if ctx.settings.membership != "redis":
        yield Finding("replicas", "info", f"membership is {ctx.settings.membership!r}: live "
                      "replicas are not listed in Redis and are not checked here")
        return
    members = ctx.status.members
    if not members:
        yield Finding("replicas", "error", f"no beat replica of cluster {ctx.store.keys.cluster!r}"
                      " is alive: nothing fires", "start one or more: celery -A proj beat -S "
                      "luasched.celery:Scheduler, or luasched beat -A proj (same --key-prefix "
                      "and --cluster as here)")
    else:
        yield Finding("replicas", "ok", f"{len(members)} live: {', '.join(sorted(members))}")


def check_clocks(ctx: Context) -> Iterator[Finding]:
    here = measure_offset(ctx.store)
    offsets = [(f"replica {c.replica}", c.offset_ms) for c in read_clocks(ctx.store)
               if c.age_ms(ctx.status.now) <= CLOCK_REPORT_AGE_MS]
    offsets.append(("this host", here))
    skewed = [(who, ms) for who, ms in offsets if abs(ms) > CLOCK_TOLERANCE_MS]
    for who, ms in skewed:
        yield Finding("clocks", "warning", f"the clock of {who} is {abs(ms) / 1000:.1f} s "
                      f"{'ahead of' if ms > 0 else 'behind'} Redis TIME. Due times come from "
                      "Redis, but workers judge a fire's expires by their own clocks (a late "
                      "clock runs expired fires, an early one drops fresh ones) and logs are "
                      "stamped with them", "synchronise the host's clock (chrony or ntpd) with "
                      "the same time source as the Redis host")
    if not skewed:
        yield Finding("clocks", "ok", f"{len(offsets)} clock(s) within "
                      f"{CLOCK_TOLERANCE_MS} ms of Redis TIME")


# -- the schedule ---------------------------------------------------------------------------

def check_overdue_shards(ctx: Context) -> Iterator[Finding]:
    status = ctx.status
    late = [h for h in status.heads if h.due_lag_ms(status.now) > ctx.grace_ms]
    for head in late:
        who = (f"its owner {head.owner} is not claiming it and no other replica rescued it"
               if head.owner else "no live replica owns it")
        yield Finding("overdue shards", "error", f"shard {head.shard!r} has entries due "
                      f"{head.due_lag_ms(status.now) / 1000:.1f} s ago: {who}",
                      "check that replicas run and reach Redis and the broker (their logs "
                      "show back-offs); a replica's fires are rescued by the others after "
                      f"rescue_grace ({ctx.settings.rescue_grace:g} s)")
    if not late:
        yield Finding("overdue shards", "ok", f"{len(status.heads)} shard(s), none overdue")


def check_expired_leases(ctx: Context) -> Iterator[Finding]:
    status = ctx.status
    stuck = [h for h in status.heads if h.lease_lag_ms(status.now) > ctx.grace_ms]
    for head in stuck:
        yield Finding("expired leases", "warning", f"shard {head.shard!r} holds fires claimed "
                      f"but not acknowledged, expired {head.lease_lag_ms(status.now) / 1000:.1f}"
                      " s ago: a replica died between claim and publish, or publishing to the "
                      "broker fails", "check the broker connection in the replicas' logs; the "
                      "fires are re-published with the same task id (use OnceTask on workers "
                      "to run them at most once)")
    if not stuck:
        yield Finding("expired leases", "ok", "no unacknowledged fire past its lease")


def check_quarantine(ctx: Context) -> Iterator[Finding]:
    count = 0
    for shard in sorted(ctx.store.shards()):
        for name, reason in sorted(ctx.store.quarantined(shard).items()):
            count += 1
            yield Finding("quarantine", "error", f"entry {name!r} of shard {shard!r} was set "
                          f"aside and no longer fires: {reason}", "re-create it (luasched add, "
                          "or restart beat for a static entry); its old record is kept in "
                          f"{ctx.store.keys.shard(shard).quarantine}")
    if not count:
        yield Finding("quarantine", "ok", "no quarantined entry")


def check_idle_entries(ctx: Context) -> Iterator[Finding]:
    paused = sorted(s.entry.name for s in ctx.entries if s.state.paused)
    finished = sorted(s.entry.name for s in ctx.entries
                      if not s.state.paused and not s.state.next_fire)
    if paused:
        yield Finding("idle entries", "info", f"paused, so not fired: {', '.join(paused)}",
                      "luasched resume NAME")
    if finished:
        yield Finding("idle entries", "info", f"no instant left (ended, max runs reached, or "
                      f"a past once): {', '.join(finished)}", "luasched update NAME with a new "
                      "schedule, --end or --max-runs; or luasched remove NAME")
    if not paused and not finished:
        yield Finding("idle entries", "ok", f"{len(ctx.entries)} entries, all scheduled")


def check_lateness(ctx: Context) -> Iterator[Finding]:
    fires: list[LoggedFire] = []
    for head in ctx.status.heads:
        fires += [f for f in ctx.store.fire_log_of(head.shard, LOG_SAMPLE) if f.kind == "claim"]
    if not fires:
        yield Finding("lateness", "ok", "no fires logged yet")
        return
    lateness = sorted(f.lateness_ms for f in fires)
    p99 = lateness[min(len(lateness) - 1, int(0.99 * len(lateness)))]
    worst = max(fires, key=lambda f: f.lateness_ms)
    if p99 > LATE_MS:
        yield Finding("lateness", "warning", f"of the last {len(fires)} fires, p99 lateness is "
                      f"{p99 / 1000:.1f} s (worst: {worst.entry!r} on shard {worst.shard!r}, "
                      f"{worst.lateness_ms / 1000:.1f} s): replicas were down or busy, Redis "
                      "was slow, or a hot queue waits behind one replica",
                      "run more replicas; split a hot queue into buckets (buckets = "
                      "{\"queue\": n}); misfires after an outage follow each entry's policy")
    else:
        yield Finding("lateness", "ok", f"p99 lateness {p99} ms over the last {len(fires)} fires")


def check_timezones(ctx: Context) -> Iterator[Finding]:
    zones = sorted({s.entry.schedule.timezone or ctx.settings.timezone for s in ctx.entries
                    if isinstance(s.entry.schedule, Cron)})
    if zones:
        yield Finding("timezones", "info", f"cron entries run in {', '.join(zones)} (per entry, "
                      "DST-correct; host timezones play no part)",
                      "set a cron entry's zone with --tz, or the default with the timezone "
                      "setting (the Celery app's timezone)")


CHECKS: list[Check] = [
    check_redis_version, check_eviction, check_persistence, check_scripts, check_key_prefixes,
    check_replicas, check_clocks, check_overdue_shards, check_expired_leases, check_quarantine,
    check_idle_entries, check_lateness, check_timezones,
]


def _config(client: Any, name: str) -> str:
    """One CONFIG GET value as text (of the first node, on a Redis Cluster)."""
    reply = {_text(k): v for k, v in _first_node(client.config_get(name)).items()}
    return _text(reply.get(name, b""))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _first_node(reply: Any) -> dict[str, Any]:
    """A reply of a single server, or the first node's reply of a Redis Cluster."""
    if reply and all(isinstance(v, dict) for v in reply.values()):
        return dict(next(iter(reply.values())))
    return dict(reply)
