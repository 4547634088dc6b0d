"""Membership backends: redis (default), consul (py-consul), static."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ..keys import Keyspace
from .base import Membership, StaticMembership, new_replica_id

__all__ = ["Membership", "StaticMembership", "membership_from_settings", "new_replica_id"]

KINDS = ("redis", "consul", "static")


def membership_from_settings(kind: str, *, client: Any, keys: Keyspace,
                             replica_id: str | None = None, **options: Any) -> Membership:
    """The membership backend ``kind`` ("redis", "consul" or "static") with its ``options``.

    ``client`` is the Redis client of the store (used by "redis" only); the Consul service
    defaults to ``luasched-<cluster>``.
    """
    if kind == "redis":
        from .redis import RedisMembership

        return _build(kind, RedisMembership, options, client, keys, replica_id=replica_id)
    if kind == "consul":
        try:
            from .consul import ConsulMembership
        except ImportError as exc:
            if exc.name not in ("consul", "requests"):
                raise
            raise ConfigError("membership 'consul' needs py-consul, which is not installed: "
                              "pip install luasched[consul]") from exc
        return _build(kind, ConsulMembership, options, keys.cluster, replica_id=replica_id)
    if kind == "static":
        return _build(kind, StaticMembership, options, replica_id)
    raise ConfigError(f"membership {kind!r} is unknown: use one of {', '.join(KINDS)}")


def _build(kind: str, cls: Callable[..., Membership], options: dict[str, Any], *args: Any,
           **kwargs: Any) -> Membership:
    accepted = set(inspect.signature(cls).parameters) - {"client", "keys", "cluster", "replica_id"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(f"membership {kind!r} has no option {', '.join(unknown)}: "
                          f"it takes {', '.join(sorted(accepted)) or 'none'}")
    return cls(*args, **kwargs, **options)
