"""What a bench child process needs to know, passed through ``BENCH_*`` environment variables.

luasched's own settings travel separately as ``LUASCHED_*`` variables (read by
:meth:`luasched.config.Settings.load` in the replica).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields

from luasched.keys import Keyspace

_ENV = "BENCH_"


@dataclass(frozen=True)
class ChildConfig:
    """One phase of a bench run, as its child processes see it."""

    redis_url: str  # the bench's Redis: schedule, records
    broker_url: str  # Celery broker
    prefix: str  # luasched key prefix of the phase (records and RedBeat keys live under it)
    queue: str  # the Celery queue (and luasched queue) of the phase
    flush_every: int = 1000  # publications buffered before a write; 1 = write each one
    redbeat_lock_timeout: float = 300.0  # seconds
    max_interval: float = 5.0  # beat_max_loop_interval of RedBeat beats, seconds

    @property
    def records_key(self) -> str:
        return f"{self.prefix}:bench:records"

    @property
    def replicas_key(self) -> str:
        """HASH replica id -> pid, written by each luasched replica child at start."""
        return f"{self.prefix}:bench:replicas"

    @property
    def ready_key(self) -> str:
        """Counter raw publishers increment when they are ready to start."""
        return f"{self.prefix}:bench:ready"

    @property
    def go_key(self) -> str:
        """LIST the parent pushes the start instant (Redis ms) to, once per raw publisher."""
        return f"{self.prefix}:bench:go"

    @property
    def redbeat_prefix(self) -> str:
        return f"{self.prefix}:redbeat:"

    @property
    def namespace(self) -> str:
        """luasched's key base of the phase (default cluster)."""
        return Keyspace(self.prefix).base

    def to_env(self) -> dict[str, str]:
        return {_ENV + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ChildConfig | None:
        """The config in ``env``, or None outside a bench child."""
        if _ENV + "PREFIX" not in env:
            return None
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(_ENV + f.name.upper())
            if raw is not None:
                values[f.name] = raw if f.default is MISSING else type(f.default)(raw)
        return cls(**values)  # type: ignore[arg-type]
