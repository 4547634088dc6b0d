"""The membership contract: which replicas of a cluster are alive right now."""

from __future__ import annotations

import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable


def new_replica_id() -> str:
    """``<host>:<pid>:<random>``: unique per process start, readable in `luasched ring`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Membership(ABC):
    """Live replicas of one cluster, as one replica sees them.

    Contract:
    - ``join()`` makes this replica visible to the others; it is called once before the
      first ``members()``. ``leave()`` removes it at once (a clean stop); a replica that
      dies without leaving drops out after the backend's TTL.
    - ``members()`` heartbeats when one is due and returns the live replica ids, sorted.
      It is called on every loop iteration, so it must be cheap between heartbeats (cache).
      The list always contains this replica while it is joined.
    - ``next_heartbeat_in()`` is the most a replica may sleep before calling ``members()``
      again without risking its own expiry.
    - ``on_change`` (set by the replica) is called from any thread when the backend learns
      that the member list changed, so a sleeping replica wakes at once.
    """

    replica_id: str

    def __init__(self, replica_id: str | None = None) -> None:
        self.replica_id = replica_id or new_replica_id()
        self.on_change: Callable[[], None] | None = None

    @abstractmethod
    def join(self) -> None: ...

    @abstractmethod
    def members(self) -> list[str]: ...

    @abstractmethod
    def leave(self) -> None: ...

    @abstractmethod
    def next_heartbeat_in(self) -> float: ...

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


class StaticMembership(Membership):
    """One replica that owns everything (no heartbeat, no peers)."""

    def join(self) -> None:
        pass

    def members(self) -> list[str]:
        return [self.replica_id]

    def leave(self) -> None:
        pass

    def next_heartbeat_in(self) -> float:
        return float("inf")
