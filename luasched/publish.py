"""Publishing fires as Celery task messages.

Each message carries the fire's deterministic task id, so a fire published twice (a replica
died between publishing and acking) is recognisable, and headers naming the entry and the
scheduled instant. ``expires`` is absolute (scheduled instant + seconds), so a late
re-publication does not extend a fire's life.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from .entry import Entry
from .store import Fire

log = logging.getLogger(__name__)

HEADER_ENTRY = "luasched_entry"
HEADER_INSTANT = "luasched_instant"
HEADER_NAMESPACE = "luasched_ns"
HEADER_REPLICA = "luasched_replica"


def task_options(fire: Fire, entry: Entry) -> dict[str, Any]:
    """The ``send_task`` options of one fire."""
    routing = entry.routing
    options: dict[str, Any] = {
        "task_id": fire.task_id,
        "queue": entry.queue,
        "headers": {**routing.headers, HEADER_ENTRY: entry.name, HEADER_INSTANT: fire.instant,
                    HEADER_NAMESPACE: fire.namespace},
    }
    if routing.exchange is not None:
        options["exchange"] = routing.exchange
    if routing.routing_key is not None:
        options["routing_key"] = routing.routing_key
    if routing.priority is not None:
        options["priority"] = routing.priority
    expires = entry.expires_seconds()
    if expires is not None:
        options["expires"] = datetime.fromtimestamp(fire.instant / 1000 + expires, tz=timezone.utc)
    return options


class CeleryPublisher:
    """Publishes fires through a Celery app's producer pool.

    ``replica_id``, when given, is sent in the ``luasched_replica`` header.
    """

    def __init__(self, app: Any, replica_id: str | None = None) -> None:
        self.app = app
        self.replica_id = replica_id

    def publish(self, fires: Sequence[Fire]) -> list[Fire]:
        published: list[Fire] = []
        with self.app.producer_or_acquire() as producer:
            for fire in fires:
                entry = fire.entry()
                options = task_options(fire, entry)
                if self.replica_id:
                    options["headers"][HEADER_REPLICA] = self.replica_id
                try:
                    self.app.send_task(entry.task, args=entry.args, kwargs=entry.kwargs,
                                       producer=producer, **options)
                except Exception:  # the broker's errors are many; the lease covers the fire
                    log.exception("publishing fire %s of entry %r failed", fire.fire_id, entry.name)
                    break
                published.append(fire)
        return published
