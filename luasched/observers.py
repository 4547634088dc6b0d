"""Several replica observers as one (the replica takes a single observer)."""

from __future__ import annotations

from collections.abc import Sequence

from .beat import Observer
from .store import Claim, Fire


class Fanout(Observer):
    """Calls each observer in turn."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.observers = list(observers)

    def claimed(self, shard: str, claim: Claim, seconds: float) -> None:
        for observer in self.observers:
            observer.claimed(shard, claim, seconds)

    def published(self, fires: Sequence[Fire], now: int) -> None:
        for observer in self.observers:
            observer.published(fires, now)

    def reclaimed(self, shard: str, count: int) -> None:
        for observer in self.observers:
            observer.reclaimed(shard, count)

    def ownership(self, members: Sequence[str], owned: set[str]) -> None:
        for observer in self.observers:
            observer.ownership(members, owned)
