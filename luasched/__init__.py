"""luasched: a Redis-native, Lua-scripted distributed scheduler for periodic tasks.

The schedule lives in Redis and every change of it is one atomic Lua script, so any number
of beat replicas run at once with no leader and no duplicate fires.
"""

from .entry import Entry, Routing
from .errors import ConfigError, EntryNotFound, LuaschedError, ScheduleError, SchemaVersionError
from .schedules import Cron, Every, Once
from .store import Claim, Fire, Store

__all__ = ["Claim", "ConfigError", "Cron", "Entry", "EntryNotFound", "Every", "Fire",
           "LuaschedError", "Once", "Routing", "ScheduleError", "SchemaVersionError", "Store"]
