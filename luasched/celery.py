"""The Celery drop-in: ``celery -A proj beat -S luasched.celery:Scheduler``.

Start it on as many hosts as you like; the replicas split the schedule and never fire a
fire twice. ``beat_schedule`` is synced into Redis as the cluster's static entries at start
(validated first: one bad entry stops beat and nothing is written). Settings are the
``luasched_*`` keys of the app's config (see :class:`luasched.config.Settings`).

``OnceTask`` is an opt-in task base class for workers: a fire delivered twice runs once.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import redis
from celery import Task
from celery import beat as celery_beat
from celery import schedules as celery_schedules

from .beat import Replica
from .config import Settings, connect
from .entry import Entry, Routing
from .errors import LuaschedError, ScheduleError
from .publish import HEADER_NAMESPACE
from .runtime import build_replica, build_store
from .schedules import Cron, Every, Once

log = logging.getLogger(__name__)

# Entry fields a beat_schedule item may set under the "luasched" key.
_ENTRY_OPTIONS = ("start", "end", "max_runs", "paused", "jitter", "misfire", "grace",
                  "max_catchup", "scope")


class BeatScheduleError(LuaschedError):
    """Raised when a ``beat_schedule`` item cannot become an entry (beat does not start)."""

    def __init__(self, name: str, cause: Exception) -> None:
        super().__init__(f"beat_schedule entry {name!r}: {cause}; fix the entry and restart beat")


def crontab_expression(cron: celery_schedules.crontab) -> str:
    """A Celery ``crontab`` (minute, hour, day_of_week, day_of_month, month_of_year) as a
    Unix-order cron expression (minute hour day-of-month month day-of-week)."""
    return " ".join(str(part) for part in (cron._orig_minute, cron._orig_hour,
                                            cron._orig_day_of_month, cron._orig_month_of_year,
                                            cron._orig_day_of_week))


def to_schedule(value: Any, timezone: str) -> Every | Cron | Once:
    """A luasched schedule from what ``beat_schedule`` accepts."""
    if isinstance(value, (Every, Cron, Once)):
        return value
    if isinstance(value, (timedelta, int, float)) and not isinstance(value, bool):
        return Every(value)
    if isinstance(value, celery_schedules.crontab):
        tz = getattr(value, "tz", None)
        return Cron(crontab_expression(value), str(tz) if tz is not None else timezone)
    if type(value) is celery_schedules.schedule:
        return Every(value.run_every)
    raise ScheduleError("schedule", value, "unsupported schedule type; use a timedelta, seconds, "
                        "crontab(), or luasched Every/Cron/Once")


def entry_from_beat(name: str, item: Mapping[str, Any], timezone: str) -> Entry:
    """One ``beat_schedule`` item as a static entry; raises BeatScheduleError naming it."""
    try:
        options = dict(item.get("options") or {})
        extra = dict(item.get("luasched") or {})
        unknown = set(extra) - set(_ENTRY_OPTIONS)
        if unknown:
            raise ScheduleError("luasched", sorted(unknown), f"unknown options; use {_ENTRY_OPTIONS}")
        if "task" not in item:
            raise ScheduleError("task", None, "missing")
        return Entry(
            name=name, task=item["task"], schedule=to_schedule(item.get("schedule"), timezone),
            args=tuple(item.get("args") or ()), kwargs=dict(item.get("kwargs") or {}),
            queue=options.get("queue") or "celery",
            routing=Routing(options.get("exchange"), options.get("routing_key"),
                            options.get("priority"), dict(options.get("headers") or {})),
            expires=options.get("expires"), static=True, **extra)
    except (LuaschedError, TypeError) as exc:
        raise BeatScheduleError(name, exc) from None


def entries_from_app(app: Any, settings: Settings) -> list[Entry]:
    """Every ``beat_schedule`` item of the app as an entry, all validated before any write."""
    default_queue = app.conf.get("task_default_queue") or "celery"
    entries = []
    for name, item in (app.conf.beat_schedule or {}).items():
        entry = entry_from_beat(name, item, settings.timezone)
        if not (item.get("options") or {}).get("queue"):
            entry = replace(entry, queue=default_queue)
        entries.append(entry)
    return entries


class Scheduler(celery_beat.Scheduler):  # type: ignore[misc]
    """A Celery beat scheduler whose schedule lives in Redis and that runs on many hosts."""

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self.settings = Settings.load(celery_conf=app.conf)
        self.replica: Replica | None = None
        self.client: Any = None
        self._stop_requested = False
        super().__init__(app, *args, **kwargs)

    def setup_schedule(self) -> None:
        entries = entries_from_app(self.app, self.settings)
        store = build_store(self.settings)
        self.client = store.client
        listed, removed = store.sync_static(entries)
        log.info("luasched: %d static entries synced, %d removed", listed, removed)
        self.replica = build_replica(self.settings, store, self.app,
                                     max_sleep=float(self.max_interval))
        self.replica.start()
        self._install_drain_handlers()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One replica step, then sleep until the next due instant or a change.

        Returns 0 so that Celery's service loop does not add a sleep of its own (which a
        change announcement could not cut short).
        """
        assert self.replica is not None
        self.replica.wait(self.replica.step())
        if self._stop_requested:
            raise SystemExit(0)
        return 0.0

    def close(self) -> None:
        if self.replica is not None:
            self.replica.close()
            self.replica = None
        if self.client is not None:
            self.client.close()
            self.client = None

    def sync(self) -> None:
        """Nothing to do: every change is already in Redis."""

    @property
    def info(self) -> str:
        s = self.settings
        lines = [f"    . luasched -> {_safe_url(s.redis_url)} prefix={s.key_prefix} "
                 f"cluster={s.cluster} membership={s.membership}"]
        for name, item in sorted((self.app.conf.beat_schedule or {}).items()):
            lines.append(f"    . {name}: {item.get('task')} {item.get('schedule')}")
        return "\n".join(lines)

    def _install_drain_handlers(self) -> None:
        """On SIGTERM/SIGINT: stop claiming, publish and ack what was claimed, leave the
        ring, exit (Celery's own handler would exit in the middle of a step)."""
        if threading.current_thread() is not threading.main_thread():
            return

        def drain(signum: int, frame: Any) -> None:  # no I/O here: flags only
            self._stop_requested = True
            if self.replica is not None:
                self.replica.stop()

        signal.signal(signal.SIGTERM, drain)
        signal.signal(signal.SIGINT, drain)


def _safe_url(url: str) -> str:
    """The URL without its password."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


class OnceTask(Task):  # type: ignore[misc]
    """Task base class that runs a luasched fire at most once per worker fleet.

    A fire re-published after its lease expired carries the same task id; the first
    delivery records the id in Redis (``SET NX`` with a TTL), later ones are dropped.
    Uses ``luasched_redis_url`` from the app's config.
    """

    abstract = True
    once_ttl = 24 * 3600
    _guard_client: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        namespace = _header(self.request, HEADER_NAMESPACE)
        if namespace and self.request.id and not self._first_delivery(namespace, self.request.id):
            log.warning("luasched: dropping second delivery of fire %s (%s)", self.request.id, self.name)
            return None
        return super().__call__(*args, **kwargs)

    def _first_delivery(self, namespace: str, task_id: str) -> bool:
        try:
            if OnceTask._guard_client is None:
                OnceTask._guard_client = connect(Settings.load(celery_conf=self.app.conf))
            return bool(OnceTask._guard_client.set(f"{namespace}:ran:{task_id}", 1, nx=True,
                                                   ex=self.once_ttl))
        except redis.RedisError:
            log.warning("luasched: once-guard unavailable, running %s anyway", task_id, exc_info=True)
            return True


def _header(request: Any, name: str) -> Any:
    value = getattr(request, name, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(name)
    return value
