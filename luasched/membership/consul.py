"""Membership in Consul (py-consul): each replica is an instance of one service with a TTL check.

A replica registers the service (default ``luasched-<cluster>``) under its replica id, with a
TTL check that ``members()`` passes every ``heartbeat``. A replica that stops passing turns
critical after ``ttl``, drops out of the passing instances, and is deregistered by Consul after
``deregister_after``. A background thread follows the passing instances with blocking queries
and wakes the replica when they change.

Address, token and TLS come from the arguments, else from the usual Consul environment:
``CONSUL_HTTP_ADDR`` (``host:port`` or ``scheme://host:port``), ``CONSUL_HTTP_TOKEN``,
``CONSUL_HTTP_SSL``, ``CONSUL_HTTP_SSL_VERIFY``, ``CONSUL_CACERT``, ``CONSUL_CLIENT_CERT`` and
``CONSUL_CLIENT_KEY``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import consul
import requests

from ..errors import ConfigError, LuaschedError
from ..keys import DEFAULT_CLUSTER
from .base import Membership

log = logging.getLogger(__name__)

WATCH_WAIT = 10.0  # seconds a blocking query waits for a change before it returns unchanged
_ERRORS = (consul.ConsulException, requests.RequestException)
_TRUE = ("1", "t", "true")
_FALSE = ("0", "f", "false")


def _flag(name: str, value: str) -> bool:
    """A boolean environment variable, read as Consul reads it (Go's ParseBool)."""
    if value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise ConfigError(f"{name}={value!r}: use true or false")


def _duration(seconds: float) -> str:
    """Seconds as a Go duration, the form Consul takes."""
    return f"{round(seconds * 1000)}ms"


@dataclass(frozen=True)
class ConsulSettings:
    """Where and how to reach the Consul agent."""

    host: str
    port: int
    scheme: str
    verify: bool | str
    cert: tuple[str, str] | None
    token: str | None

    @classmethod
    def resolve(cls, address: str | None = None, *, token: str | None = None,
                ssl: bool | None = None, ssl_verify: bool | None = None,
                cacert: str | None = None, client_cert: str | None = None,
                client_key: str | None = None) -> ConsulSettings:
        """Arguments win over the environment; the default agent is ``127.0.0.1:8500``."""
        env = os.environ
        address = address or env.get("CONSUL_HTTP_ADDR") or "127.0.0.1:8500"
        parsed = urllib.parse.urlsplit(address if "//" in address else f"//{address}")
        try:
            port = parsed.port or 8500
        except ValueError:
            port = 0
        if parsed.scheme not in ("", "http", "https") or not parsed.hostname or not port:
            raise ConfigError(f"Consul address {address!r}: use host:port or http(s)://host:port "
                              "(CONSUL_HTTP_ADDR)")
        if ssl is None and env.get("CONSUL_HTTP_SSL"):
            ssl = _flag("CONSUL_HTTP_SSL", env["CONSUL_HTTP_SSL"])
        scheme = (parsed.scheme or "http") if ssl is None else ("https" if ssl else "http")
        if ssl_verify is None and env.get("CONSUL_HTTP_SSL_VERIFY"):
            ssl_verify = _flag("CONSUL_HTTP_SSL_VERIFY", env["CONSUL_HTTP_SSL_VERIFY"])
        cacert = cacert or env.get("CONSUL_CACERT")
        verify: bool | str = ssl_verify is not False
        if verify and cacert:
            verify = cacert  # requests verifies against this CA bundle
        client_cert = client_cert or env.get("CONSUL_CLIENT_CERT")
        client_key = client_key or env.get("CONSUL_CLIENT_KEY")
        if bool(client_cert) != bool(client_key):
            raise ConfigError("a Consul client certificate needs both CONSUL_CLIENT_CERT and "
                              "CONSUL_CLIENT_KEY (or client_cert and client_key)")
        cert = (client_cert, client_key) if client_cert and client_key else None
        token = token or env.get("CONSUL_HTTP_TOKEN") or None
        return cls(parsed.hostname, port, scheme, verify, cert, token)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def client(self, timeout: float) -> consul.Consul:
        """A py-consul client; ``timeout`` bounds each request (plus the wait of a blocking one)."""
        client = consul.Consul(host=self.host, port=self.port, scheme=self.scheme,
                               verify=self.verify, cert=self.cert, token=self.token,
                               connections_timeout=timeout)
        client.token = self.token  # py-consul lets CONSUL_HTTP_TOKEN override its argument
        return client


def _close(client: consul.Consul) -> None:
    client.http.session.close()  # py-consul's http.close() leaves the requests session open


def _next_index(old: int, new: str) -> int:
    """The index of the next blocking query: reset when it went backwards, never below 1."""
    index = int(new)
    return 0 if index < old else max(index, 1)


class ConsulMembership(Membership):
    """Replicas as passing instances of one Consul service."""

    def __init__(self, cluster: str = DEFAULT_CLUSTER, *, service: str | None = None,
                 ttl: float = 10.0, heartbeat: float | None = None,
                 deregister_after: float = 60.0, address: str | None = None,
                 token: str | None = None, ssl: bool | None = None,
                 ssl_verify: bool | None = None, cacert: str | None = None,
                 client_cert: str | None = None, client_key: str | None = None,
                 replica_id: str | None = None) -> None:
        super().__init__(replica_id)
        heartbeat = ttl / 3 if heartbeat is None else heartbeat
        if not 0 < heartbeat < ttl:
            raise ConfigError(f"ttl={ttl!r}, heartbeat={heartbeat!r}: use 0 < heartbeat < ttl "
                              "(seconds; heartbeat defaults to ttl / 3)")
        self.service = service or f"luasched-{cluster}"
        self.ttl = ttl
        self.heartbeat = heartbeat
        self.deregister_after = deregister_after
        self.settings = ConsulSettings.resolve(
            address, token=token, ssl=ssl, ssl_verify=ssl_verify, cacert=cacert,
            client_cert=client_cert, client_key=client_key)
        self.check_id = f"service:{self.replica_id}"
        self._agent: consul.Consul | None = None  # registration and heartbeats
        self._watcher: consul.Consul | None = None  # blocking queries, from the watch thread
        self._members: list[str] = []
        self._index = 0
        self._next_beat = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def join(self) -> None:
        """Register this replica (passing at once), read the passing instances, start watching."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._agent = self.settings.client(timeout=self.heartbeat)
        self._watcher = self.settings.client(timeout=self.heartbeat)
        try:
            started = time.monotonic()
            self._register()
            index, entries = self._watcher.health.service(self.service, passing=True)
        except _ERRORS as exc:
            self._close()
            raise self._error("register", exc) from exc
        self._index = _next_index(0, index)
        self._members = self._ids(entries)
        self._next_beat = started + self.heartbeat
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name=f"luasched-membership-{self.replica_id}")
        self._thread.start()

    def members(self) -> list[str]:
        """Pass the TTL check when due; the passing instances as last watched, and this one."""
        if self._agent is None:
            raise LuaschedError(f"replica {self.replica_id} has not joined: call join() first")
        if time.monotonic() >= self._next_beat:
            started = time.monotonic()
            try:
                self._pass()
            except _ERRORS as exc:
                raise self._error("heartbeat", exc) from exc
            self._next_beat = started + self.heartbeat
        return sorted({*self._members, self.replica_id})

    def leave(self) -> None:
        """Deregister this replica (which also wakes the watcher), stop watching, close."""
        if self._agent is None:
            return
        self._stop.set()
        try:
            self._agent.agent.service.deregister(self.replica_id)
        except _ERRORS as exc:
            raise self._error("deregister", exc) from exc
        finally:
            if self._thread is not None:
                self._thread.join(self.heartbeat + 2 * WATCH_WAIT)  # > its request timeout
                self._thread = None
            self._close()
            self._members = []

    def next_heartbeat_in(self) -> float:
        return max(0.0, self._next_beat - time.monotonic())

    def _register(self) -> None:
        assert self._agent is not None
        check = {"CheckID": self.check_id, "Name": f"luasched replica {self.replica_id}",
                 "TTL": _duration(self.ttl), "Status": "passing",
                 "DeregisterCriticalServiceAfter": _duration(self.deregister_after)}
        self._agent.agent.service.register(self.service, service_id=self.replica_id,
                                           check=check, replace_existing_checks=True)

    def _pass(self) -> None:
        """Pass the TTL check; register again if the agent no longer knows it.

        That happens after an agent restart, or once Consul deregistered this replica after it
        stayed critical too long. An unknown check answers 404, or 500 "does not have
        associated TTL" on the Consul versions that say so.
        """
        assert self._agent is not None
        try:
            known = self._agent.agent.check.ttl_pass(self.check_id)
        except consul.ConsulException as exc:
            if "does not have associated TTL" not in str(exc):
                raise
            known = False
        if not known:
            log.warning("membership: Consul lost replica %s; registering it again",
                        self.replica_id)
            self._register()

    def _watch(self) -> None:
        """Follow the passing instances with blocking queries; wake the replica on a change."""
        watcher = self._watcher
        assert watcher is not None
        while not self._stop.is_set():
            try:
                index, entries = watcher.health.service(
                    self.service, passing=True, index=self._index or None,
                    wait=_duration(WATCH_WAIT))
            except Exception as exc:  # the watcher must outlive any failure
                if not self._stop.is_set():
                    log.warning("membership: watching Consul service %s failed (%s); "
                                "retrying in %.1fs", self.service, exc, self.heartbeat)
                    self._stop.wait(self.heartbeat)
                continue
            self._index = _next_index(self._index, index)
            members = self._ids(entries)
            if members == self._members or self._stop.is_set():
                continue
            self._members = members
            try:
                self._changed()
            except Exception:
                log.exception("membership: on_change callback failed")

    @staticmethod
    def _ids(entries: list[dict[str, Any]]) -> list[str]:
        return sorted(entry["Service"]["ID"] for entry in entries)

    def _close(self) -> None:
        for client in (self._agent, self._watcher):
            if client is not None:
                _close(client)
        self._agent = self._watcher = None

    def _error(self, action: str, exc: Exception) -> LuaschedError:
        if isinstance(exc, (consul.ACLPermissionDenied, consul.ACLDisabled)):
            fix = (f"give the token (CONSUL_HTTP_TOKEN) service:write on {self.service!r} and "
                   "service:read, or set the right token")
        else:
            fix = ("start the Consul agent, or point CONSUL_HTTP_ADDR (and CONSUL_HTTP_SSL, "
                   "CONSUL_CACERT) at a running one")
        return LuaschedError(f"cannot {action} replica {self.replica_id!r} of service "
                             f"{self.service!r} with the Consul agent at {self.settings.url}: "
                             f"{exc}; {fix}")
