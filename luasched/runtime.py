"""Assembling a replica from settings (shared by the Celery scheduler and `luasched beat`)."""

from __future__ import annotations

from typing import Any

from .beat import BeatSettings, Observer, Replica
from .config import Settings, connect
from .membership import Membership, membership_from_settings
from .publish import CeleryPublisher
from .store import Store


def build_store(settings: Settings, client: Any | None = None) -> Store:
    """A store for ``settings`` (connecting when no client is given)."""
    return Store(client if client is not None else connect(settings),
                 prefix=settings.key_prefix, cluster=settings.cluster,
                 default_timezone=settings.timezone, lease=settings.lease,
                 buckets=settings.buckets)


def build_membership(settings: Settings, store: Store) -> Membership:
    options: dict[str, Any] = dict(settings.consul) if settings.membership == "consul" else {}
    if settings.membership != "static":
        options.setdefault("ttl", settings.member_ttl)
    return membership_from_settings(settings.membership, client=store.client, keys=store.keys,
                                    **options)


def build_replica(settings: Settings, store: Store, app: Any,
                  max_sleep: float | None = None) -> Replica:
    """A replica of ``store``'s cluster publishing through Celery ``app``, not yet started.

    When ``settings.metrics_port`` is set, it serves Prometheus metrics on that port.
    """
    beat = BeatSettings(batch=settings.batch, max_sleep=max_sleep or settings.max_sleep,
                        rescue_grace=settings.rescue_grace)
    membership = build_membership(settings, store)
    observer: Observer | None = None
    if settings.metrics_port is not None:
        from .metrics import serve

        observer = serve(settings.metrics_port)
    return Replica(store, CeleryPublisher(app, membership.replica_id), membership, beat,
                   observer)
