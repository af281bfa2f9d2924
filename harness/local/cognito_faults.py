"""A Cognito throttle switch on the local moto server, for the ``cognito_throttle`` fault.

While now is inside a fault window, the cognito-idp operations it names answer exactly as
Cognito answers a throttled call: HTTP 400, ``x-amzn-ErrorType: TooManyRequestsException`` and
the JSON 1.1 error body ``{"__type": "TooManyRequestsException", "message": "Too many requests"}``,
which botocore raises as ``ClientError`` with code ``TooManyRequestsException``. Windows end by
themselves at ``end``, so a run that crashed cannot leave Cognito throttled.

The switch is served by ``python -m harness.local.moto`` (see ``handle``)::

    POST   /_harness/faults/cognito        {"start": epoch_s, "end": epoch_s, "operations": [...]}
           -> 201 {"fault": {"id", "start", "end", "operations"}}
              operations default to InitiateAuth, AdminInitiateAuth, RespondToAuthChallenge
    GET    /_harness/faults/cognito        -> 200 {"faults": [...]}     (expired ones are gone)
    DELETE /_harness/faults/cognito        -> 200 {"faults": []}        (ends them all)
    DELETE /_harness/faults/cognito/<id>   -> 200 {"fault": {...}}; 404 if unknown
    bad input                              -> 400 {"message": "<one line>"}

``install()`` (in ``DEFAULT_PATCHES``) wraps moto's ``CognitoIdpResponse.call_action``; the
registry is guarded by a lock, as moto serves requests in threads.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeGuard

__all__ = ["DEFAULT_OPERATIONS", "PATH", "CognitoFaults", "faults", "handle", "install"]

PATH = "/_harness/faults/cognito"
DEFAULT_OPERATIONS: tuple[str, ...] = ("InitiateAuth", "AdminInitiateAuth", "RespondToAuthChallenge")
THROTTLED_BODY = json.dumps({"__type": "TooManyRequestsException", "message": "Too many requests"})
_MAX_WINDOW_S = 24 * 3600.0  # a switch left on by mistake still ends within a day


class CognitoFaults:
    """The fault windows, thread-safe; expired windows are dropped whenever they are looked at."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._faults: dict[str, dict[str, Any]] = {}

    def add(self, data: Any) -> dict[str, Any]:
        """Validate and add one window; ``ValueError`` with a one-line message on bad input."""
        if not isinstance(data, dict):
            raise ValueError('the body must be a JSON object: {"start": epoch_s, "end": epoch_s, "operations": [...]}')
        unknown = sorted(set(data) - {"start", "end", "operations"})
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; use start, end and operations")
        start, end = _epoch(data.get("start"), "start"), _epoch(data.get("end"), "end")
        if end <= start:
            raise ValueError(f"end ({end}) must be after start ({start})")
        if end - start > _MAX_WINDOW_S:
            raise ValueError(f"a window lasts at most {_MAX_WINDOW_S:.0f} s; this one lasts {end - start:.0f} s")
        operations = data.get("operations", list(DEFAULT_OPERATIONS))
        if not isinstance(operations, list) or not operations or not all(isinstance(op, str) and op.isalnum() and op[:1].isupper() for op in operations):
            raise ValueError('operations must be a non-empty list of cognito-idp operation names such as "InitiateAuth"')
        fault: dict[str, Any] = {"id": uuid.uuid4().hex[:12], "start": float(start), "end": float(end), "operations": list(dict.fromkeys(operations))}
        with self._lock:
            self._expire()
            self._faults[fault["id"]] = fault
        return dict(fault)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            self._expire()
            return [dict(f) for f in sorted(self._faults.values(), key=lambda f: (f["start"], f["id"]))]

    def remove(self, fault_id: str | None = None) -> dict[str, Any] | None:
        """End one window (None if unknown) or, ``fault_id`` None, all of them (returns {})."""
        with self._lock:
            if fault_id is None:
                self._faults.clear()
                return {}
            return self._faults.pop(fault_id, None)

    def throttles(self, operation: str) -> bool:
        """Whether ``operation`` is throttled now."""
        if not self._faults:  # the hot path without faults: no lock
            return False
        now = self._clock()
        with self._lock:
            self._expire(now)
            return any(f["start"] <= now < f["end"] and operation in f["operations"] for f in self._faults.values())

    def _expire(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        for fault_id in [i for i, f in self._faults.items() if f["end"] <= now]:
            del self._faults[fault_id]


#: the server's one registry
faults = CognitoFaults()


def handle(method: str, path: str, body: bytes) -> tuple[int, Any]:
    """Answer a request to ``/_harness/faults/cognito[/<id>]``: (HTTP status, JSON body)."""
    rest = path[len(PATH) :].strip("/")
    if method == "GET" and not rest:
        return 200, {"faults": faults.list()}
    if method == "POST" and not rest:
        try:
            data = json.loads(body or b"null")
        except ValueError as exc:
            return 400, {"message": f"the body is not JSON ({exc})"}
        try:
            return 201, {"fault": faults.add(data)}
        except ValueError as exc:
            return 400, {"message": str(exc)}
    if method == "DELETE":
        if not rest:
            faults.remove()
            return 200, {"faults": []}
        removed = faults.remove(rest)
        if removed is None:
            return 404, {"message": f"no Cognito fault {rest}; GET {PATH} lists them"}
        return 200, {"fault": removed}
    return 405, {"message": f"{method} {path} is not supported; use GET, POST or DELETE {PATH}"}


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Make moto's cognito-idp answer throttled operations with TooManyRequestsException (idempotent)."""
    global _installed
    from moto.cognitoidp.responses import CognitoIdpResponse

    with _install_lock:
        if _installed:
            return
        original = CognitoIdpResponse.call_action

        def call_action(self: Any) -> Any:
            if faults.throttles(self._get_action()):
                headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": "TooManyRequestsException"}
                return 400, headers, THROTTLED_BODY
            return original(self)

        CognitoIdpResponse.call_action = call_action
        _installed = True


def _epoch(value: Any, name: str) -> float:
    """``value`` when it is a finite number of epoch seconds; ``ValueError`` naming ``name`` otherwise."""
    if not _is_number(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number of epoch seconds, not {value!r}")
    return value


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
