"""Settings of a replica, read from a Celery app's config, the environment, a file or flags.

Every setting has the same name everywhere: ``redis_url`` is ``luasched_redis_url`` in a
Celery config, ``redis_url`` in a TOML file, ``LUASCHED_REDIS_URL`` in the environment and
``--redis-url`` on the command line (later sources win, in that order).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import urllib.parse

import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel

from .errors import ConfigError


@dataclass(frozen=True)
class Settings:
    """What a replica needs to know. Times are seconds."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_cluster: bool = False  # the URL names one node of a Redis Cluster
    key_prefix: str = "luasched"
    cluster: str = "default"
    timezone: str = "UTC"  # default timezone of cron entries
    membership: str = "redis"  # redis | consul | static
    member_ttl: float = 3.0  # a replica silent this long leaves the ring
    batch: int = 1000
    lease: float = 15.0
    max_sleep: float = 5.0
    rescue_grace: float = 1.0
    buckets: dict[str, int] = field(default_factory=dict)  # queue -> number of buckets
    consul: dict[str, Any] = field(default_factory=dict)  # ConsulMembership options
    metrics_port: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("batch", "metrics_port") and value is not None:
                object.__setattr__(self, f.name, _number(f.name, value, int))
            elif f.name in ("member_ttl", "lease", "max_sleep", "rescue_grace"):
                object.__setattr__(self, f.name, _number(f.name, value, float))
            elif f.name == "redis_cluster" and isinstance(value, str):
                object.__setattr__(self, f.name, value.lower() in ("1", "true", "yes", "on"))
            elif f.name in ("buckets", "consul") and isinstance(value, str):
                object.__setattr__(self, f.name, _json(f.name, value))
        if self.membership not in ("redis", "consul", "static"):
            raise ConfigError(f"membership={self.membership!r}: expected redis, consul or static")
        if self.batch < 1 or self.lease <= 0 or self.max_sleep <= 0 or self.member_ttl <= 0:
            raise ConfigError("batch, lease, max_sleep and member_ttl must be positive")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], prefix: str = "") -> Settings:
        """Settings from ``{prefix + name: value}`` (unknown keys are ignored)."""
        found = {n: values[prefix + n] for n in cls.names() if values.get(prefix + n) is not None}
        return cls(**found)

    def updated(self, values: Mapping[str, Any], prefix: str = "") -> Settings:
        """These settings with the values present in ``values`` replacing theirs."""
        found = {n: values[prefix + n] for n in self.names() if values.get(prefix + n) is not None}
        return replace(self, **found)

    @classmethod
    def load(cls, *, celery_conf: Mapping[str, Any] | None = None, file: str | None = None,
             overrides: Mapping[str, Any] | None = None) -> Settings:
        """Layered settings, later layers winning: defaults, a Celery app's ``luasched_*``
        config (its ``timezone`` is the cron default), a TOML file, ``LUASCHED_*``
        environment variables, then ``overrides`` (command-line flags)."""
        settings = cls()
        if celery_conf is not None:
            settings = settings.updated({"timezone": celery_conf.get("timezone")})
            settings = settings.updated(celery_conf, "luasched_")
        if file:
            settings = settings.updated(_read_toml(file))
        return settings.updated(_environment()).updated(overrides or {})


def _environment() -> dict[str, str]:
    """``LUASCHED_<NAME>`` variables by setting name."""
    return {name: os.environ[f"LUASCHED_{name.upper()}"] for name in Settings.names()
            if f"LUASCHED_{name.upper()}" in os.environ}


def connect(settings: Settings) -> Any:
    """A bytes Redis client for ``settings.redis_url``.

    ``redis://`` / ``rediss://`` / ``unix://`` name one server (a node of a Redis Cluster
    when ``redis_cluster`` is set); ``redis+sentinel://[:password@]host:port[,host:port...]/
    <master name>[/db]`` asks Sentinel for the current master of that name.
    """
    url = settings.redis_url
    try:
        if url.startswith("redis+sentinel://"):
            return _sentinel_master(url)
        if settings.redis_cluster:
            return RedisCluster.from_url(url)
        return redis.Redis.from_url(url)
    except ValueError as exc:
        raise ConfigError(f"redis_url={url!r}: {exc}") from None


def _sentinel_master(url: str) -> redis.Redis:
    parts = urllib.parse.urlsplit(url)
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("expected redis+sentinel://host:port[,host:port]/<master name>[/db]")
    hosts = []
    for item in parts.netloc.rpartition("@")[2].split(","):
        host, _, port = item.rpartition(":")
        hosts.append((host or "127.0.0.1", int(port or 26379)))
    sentinel = Sentinel(hosts, socket_timeout=5)
    return sentinel.master_for(path[0], db=int(path[1]) if len(path) == 2 else 0,
                               password=parts.password or None)


def _number(name: str, value: Any, kind: type) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r}: expected a number") from None


def _json(name: str, value: str) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r}: expected a JSON object") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{name}={value!r}: expected a JSON object")
    return data


def _read_toml(file: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise ConfigError(f"reading {file} needs Python 3.11 (tomllib)") from None
    try:
        data = tomllib.loads(Path(file).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"settings file {file}: {exc}") from None
    return dict(data.get("luasched", data))
