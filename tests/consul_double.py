"""A TEST DOUBLE of a Consul agent's HTTP API: only the endpoints ConsulMembership uses.

This is not Consul. No Consul binary can be installed where the tests run, so this double
serves, on a free 127.0.0.1 port, what the Consul HTTP API documentation
(developer.hashicorp.com/consul/api-docs: agent/service, agent/check, health,
features/blocking) says these endpoints do:

- ``PUT /v1/agent/service/register``: a service (``ID`` defaults to ``Name``) with its checks
  (``Check`` or ``Checks``; JSON keys in any case, as Consul decodes them). Only TTL checks are
  supported. A check starts with its ``Status``, critical when none is given; its ``CheckID``
  defaults to ``service:<id>`` (``service:<id>:<n>`` when there are several). Registering an
  existing id replaces the service and its checks.
- ``PUT /v1/agent/service/deregister/<id>``: removes the service and its checks (404 if unknown).
- ``PUT /v1/agent/check/pass/<check id>`` (py-consul's ``agent.check.ttl_pass``): the check
  passes and its TTL clock restarts. An unknown check answers 500
  ``CheckID "<id>" does not have associated TTL``, as Consul does.
- ``GET /v1/health/service/<name>``: ``[{Node, Service, Checks}]``; with ``passing`` only the
  instances whose checks all pass. With ``index`` it is a blocking query: it answers once
  ``X-Consul-Index`` exceeds ``index``, or when ``wait`` (default 5m, at most 10m) elapses.
- A TTL check not passed within its TTL turns critical ("TTL expired"); a service whose check
  stayed critical for ``DeregisterCriticalServiceAfter`` is deregistered. Every change of
  services or check statuses advances the index and wakes the blocking queries.

Where it differs from Consul (on purpose, for fast and simple tests): one agent is the whole
catalog (no anti-entropy delay); one index counts every change (Consul's index for this
endpoint is per service; either way a blocking query only promises "something may have
changed"); no jitter is added to ``wait``; ACLs are not enforced (tokens are recorded); and
critical services are reaped as soon as they are due, without Consul's 1-minute minimum and
30-second reaper period.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

_TICK = 0.02  # seconds between two passes of the TTL clock
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DEFAULT_WAIT, _MAX_WAIT = 300.0, 600.0


def parse_duration(text: str) -> float:
    """A Go duration ("10s", "1500ms", "1m30s") in seconds."""
    parts = re.findall(r"([\d.]+)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _field(mapping: dict[str, Any], *names: str) -> Any:
    """A JSON field looked up in any case, as Consul's decoder does."""
    lowered = {k.lower(): v for k, v in mapping.items()}
    return next((lowered[n.lower()] for n in names if n.lower() in lowered), None)


@dataclass
class Check:
    check_id: str
    name: str
    service_id: str
    ttl: float
    status: str
    deregister_after: float | None
    deadline: float  # monotonic instant at which the TTL runs out
    critical_since: float | None
    output: str = ""


class ConsulDouble:
    """The double: ``with ConsulDouble() as agent:`` serves at ``agent.address``."""

    node = "consul-double"

    def __init__(self) -> None:
        self.services: dict[str, dict[str, Any]] = {}
        self.checks: dict[str, Check] = {}
        self.index = 1
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.tokens: list[str | None] = []  # X-Consul-Token of every request
        self._cond = threading.Condition()
        self._closing = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._threads = [threading.Thread(target=self._server.serve_forever, args=(_TICK,),
                                          daemon=True),
                         threading.Thread(target=self._clock, daemon=True)]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ConsulDouble:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._server.shutdown()
        for thread in self._threads:
            thread.join()
        self._server.server_close()

    def __enter__(self) -> ConsulDouble:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def status(self, check_id: str) -> str | None:
        """The status of a check, None when there is none."""
        with self._cond:
            check = self.checks.get(check_id)
            return check.status if check else None

    # -- state changes, under the lock -----------------------------------------------------

    def _changed(self) -> None:
        self.index += 1
        self._cond.notify_all()

    def _clock(self) -> None:
        """Turn checks whose TTL ran out critical; reap services critical for too long."""
        while True:
            with self._cond:
                if self._closing:
                    return
                now = time.monotonic()
                changed = False
                for check in list(self.checks.values()):
                    if check.status != "critical" and now >= check.deadline:
                        check.status, check.output, check.critical_since = (
                            "critical", "TTL expired", now)
                        changed = True
                    if (check.critical_since is not None and check.deregister_after is not None
                            and now - check.critical_since >= check.deregister_after):
                        self._drop(check.service_id)
                        changed = True
                if changed:
                    self._changed()
                self._cond.wait(_TICK)

    def _drop(self, service_id: str) -> None:
        self.services.pop(service_id, None)
        for check_id in [c.check_id for c in self.checks.values() if c.service_id == service_id]:
            del self.checks[check_id]

    def register(self, body: dict[str, Any]) -> tuple[int, str]:
        name = _field(body, "Name")
        if not name:
            return 400, "Missing service name"
        service_id = _field(body, "ID") or name
        definitions = _field(body, "Checks") or []
        if _field(body, "Check"):
            definitions = [_field(body, "Check"), *definitions]
        now = time.monotonic()
        checks = []
        for n, definition in enumerate(definitions, 1):
            if not _field(definition, "TTL"):
                return 400, "this Consul test double supports TTL checks only"
            default_id = f"service:{service_id}" + (f":{n}" if len(definitions) > 1 else "")
            status = _field(definition, "Status") or "critical"
            after = _field(definition, "DeregisterCriticalServiceAfter")
            checks.append(Check(
                check_id=_field(definition, "CheckID", "ID") or default_id,
                name=_field(definition, "Name") or f"Service '{name}' check",
                service_id=service_id, ttl=parse_duration(_field(definition, "TTL")),
                status=status, deregister_after=parse_duration(after) if after else None,
                deadline=now + parse_duration(_field(definition, "TTL")),
                critical_since=now if status == "critical" else None))
        with self._cond:
            self._drop(service_id)
            self.services[service_id] = {"ID": service_id, "Service": name,
                                         "Tags": _field(body, "Tags") or [],
                                         "Address": _field(body, "Address") or "",
                                         "Port": _field(body, "Port") or 0,
                                         "Meta": _field(body, "Meta") or {}}
            self.checks.update((c.check_id, c) for c in checks)
            self._changed()
        return 200, ""

    def deregister(self, service_id: str) -> tuple[int, str]:
        with self._cond:
            if service_id not in self.services:
                return 404, f'Unknown service ID "{service_id}"'
            self._drop(service_id)
            self._changed()
        return 200, ""

    def check_pass(self, check_id: str, note: str) -> tuple[int, str]:
        with self._cond:
            check = self.checks.get(check_id)
            if check is None:
                return 500, f'CheckID "{check_id}" does not have associated TTL'
            check.deadline = time.monotonic() + check.ttl
            if (check.status, check.output) != ("passing", note):
                check.status, check.output, check.critical_since = "passing", note, None
                self._changed()
        return 200, ""

    def health(self, name: str, passing: bool, index: int, wait: float) -> tuple[int, list[Any]]:
        """``(X-Consul-Index, entries)``, blocking while the index has not passed ``index``."""
        with self._cond:
            if index:
                self._cond.wait_for(lambda: self.index > index or self._closing, wait)
            entries = []
            for service in self.services.values():
                if service["Service"] != name:
                    continue
                checks = [c for c in self.checks.values() if c.service_id == service["ID"]]
                if passing and any(c.status != "passing" for c in checks):
                    continue
                entries.append({
                    "Node": {"Node": self.node, "Address": "127.0.0.1", "Datacenter": "dc1"},
                    "Service": dict(service),
                    "Checks": [self._serf_check()] + [self._check_json(c, name) for c in checks],
                })
            return self.index, entries

    def _serf_check(self) -> dict[str, Any]:
        return {"Node": self.node, "CheckID": "serfHealth", "Name": "Serf Health Status",
                "Status": "passing", "Output": "Agent alive and reachable", "ServiceID": "",
                "ServiceName": ""}

    def _check_json(self, check: Check, service_name: str) -> dict[str, Any]:
        return {"Node": self.node, "CheckID": check.check_id, "Name": check.name,
                "Status": check.status, "Output": check.output, "ServiceID": check.service_id,
                "ServiceName": service_name, "Type": "ttl"}


def _handler(double: ConsulDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            path, query = urllib.parse.unquote(url.path), urllib.parse.parse_qs(url.query)
            self._record(path)
            if path == "/v1/agent/service/register":
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                    code, text = double.register(body)
                except (ValueError, TypeError, AttributeError) as exc:
                    code, text = 400, f"Request decode failed: {exc}"
            elif match := re.fullmatch(r"/v1/agent/service/deregister/(.+)", path):
                code, text = double.deregister(match[1])
            elif match := re.fullmatch(r"/v1/agent/check/pass/(.+)", path):
                code, text = double.check_pass(match[1], query.get("note", [""])[0])
            else:
                code, text = 404, "not served by the Consul test double"
            self._send(code, text.encode(), {})

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            path, query = urllib.parse.unquote(url.path), urllib.parse.parse_qs(url.query)
            self._record(path)
            match = re.fullmatch(r"/v1/health/service/(.+)", path)
            if not match:
                self._send(404, b"not served by the Consul test double", {})
                return
            flag = query.get("passing", ["false"])[0].lower()
            passing = "passing" in query and flag not in ("false", "0")
            try:
                index = int(query.get("index", ["0"])[0])
                wait = min(parse_duration(query["wait"][0]) if "wait" in query
                           else _DEFAULT_WAIT, _MAX_WAIT)
            except ValueError as exc:
                self._send(400, str(exc).encode(), {})
                return
            consul_index, entries = double.health(match[1], passing, index, wait)
            self._send(200, json.dumps(entries).encode(),
                       {"Content-Type": "application/json", "X-Consul-Index": str(consul_index),
                        "X-Consul-KnownLeader": "true", "X-Consul-LastContact": "0"})

        def _record(self, path: str) -> None:
            with double._cond:
                double.requests.append((self.command, path))
                double.tokens.append(self.headers.get("X-Consul-Token"))

        def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
