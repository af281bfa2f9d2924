"""The Lambda proxy integration of the emulated HTTP API (payload format 2.0).

A request that passed throttling and the authorizer becomes a 2.0 event (``version``,
``routeKey``, ``rawPath``, ``rawQueryString``, ``headers``, ``requestContext`` with ``http``,
``stage`` and ``authorizer.jwt.claims/scopes``, ``pathParameters``, ``body``,
``isBase64Encoded``), is sent with boto3 ``Invoke`` (``RequestResponse``) from a bounded thread
pool, never on the event loop, and the function's answer is mapped back as an HTTP API does:

- ``{"statusCode": ..., "body": ..., "headers": ..., "cookies": ..., "isBase64Encoded": ...}``
  is the response; any other valid JSON (an object without ``statusCode``, a list, a string...)
  is answered 200 with that JSON as the body (content-type ``application/json``).
- Every integration failure is answered ``500 {"message":"Internal Server Error"}``: Lambda
  refusing the invocation (``429 TooManyRequestsException``: throttled by reserved or account
  concurrency), a function error (an unhandled exception, or the function's own timeout,
  ``Sandbox.Timedout``), and a response that is not valid JSON or has a bad ``statusCode``.
- The integration timeout (``timeout``, 30 s at most on an HTTP API) passing before Lambda
  answers is ``503 {"message":"Service Unavailable"}``.

Sources: HTTP APIs answer ``{"message":"Internal Server Error"}`` for a failed Lambda integration
(API Gateway developer guide, "Troubleshooting issues with HTTP API Lambda integrations",
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-lambda.html);
"If the Lambda API rejects the invocation request, API Gateway returns a 500 error code" (Lambda
developer guide, "Handling Lambda errors with an API Gateway API",
https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html; the 502 that page
gives for function errors is a REST API's; an HTTP API answers those 500 too, as reported for
function errors and timeouts in denoland/deno_registry2#87); an HTTP API whose integration
timeout passes first answers 503 (serverless/serverless#11222, anomalyco/sst#2232). The
response format: "Working with AWS Lambda proxy integrations for HTTP APIs", format 2.0.

    proxy = LambdaProxy(LambdaIntegration(function_name="orders"), api_id="abc", stage="$default")
    status, body, headers = await proxy.handle("GET /items", {}, request, claims=claims, scopes=scopes, now=t)
    await proxy.close()
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from .backend import error_body
from .config import LambdaIntegration

__all__ = ["LambdaProxy", "INTEGRATION_FAILURE", "INTEGRATION_TIMEOUT"]

log = logging.getLogger(__name__)

#: what an HTTP API answers when its Lambda integration fails (throttled, errored, malformed)
INTEGRATION_FAILURE = 500
#: ... and when its integration timeout passes first
INTEGRATION_TIMEOUT = 503
_ACCOUNT = "123456789012"
_Headers = list[tuple[str, str]]


class _Request(Protocol):
    """What the proxy reads of an aiohttp request (read-only, as aiohttp's are)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query_string(self) -> str: ...
    @property
    def headers(self) -> Any: ...
    @property
    def host(self) -> str: ...
    @property
    def remote(self) -> str | None: ...

    async def read(self) -> bytes: ...


class LambdaProxy:
    """Sends requests to one Lambda function; counts what happened in ``stats``.

    ``lambda_client``: a boto3 Lambda client; by default one is made (in a pool thread) from
    ``AwsContext(region=config.region, endpoint_url=config.endpoint_url)`` with no retries
    (API Gateway does not retry a Lambda invocation) and a connection per pool thread.
    """

    def __init__(self, config: LambdaIntegration, *, api_id: str, stage: str, lambda_client: Any | None = None) -> None:
        self.config = config
        self.routes = frozenset(config.routes)
        self._api_id = api_id
        self._stage = stage
        self._client = lambda_client
        self._executor = ThreadPoolExecutor(max_workers=config.max_concurrency, thread_name_prefix="apigw-lambda")
        self._executor.submit(self._warm_up)
        self._errors_logged: set[str] = set()
        self._lock = threading.Lock()  # stats are counted from the pool threads
        self.stats: dict[str, Any] = {
            "invocations": 0,
            "throttled": 0,
            "function_errors": 0,
            "malformed": 0,
            "timeouts": 0,
            "invoke_errors": 0,
            "last_error": None,
        }

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def serves(self, route_key: str) -> bool:
        return not self.routes or route_key in self.routes

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- one request ---------------------------------------------------------------------------

    async def handle(
        self,
        route_key: str,
        params: dict[str, str],
        request: _Request,
        *,
        path: str,
        claims: dict[str, Any] | None,
        scopes: frozenset[str] | None,
        now: float,
    ) -> tuple[int, bytes, _Headers]:
        """Invoke the function for a request; (status, body, extra headers)."""
        event = self._event(route_key, params, request, await request.read(), path, claims, scopes, now)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._invoke, json.dumps(event).encode())
        try:
            kind, payload = await asyncio.wait_for(future, self.config.timeout)
        except TimeoutError:
            self._count("timeouts")
            return INTEGRATION_TIMEOUT, error_body(INTEGRATION_TIMEOUT), []
        if kind != "ok":
            return INTEGRATION_FAILURE, error_body(INTEGRATION_FAILURE), []
        return self._response(payload)

    def _event(
        self,
        route_key: str,
        params: dict[str, str],
        request: _Request,
        raw: bytes,
        path: str,
        claims: dict[str, Any] | None,
        scopes: frozenset[str] | None,
        now: float,
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in request.headers.items():
            key = name.lower()
            if key == "cookie":
                cookies.extend(c.strip() for c in value.split(";") if c.strip())
                continue
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        query: dict[str, str] = {}
        for name, value in getattr(request, "query", {}).items():
            query[name] = f"{query[name]},{value}" if name in query else value
        body: str | None = None
        encoded = False
        if raw:
            try:
                body = raw.decode("utf-8")
            except UnicodeDecodeError:
                body, encoded = base64.b64encode(raw).decode(), True
        stamp = datetime.fromtimestamp(now, tz=UTC)
        host = headers.get("host", "")
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": request.path,
            "rawQueryString": request.query_string,
            "headers": headers,
            "requestContext": {
                "accountId": _ACCOUNT,
                "apiId": self._api_id,
                "domainName": host,
                "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
                "http": {
                    "method": request.method,
                    "path": request.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": request.remote or "",
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": uuid.uuid4().hex[:16],
                "routeKey": route_key,
                "stage": self._stage,
                "time": stamp.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now * 1000),
            },
            "body": body,
            "isBase64Encoded": encoded,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if params:
            event["pathParameters"] = dict(params)
        if claims is not None:
            event["requestContext"]["authorizer"] = {"jwt": {"claims": {k: _claim(v) for k, v in claims.items()}, "scopes": sorted(scopes) if scopes else None}}
        return event

    def _invoke(self, payload: bytes) -> tuple[str, bytes]:
        """Runs in a pool thread: ("ok" | "throttled" | "error", the function's payload)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._lambda().invoke(FunctionName=self.config.function_name, InvocationType="RequestResponse", Payload=payload)
            body = response["Payload"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "TooManyRequestsException":
                self._count("throttled")
                return "throttled", b""
            self._failed(f"{code}: {exc}")
            return "error", b""
        except (BotoCoreError, OSError) as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return "error", b""
        self._count("invocations")
        if response.get("FunctionError"):
            self._count("function_errors")
            return "error", body
        return "ok", body

    def _response(self, payload: bytes) -> tuple[int, bytes, _Headers]:
        try:
            value = json.loads(payload)
        except ValueError:
            return self._malformed("the function's response is not JSON")
        if not isinstance(value, dict) or "statusCode" not in value:
            return 200, payload, []  # format 2.0 infers a 200 with the JSON as the body
        status = value["statusCode"]
        if isinstance(status, str) and status.isdigit():
            status = int(status)
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            return self._malformed(f"statusCode {status!r} is not an HTTP status")
        body = value.get("body")
        if body is None:
            data = b""
        elif not isinstance(body, str):
            return self._malformed("body is not a string")
        elif value.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError:
                return self._malformed("body is not valid base64")
        else:
            data = body.encode()
        headers: _Headers = []
        raw_headers = value.get("headers") or {}
        if not isinstance(raw_headers, dict):
            return self._malformed("headers is not an object")
        for name, header in raw_headers.items():
            headers.append((str(name), str(header)))
        for cookie in value.get("cookies") or []:
            headers.append(("Set-Cookie", str(cookie)))
        return status, data, headers

    # -- helpers -------------------------------------------------------------------------------

    def _malformed(self, why: str) -> tuple[int, bytes, _Headers]:
        self._count("malformed")
        self._failed(f"malformed Lambda proxy response: {why}", count=False)
        return INTEGRATION_FAILURE, error_body(INTEGRATION_FAILURE), []

    def _failed(self, message: str, *, count: bool = True) -> None:
        if count:
            self._count("invoke_errors")
        self.stats["last_error"] = message
        kind = message.split(":", 1)[0]
        if kind not in self._errors_logged:  # once per kind: this runs under load
            self._errors_logged.add(kind)
            log.warning("Lambda integration %s: %s; answering %d (logged once)", self.config.function_name, message, INTEGRATION_FAILURE)

    def _lambda(self) -> Any:
        if self._client is None:
            from botocore.config import Config

            from harness.aws import AwsContext

            config = Config(
                retries={"max_attempts": 0, "mode": "standard"},
                max_pool_connections=self.config.max_concurrency,
                read_timeout=max(60.0, self.config.timeout + 5),
                connect_timeout=5,
            )
            ctx = AwsContext(region=self.config.region, endpoint_url=self.config.endpoint_url, config=config)
            self._client = ctx.client("lambda")
        return self._client

    def _warm_up(self) -> None:
        try:
            self._lambda()
        except Exception:  # reported by the first invocation that fails the same way
            pass


def _claim(value: Any) -> str:
    """Claims as an HTTP API passes them: strings (a list becomes ``[a b]``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    return str(value)
