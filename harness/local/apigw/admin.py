"""The emulator's admin endpoints under ``/_admin/``: no auth, not throttled, not counted.

::

    GET   /_admin/health        -> 200 {"status": "ok", "routes": ["GET /items", ...]}
    GET   /_admin/config        -> 200 the current EmulatorConfig as JSON
    PUT   /_admin/backend       body: any BackendConfig fields, merged into the current ones
    PATCH /_admin/backend         -> 200 {"backend": {...the new BackendConfig...}}
    PUT   /_admin/throttle      body: {"throttle": {"rate", "burst"}?, "route_throttles": {key: {...}}?}
                                  replaces what is given -> 200 {"throttle": ..., "route_throttles": ...}
    PATCH /_admin/throttle      same body; route_throttles are merged, a null value removes one
    GET   /_admin/faults        -> 200 {"faults": [...]}
    POST  /_admin/faults        body: a Fault with start/end (epoch s) or after/duration (s from now)
                                  -> 201 {"fault": {...with absolute start/end...}}
    DELETE /_admin/faults       -> 200 {"faults": []}
    DELETE /_admin/faults/<id>  ends one fault now -> 200 {"fault": {...with its real end...}}; 404 unknown
    GET   /_admin/counts        -> 200 {"routes": {"GET /items": {"200": 12, "429": 3}}, "total": 15}
    POST  /_admin/counts/reset  -> 200 the counts just before the reset (same shape)
    GET   /_admin/stats         -> 200 {"authorizer": {...} | null, "metrics": {...}, "lambda": {...} | null}

Bad input answers 400 ``{"message": "<one line>"}``; an unknown admin path 404.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import ValidationError

from harness.errors import LocalStackError

from .config import BackendConfig, Fault, Throttle, is_number

if TYPE_CHECKING:
    from .server import Emulator

__all__ = ["AdminApi"]


class AdminError(Exception):
    """Bad admin input: answered 400 with the message."""


class AdminApi:
    """Dispatches ``/_admin/`` requests to the emulator's reconfiguration methods."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._routes = {
            ("GET", "/_admin/health"): self.health,
            ("GET", "/_admin/config"): self.get_config,
            ("PUT", "/_admin/backend"): self.put_backend,
            ("PATCH", "/_admin/backend"): self.put_backend,
            ("PUT", "/_admin/throttle"): self.put_throttle,
            ("PATCH", "/_admin/throttle"): self.patch_throttle,
            ("GET", "/_admin/faults"): self.get_faults,
            ("POST", "/_admin/faults"): self.post_fault,
            ("DELETE", "/_admin/faults"): self.delete_faults,
            ("GET", "/_admin/counts"): self.get_counts,
            ("POST", "/_admin/counts/reset"): self.reset_counts,
            ("GET", "/_admin/stats"): self.get_stats,
        }

    async def handle(self, request: web.BaseRequest) -> web.Response:
        path = request.path.rstrip("/") or "/"
        handler = self._routes.get((request.method, path))
        if handler is None and request.method == "DELETE" and path.startswith("/_admin/faults/"):
            return self.end_fault(path.removeprefix("/_admin/faults/"))
        if handler is None:
            return _json({"message": "Not Found"}, 404)
        try:
            body = await _body(request) if request.method in ("PUT", "PATCH", "POST") else None
            status, payload = handler(body)
        except (AdminError, LocalStackError) as exc:  # the emulator refuses unknown route keys
            return _json({"message": str(exc)}, 400)
        except ValidationError as exc:
            return _json({"message": _one_line(exc)}, 400)
        return _json(payload, status)

    # -- endpoints: each takes the parsed body and returns (status, payload) ------------------

    def health(self, _: Any) -> tuple[int, Any]:
        return 200, {"status": "ok", "routes": list(self.emulator.route_keys)}

    def get_config(self, _: Any) -> tuple[int, Any]:
        return 200, self.emulator.config.model_dump(mode="json")

    def put_backend(self, body: Any) -> tuple[int, Any]:
        fields = _object(body)
        current = self.emulator.config.backend.model_dump()
        backend = BackendConfig.model_validate({**current, **fields})
        self.emulator.set_backend(backend)
        return 200, {"backend": backend.model_dump(mode="json")}

    def put_throttle(self, body: Any) -> tuple[int, Any]:
        return self._throttle(body, merge=False)

    def patch_throttle(self, body: Any) -> tuple[int, Any]:
        return self._throttle(body, merge=True)

    def _throttle(self, body: Any, *, merge: bool) -> tuple[int, Any]:
        """PUT replaces the route throttles; PATCH merges them, a null removing one."""
        fields = _object(body)
        self._check_keys(fields, {"throttle", "route_throttles"})
        stage = Throttle.model_validate(fields["throttle"]) if "throttle" in fields else None
        routes = None
        if "route_throttles" in fields:
            routes = dict(self.emulator.config.route_throttles) if merge else {}
            for key, value in _object(fields["route_throttles"]).items():
                if merge and value is None:
                    routes.pop(key, None)
                else:
                    routes[key] = Throttle.model_validate(value)
        self.emulator.set_throttle(stage=stage, routes=routes)
        return 200, self._throttle_view()

    def get_faults(self, _: Any) -> tuple[int, Any]:
        return 200, {"faults": [f.model_dump(mode="json") for f in self.emulator.config.backend.faults]}

    def post_fault(self, body: Any) -> tuple[int, Any]:
        fields = dict(_object(body))
        after, duration = fields.pop("after", None), fields.pop("duration", None)
        if after is not None or duration is not None:
            if "start" in fields or "end" in fields:
                raise AdminError("give either start/end or after/duration, not both")
            if duration is None:
                raise AdminError("after/duration: duration (seconds) is required")
            if not is_number(after if after is not None else 0) or not is_number(duration) or duration <= 0:
                raise AdminError("after and duration must be numbers of seconds, duration > 0")
            fields["start"] = time.time() + (after or 0)
            fields["end"] = fields["start"] + duration
        fault = Fault.model_validate(fields)
        if fault.end <= fault.start:
            raise AdminError("a fault's end must be after its start")
        self.emulator.add_fault(fault)
        return 201, {"fault": fault.model_dump(mode="json")}

    def delete_faults(self, _: Any) -> tuple[int, Any]:
        self.emulator.set_backend(self.emulator.config.backend.model_copy(update={"faults": []}))
        return 200, {"faults": []}

    def end_fault(self, fault_id: str) -> web.Response:
        ended = self.emulator.end_fault(fault_id)
        if ended is None:
            return _json({"message": f"no fault with id {fault_id!r}; GET /_admin/faults lists them"}, 404)
        return _json({"fault": ended.model_dump(mode="json")}, 200)

    def get_counts(self, _: Any) -> tuple[int, Any]:
        return 200, self.emulator.counts()

    def reset_counts(self, _: Any) -> tuple[int, Any]:
        return 200, self.emulator.reset_counts()

    def get_stats(self, _: Any) -> tuple[int, Any]:
        return 200, self.emulator.stats()

    # -- helpers -------------------------------------------------------------------------------

    def _throttle_view(self) -> dict[str, Any]:
        config = self.emulator.config
        return {
            "throttle": config.throttle.model_dump(mode="json"),
            "route_throttles": {k: v.model_dump(mode="json") for k, v in config.route_throttles.items()},
        }

    @staticmethod
    def _check_keys(fields: dict[str, Any], allowed: set[str]) -> None:
        extra = sorted(set(fields) - allowed)
        if extra:
            raise AdminError(f"unexpected field(s) {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}")
        if not fields:
            raise AdminError(f"nothing to change; give {' and/or '.join(sorted(allowed))}")


async def _body(request: web.BaseRequest) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise AdminError(f"the body is not valid JSON: {exc}") from None


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AdminError("the body must be a JSON object")
    return value


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts).replace("\n", " ")


def _json(payload: Any, status: int) -> web.Response:
    return web.Response(body=json.dumps(payload).encode(), status=status, content_type="application/json")
