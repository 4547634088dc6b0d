"""Redis's own execution time of script calls, without network or client time.

Totals come from the EVALSHA counters of ``INFO commandstats`` (microseconds spent in
EVALSHA, commands called by the scripts included), read before and after a series of calls:
counting costs nothing, so it does not disturb what it measures. Only this process may run
scripts on the Redis meanwhile (true of the embedded server).

The longest single calls come from SLOWLOG with ``slowlog-log-slower-than`` set to
``slow_us`` while the timer is open (restored on close). The threshold must stay well above
zero: Redis 7 also logs the commands a script calls, so logging everything would fill the
log with them and slow the scripts down. On a Redis that refuses CONFIG (a managed service)
the longest calls are unavailable.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import redis

_SETTINGS = ("slowlog-log-slower-than", "slowlog-max-len")
_LOG_LEN = 1024


class ServerTimer:
    """Server-side time of EVALSHA calls."""

    def __init__(self, client: Any, slow_us: int = 1000) -> None:
        self.client = client
        self.slow_us = slow_us
        self.slowlog = True
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> ServerTimer:
        try:
            for name in _SETTINGS:
                self._saved.update(self.client.config_get(name))
            self.client.config_set("slowlog-max-len", _LOG_LEN)
            self.client.config_set("slowlog-log-slower-than", self.slow_us)
        except redis.ResponseError:
            self.slowlog = False
        self.reset()
        return self

    def evalsha_us(self) -> int:
        """Microseconds Redis has spent in EVALSHA since it started."""
        stats = self.client.info("commandstats").get("cmdstat_evalsha", {})
        return int(stats.get("usec", 0))

    def reset(self) -> None:
        """Forget the calls logged so far."""
        if self.slowlog:
            self.client.slowlog_reset()

    def longest_us(self, sha: str) -> int | None:
        """The longest call of script ``sha`` logged since the last reset; 0 when none took
        ``slow_us`` or more; None without SLOWLOG."""
        if not self.slowlog:
            return None
        prefix = f"EVALSHA {sha} ".encode()
        return max((e["duration"] for e in self.client.slowlog_get(_LOG_LEN)
                    if bytes(e["command"]).startswith(prefix)), default=0)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.slowlog:
            for name, value in self._saved.items():
                self.client.config_set(name, value)
            self.client.slowlog_reset()
