"""Server-side durations of script calls, from SLOWLOG with every command logged.

While a :class:`ServerTimer` is open, ``slowlog-log-slower-than`` is 0 and
``slowlog-max-len`` large enough for the calls measured, so each EVALSHA leaves its
execution time (microseconds, measured by Redis around the command, without network or
client time). The previous settings are restored on close. On a Redis that refuses CONFIG
(a managed service), the timer is unavailable and only client-side figures are reported.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import redis

_SETTINGS = ("slowlog-log-slower-than", "slowlog-max-len")


class ServerTimer:
    """Collects server-side durations of EVALSHA calls, by script SHA."""

    def __init__(self, client: Any, max_calls: int) -> None:
        self.client = client
        self.max_calls = max_calls
        self.available = True
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> ServerTimer:
        try:
            for name in _SETTINGS:
                self._saved.update(self.client.config_get(name))
            self.client.config_set("slowlog-max-len", self.max_calls)
            self.client.config_set("slowlog-log-slower-than", 0)
        except redis.ResponseError:
            self.available = False
        self.reset()
        return self

    def reset(self) -> None:
        """Forget what was logged so far."""
        if self.available:
            self.client.slowlog_reset()

    def durations_us(self, sha: str) -> list[int] | None:
        """Durations of the EVALSHA calls of ``sha`` since the last reset (None: unavailable)."""
        if not self.available:
            return None
        prefix = f"EVALSHA {sha} ".encode()
        return [e["duration"] for e in self.client.slowlog_get(self.max_calls)
                if bytes(e["command"]).startswith(prefix)]

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.available:
            for name, value in self._saved.items():
                self.client.config_set(name, value)
            self.client.slowlog_reset()
