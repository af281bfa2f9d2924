"""The mock integration behind the emulated API: small JSON answers, latency, errors and faults.

Routes: ``GET /items`` (a short list), ``GET /items/{id}``, ``POST /orders`` (echoes the JSON
body with an ``orderId``, 201) and ``GET /users/{user}/profile``. Latency is lognormal with
median ``latency_ms`` and shape ``latency_sigma`` and is waited with ``asyncio.sleep``. A share
``error_rate`` of requests answers ``error_status``; fault windows add latency, errors or an
outage. With ``seed`` set, the same requests draw the same latencies and errors.

    backend = MockBackend(BackendConfig(latency_ms=5, error_rate=0.01, seed=1))
    status, body = await backend.handle("GET /items", {}, request, claims=None, now=time.time())
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
from http import HTTPStatus
from typing import Any, Protocol

from .config import BackendConfig, Fault
from .lambda_backend import ITEMS

__all__ = ["MockBackend", "error_body"]

_ITEMS_BODY = json.dumps({"items": ITEMS}, separators=(",", ":")).encode()
_ERROR_BODIES: dict[int, bytes] = {}
_ERROR_MESSAGES = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def error_body(status: int) -> bytes:
    """``{"message": "<reason>"}`` for a status, as API Gateway words it."""
    body = _ERROR_BODIES.get(status)
    if body is None:
        try:
            phrase = _ERROR_MESSAGES.get(status) or HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        body = _ERROR_BODIES[status] = json.dumps({"message": phrase}, separators=(",", ":")).encode()
    return body


class _Request(Protocol):
    async def read(self) -> bytes: ...


class MockBackend:
    """Answers a matched route; reconfigurable while running with ``configure``."""

    def __init__(self, config: BackendConfig) -> None:
        self._orders = itertools.count(1)
        self.configure(config)

    def configure(self, config: BackendConfig) -> None:
        """Apply a new backend config (takes effect on the next request)."""
        self.config = config
        self._median = config.latency_ms
        self._mu = math.log(config.latency_ms) if config.latency_ms > 0 else 0.0
        self._sigma = config.latency_sigma
        self._error_rate = config.error_rate
        self._error_status = config.error_status
        self._faults: list[Fault] = list(config.faults)
        self._rng = random.Random(config.seed)

    def add_fault(self, fault: Fault) -> None:
        self._set_faults([*self.config.faults, fault])

    def end_fault(self, fault_id: str, now: float) -> Fault | None:
        """End fault ``fault_id`` at ``now`` (it stays listed, with its real end); None if unknown."""
        for i, fault in enumerate(self.config.faults):
            if fault.id == fault_id:
                ended = fault.model_copy(update={"end": min(fault.end, max(now, fault.start))})
                faults = list(self.config.faults)
                faults[i] = ended
                self._set_faults(faults)
                return ended
        return None

    def _set_faults(self, faults: list[Fault]) -> None:
        self.config = self.config.model_copy(update={"faults": faults})
        self._faults = faults

    async def handle(
        self,
        route_key: str,
        params: dict[str, str],
        request: _Request,
        *,
        claims: dict[str, Any] | None,
        now: float,
    ) -> tuple[int, bytes]:
        """Run the integration for a request that passed throttling and auth: (status, body)."""
        rng = self._rng
        extra_ms, status = self.fault_effect(route_key, now) if self._faults else (0.0, 0)
        if status < 0:
            return 0, b""  # the server closes the connection without an answer
        if not status and self._error_rate and rng.random() < self._error_rate:
            status = self._error_status
        delay_ms = extra_ms
        if self._median > 0:
            delay_ms += rng.lognormvariate(self._mu, self._sigma) if self._sigma else self._median
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000.0)
        if status:
            return status, error_body(status)
        return await self._answer(route_key, params, request, claims)

    def fault_effect(self, route_key: str, now: float) -> tuple[float, int]:
        """What the fault windows open at ``now`` do to a request of ``route_key``: (added ms,
        status to answer instead: 0 none, -1 drop the connection). An outage answers at once
        (added latency 0); ``error`` faults draw their share. Any integration uses it (the mock
        and the Lambda proxy), so faults hit a route whatever serves it."""
        extra_ms, status = 0.0, 0
        for fault in self._faults:
            if not (fault.start <= now < fault.end) or (fault.routes and route_key not in fault.routes):
                continue
            if fault.kind == "outage":
                return 0.0, -1 if fault.drop else (fault.status or 503)
            if fault.kind == "latency":
                extra_ms += fault.extra_ms
            elif fault.kind == "error" and not status and self._rng.random() < fault.rate:
                status = fault.status or 500
        return extra_ms, status

    async def _answer(self, route_key: str, params: dict[str, str], request: _Request, claims: dict[str, Any] | None) -> tuple[int, bytes]:
        if route_key == "GET /items":
            return 200, _ITEMS_BODY
        if route_key == "GET /items/{id}":
            item_id = params["id"]
            return 200, json.dumps({"id": item_id, "name": f"item-{item_id}"}).encode()
        if route_key == "POST /orders":
            raw = await request.read()
            try:
                order = json.loads(raw) if raw else {}
            except ValueError:
                order = None
            if not isinstance(order, dict):
                return 400, b'{"message":"the order must be a JSON object"}'
            order_id = f"ord-{next(self._orders):08d}"
            return 201, json.dumps({**order, "orderId": order_id}).encode()
        if route_key == "GET /users/{user}/profile":
            claims = claims or {}
            profile = {
                "user": params["user"],
                "sub": claims.get("sub"),
                "username": claims.get("username") or claims.get("cognito:username"),
            }
            return 200, json.dumps(profile).encode()
        return 404, error_body(404)
