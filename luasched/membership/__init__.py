"""Membership backends: redis (default), consul (py-consul), static."""

from .base import Membership, StaticMembership, new_replica_id

__all__ = ["Membership", "StaticMembership", "new_replica_id"]
