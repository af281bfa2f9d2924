"""The emulator's backend as a Lambda function: the mock backend's routes, behind a proxy integration.

Deployed into the local stack's moto (``harness.local.stack``, ``[local] integration = "lambda"``)
as a zip holding only this file, handler ``lambda_backend.handler``; the local Lambda runtime runs
it in a subprocess. It imports nothing of harness, so the zip stands alone. It answers payload
format 2.0 events like ``backend.py`` answers requests: ``GET /items``, ``GET /items/{id}``,
``POST /orders`` (201, the JSON body with an ``orderId``) and ``GET /users/{user}/profile`` (the
JWT claims the authorizer passed). ``HARNESS_BACKEND_LATENCY_MS`` (the function's environment)
sleeps that long first, so that concurrency builds up under load.

    handler({"routeKey": "GET /items/{id}", "pathParameters": {"id": "7"}, ...}, context)
    # -> {"statusCode": 200, "headers": {...}, "body": '{"id": "7", "name": "item-7"}'}
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from typing import Any

__all__ = ["handler", "HANDLER", "ITEMS", "LATENCY_ENV"]

LATENCY_ENV = "HARNESS_BACKEND_LATENCY_MS"
HANDLER = "lambda_backend.handler"

#: what ``GET /items`` lists (the mock backend lists the same)
ITEMS = [{"id": str(i), "name": f"item-{i}", "price": round(4.99 + i, 2)} for i in range(1, 6)]
_JSON = {"content-type": "application/json"}


def _answer(status: int, value: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": dict(_JSON), "body": json.dumps(value), "isBase64Encoded": False}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer one API Gateway (HTTP API, payload 2.0) event."""
    latency_ms = float(os.environ.get(LATENCY_ENV) or 0)
    if latency_ms > 0:
        time.sleep(latency_ms / 1000.0)
    route = event.get("routeKey")
    params = event.get("pathParameters") or {}
    if route == "GET /items":
        return _answer(200, {"items": ITEMS})
    if route == "GET /items/{id}":
        return _answer(200, {"id": params["id"], "name": f"item-{params['id']}"})
    if route == "POST /orders":
        raw = event.get("body") or ""
        if event.get("isBase64Encoded"):
            raw = base64.b64decode(raw).decode("utf-8", "replace")
        try:
            order = json.loads(raw) if raw else {}
        except ValueError:
            order = None
        if not isinstance(order, dict):
            return _answer(400, {"message": "the order must be a JSON object"})
        return _answer(201, {**order, "orderId": f"ord-{uuid.uuid4().hex[:8]}"})
    if route == "GET /users/{user}/profile":
        claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt", {}).get("claims") or {}
        profile = {
            "user": params["user"],
            "sub": claims.get("sub"),
            "username": claims.get("username") or claims.get("cognito:username"),
        }
        return _answer(200, profile)
    return _answer(404, {"message": "Not Found"})
