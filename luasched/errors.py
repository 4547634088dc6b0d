"""The luasched error hierarchy. Every message names the cause and, where there is one, the fix."""

from __future__ import annotations


class LuaschedError(Exception):
    """Base class of every error raised by luasched."""


class ConfigError(LuaschedError):
    """Raised when a setting (URL, prefix, cluster name, batch size...) is invalid."""


class ScheduleError(LuaschedError, ValueError):
    """Raised when an entry or schedule definition is invalid; nothing is written.

    ``field`` names the offending field and ``value`` holds what was given.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


class EntryNotFound(LuaschedError, KeyError):
    """Raised when an operation names an entry that the schedule does not hold."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"no entry named {self.name!r} in this cluster; `luasched list` shows the entries"


class SchemaVersionError(LuaschedError):
    """Raised when a stored record carries a schema version this code cannot read."""

    def __init__(self, found: object, expected: int) -> None:
        self.found = found
        self.expected = expected
        super().__init__(
            f"stored record has schema version {found!r}, this luasched reads version {expected}; "
            "upgrade luasched on this host"
        )


class CorruptRecord(LuaschedError):
    """Raised when a stored record cannot be decoded (it is quarantined by the store)."""


class ScriptError(LuaschedError):
    """Raised when a Lua script file is malformed (missing include, include cycle, key count)."""


class StoreUnavailable(LuaschedError):
    """Raised when Redis cannot be reached; replicas back off and retry."""
