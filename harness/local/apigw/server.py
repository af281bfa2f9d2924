"""The emulator itself: an aiohttp server that answers like an HTTP API stage.

Each request goes: route match (404) -> throttling (429) -> JWT authorizer (401, 403) ->
integration (the mock backend, or a Lambda function for the routes ``lambda_integration``
names: see ``lambda_proxy.py``); then it is counted and its metrics recorded. ``/_admin/`` is answered apart
(see ``admin.py``).

    async with Emulator(config) as emulator:      # binds config.host:config.port (0: any free)
        print(emulator.url)                       # http://127.0.0.1:54321
        ...

    serve(config)   # blocking; until SIGTERM/SIGINT, then flushes metrics and returns
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from harness.errors import LocalStackError

from .admin import AdminApi
from .authorizer import Denial, JwtAuthorizer
from .backend import MockBackend, error_body
from .config import BackendConfig, EmulatorConfig, Fault, Throttle
from .lambda_proxy import LambdaProxy
from .metrics import MetricsRecorder
from .routes import NOT_FOUND_KEY, ROUTE_KEYS, RouteTable
from .throttle import RouteBuckets, Throttler

__all__ = ["Emulator", "serve"]

log = logging.getLogger(__name__)

_JSON = "application/json"
_SHUTDOWN_TIMEOUT = 5.0  # seconds in-flight requests get on stop
_NOT_FOUND = error_body(404)
_THROTTLED = error_body(429)
_UNAUTHORIZED = error_body(401)
_FORBIDDEN = error_body(403)
_INTERNAL = error_body(500)


class Emulator:
    """An HTTP API stage with a Cognito JWT authorizer, throttling and a mock backend.

    ``cloudwatch_client``: a boto3 client for the metrics; by default one is built from
    ``config.metrics`` with ``harness.aws.AwsContext``. ``lambda_client``: a boto3 Lambda client
    for ``config.lambda_integration`` (by default one is built from its settings).
    """

    def __init__(self, config: EmulatorConfig, *, cloudwatch_client: Any | None = None, lambda_client: Any | None = None) -> None:
        self.route_table = RouteTable(ROUTE_KEYS)
        self.route_keys = self.route_table.keys
        _check_route_keys(config, self.route_keys)
        self.config = config
        self._stage_prefix = "" if config.stage == "$default" else f"/{config.stage}"
        self._throttler = Throttler(config.throttle, config.route_throttles, now=time.perf_counter())
        self._backend = MockBackend(config.backend)
        self._throttle_faults: list[tuple[Fault, RouteBuckets]] = []
        self._sync_fault_buckets()
        self._authorizer = JwtAuthorizer(config.authorizer) if config.authorizer else None
        self._lambda_client = lambda_client
        self._lambda: LambdaProxy | None = None
        self._metrics = MetricsRecorder(config.metrics, api_id=config.api_id, stage=config.stage, cloudwatch_client=cloudwatch_client)
        self._record_metrics = config.metrics.enabled
        self._counts: dict[str, dict[int, int]] = {}
        self._reset_count_table()
        self._admin = AdminApi(self)
        self._runner: web.ServerRunner | None = None
        self._integration_errors_logged = False
        self.port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://host:port`` once started (plus ``/<stage>`` for a named stage)."""
        if self.port is None:
            raise LocalStackError("the API Gateway emulator is not started; call start() first")
        return f"http://{self.config.host}:{self.port}{self._stage_prefix}"

    @property
    def admin_url(self) -> str:
        if self.port is None:
            raise LocalStackError("the API Gateway emulator is not started; call start() first")
        return f"http://{self.config.host}:{self.port}/_admin"

    async def start(self) -> None:
        """Bind and serve; fetch the JWKS and start the metrics publisher."""
        server = web.Server(self._handle, access_log=None)
        runner = web.ServerRunner(server, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, backlog=1024)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise LocalStackError(
                f"the API Gateway emulator could not listen on {self.config.host}:{self.config.port} ({exc}); choose another port or 0 for any free one"
            ) from exc
        self._runner = runner
        addresses = runner.addresses
        self.port = int(addresses[0][1]) if addresses else self.config.port
        self._metrics.start()
        if self.config.lambda_integration is not None:
            self._lambda = LambdaProxy(
                self.config.lambda_integration,
                api_id=self.config.api_id,
                stage=self.config.stage,
                lambda_client=self._lambda_client,
            )
        if self._authorizer is not None:
            await self._authorizer.start()

    async def stop(self) -> None:
        """Stop serving, flush metrics and release everything."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._metrics.close()
        if self._lambda is not None:
            await self._lambda.close()
            self._lambda = None
        if self._authorizer is not None:
            await self._authorizer.close()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the hot path --------------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        t0 = time.perf_counter()
        path = request.path
        if path.startswith("/_admin/"):
            return await self._admin.handle(request)
        wall = time.time()
        if self._stage_prefix:
            if path.startswith(self._stage_prefix + "/"):
                path = path[len(self._stage_prefix) :]
            else:
                path = ""
        match = self.route_table.match(request.method, path)
        if match is None:
            return self._finish(NOT_FOUND_KEY, 404, _NOT_FOUND, t0, None, wall)
        route_key, params = match
        if not self._throttler.allow(route_key, t0) or (self._throttle_faults and not self._fault_throttle_allows(route_key, t0, wall)):
            return self._finish(route_key, 429, _THROTTLED, t0, None, wall)
        claims = scopes = None
        authorizer = self._authorizer
        if authorizer is not None:
            header = request.headers.get("Authorization")
            grant = authorizer.lookup(header, wall)
            if grant is None:
                grant = await authorizer.verify(header, wall)
            if grant.__class__ is Denial:
                response = self._finish(route_key, 401, _UNAUTHORIZED, t0, None, wall)
                response.headers["www-authenticate"] = grant.www_authenticate
                return response
            required = authorizer.route_scopes.get(route_key)
            if required is not None and not grant.allows(required):  # type: ignore[union-attr]
                response = self._finish(route_key, 403, _FORBIDDEN, t0, None, wall)
                response.headers["www-authenticate"] = (
                    f'Bearer scope="{" ".join(sorted(required))}" error="insufficient_scope" '
                    'error_description="the token does not hold a scope this route requires"'
                )
                return response
            claims = grant.claims  # type: ignore[union-attr]
            scopes = grant.scopes  # type: ignore[union-attr]
        ti = time.perf_counter()  # IntegrationLatency: from here to the integration's answer
        headers = None
        proxy = self._lambda
        try:
            if proxy is not None and proxy.serves(route_key):
                extra_ms, status = self._backend.fault_effect(route_key, wall) if self._backend.config.faults else (0.0, 0)
                if extra_ms > 0:
                    await asyncio.sleep(extra_ms / 1000.0)
                if status > 0:
                    body = error_body(status)
                elif status == 0:
                    status, body, headers = await proxy.handle(route_key, params, request, path=path, claims=claims, scopes=scopes, now=wall)
                else:
                    body = b""  # dropped below
            else:
                status, body = await self._backend.handle(route_key, params, request, claims=claims, now=wall)
        except Exception:
            if not self._integration_errors_logged:
                self._integration_errors_logged = True
                log.exception("the integration failed; answering 500 (logged once)")
            status, body, headers = 500, _INTERNAL, None
        if status <= 0:  # an outage that drops connections: no answer at all
            return self._drop(request, route_key)
        return self._finish(route_key, status, body, t0, ti, wall, headers)

    def _fault_throttle_allows(self, route_key: str, now: float, wall: float) -> bool:
        """Throttle faults in their window lower the limit: a token from each one's bucket for
        the route too (a fault's limit applies to each route separately, as a stage's does)."""
        for fault, buckets in self._throttle_faults:
            if fault.start <= wall < fault.end and (not fault.routes or route_key in fault.routes):
                if not buckets.take(route_key, now):
                    return False
        return True

    def _drop(self, request: web.BaseRequest, route_key: str) -> web.StreamResponse:
        """Close the connection without an answer (counted under status 0; API Gateway's
        metrics never see such a request, so none are recorded)."""
        counts = self._counts[route_key]
        counts[0] = counts.get(0, 0) + 1
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise web.HTTPException()  # nothing is written to a closed connection

    def _finish(
        self,
        route_key: str,
        status: int,
        body: bytes,
        t0: float,
        ti: float | None,
        wall: float,
        headers: list[tuple[str, str]] | None = None,
    ) -> web.Response:
        counts = self._counts[route_key]
        counts[status] = counts.get(status, 0) + 1
        if headers:
            response = web.Response(body=body, status=status)
            for name, value in headers:
                if name.lower() == "set-cookie":
                    response.headers.add(name, value)
                else:
                    response.headers[name] = value
            if "Content-Type" not in response.headers:
                response.headers["Content-Type"] = _JSON
        else:
            response = web.Response(body=body, status=status, content_type=_JSON)
        if self._record_metrics:
            t1 = time.perf_counter()
            self._metrics.record(int(wall), status, (t1 - t0) * 1000.0, None if ti is None else (t1 - ti) * 1000.0)
        return response

    # -- counts and stats ----------------------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        """``{"routes": {route key: {status: n}}, "total": n}`` for every request seen (admin excluded)."""
        routes = {key: {str(status): n for status, n in sorted(by_status.items())} for key, by_status in self._counts.items() if by_status}
        total = sum(sum(by_status.values()) for by_status in self._counts.values())
        return {"routes": routes, "total": total}

    def reset_counts(self) -> dict[str, Any]:
        """Zero the counts; returns them as they were."""
        before = self.counts()
        self._reset_count_table()
        return before

    def stats(self) -> dict[str, Any]:
        return {
            "authorizer": dict(self._authorizer.stats) if self._authorizer else None,
            "metrics": dict(self._metrics.stats),
            "lambda": dict(self._lambda.stats) if self._lambda else None,
        }

    def _reset_count_table(self) -> None:
        self._counts = {key: {} for key in (*self.route_keys, NOT_FOUND_KEY)}

    # -- changes while running (used by the admin API) -----------------------------------------

    def set_backend(self, backend: BackendConfig) -> None:
        for fault in backend.faults:
            _check_route_keys_of(fault.routes, self.route_keys, "backend.faults.routes")
        self._backend.configure(backend)
        self.config = self.config.model_copy(update={"backend": backend})
        self._sync_fault_buckets()

    def add_fault(self, fault: Fault) -> None:
        _check_route_keys_of(fault.routes, self.route_keys, "fault.routes")
        if any(f.id == fault.id for f in self._backend.config.faults):
            raise LocalStackError(f"fault.id: a fault with id {fault.id!r} exists; give another id or none")
        self._backend.add_fault(fault)
        self.config = self.config.model_copy(update={"backend": self._backend.config})
        self._sync_fault_buckets()

    def end_fault(self, fault_id: str) -> Fault | None:
        """End a fault now (its record keeps its real end); None when there is no such fault."""
        ended = self._backend.end_fault(fault_id, time.time())
        self.config = self.config.model_copy(update={"backend": self._backend.config})
        self._sync_fault_buckets()
        return ended

    def _sync_fault_buckets(self) -> None:
        """Per-route token buckets for each throttle fault, kept across changes (full when first used)."""
        old = {fault.id: buckets for fault, buckets in self._throttle_faults}
        self._throttle_faults = [
            (fault, old.get(fault.id) or RouteBuckets(fault.throttle.rate, fault.throttle.burst))
            for fault in self._backend.config.faults
            if fault.kind == "throttle" and fault.throttle is not None
        ]

    def set_throttle(self, *, stage: Throttle | None = None, routes: dict[str, Throttle] | None = None) -> None:
        if routes is not None:  # before changing anything: all or nothing
            _check_route_keys_of(routes, self.route_keys, "route_throttles")
        now = time.perf_counter()
        update: dict[str, Any] = {}
        if stage is not None:
            self._throttler.set_stage(stage, now)
            update["throttle"] = stage
        if routes is not None:
            self._throttler.set_routes(routes, now)
            update["route_throttles"] = dict(routes)
        self.config = self.config.model_copy(update=update)


def _check_route_keys(config: EmulatorConfig, known: tuple[str, ...]) -> None:
    _check_route_keys_of(config.route_throttles, known, "route_throttles")
    if config.authorizer is not None:
        _check_route_keys_of(config.authorizer.route_scopes, known, "authorizer.route_scopes")
    for fault in config.backend.faults:
        _check_route_keys_of(fault.routes, known, "backend.faults.routes")
    if config.lambda_integration is not None:
        _check_route_keys_of(config.lambda_integration.routes, known, "lambda_integration.routes")


def _check_route_keys_of(keys: Any, known: tuple[str, ...], where: str) -> None:
    for key in keys:
        if key not in known:
            raise LocalStackError(f"{where}: unknown route key {key!r}; use one of: {', '.join(known)}")


def serve(config: EmulatorConfig, *, on_ready: Callable[[Emulator], None] | None = None) -> None:
    """Run the emulator until SIGTERM or SIGINT, then flush metrics and return.

    Uses uvloop when it is installed. ``on_ready`` is called once it listens (default: print
    one JSON line ``{"url": ..., "port": ...}`` to stdout).
    """

    async def main() -> None:
        emulator = Emulator(config)
        await emulator.start()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stopping.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not on POSIX
                pass
        (on_ready or _announce)(emulator)
        try:
            await stopping.wait()
        finally:
            log.info("stopping: flushing metrics")
            await emulator.stop()

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional
        asyncio.run(main())
    else:
        uvloop.run(main())


def _announce(emulator: Emulator) -> None:
    sys.stdout.write(json.dumps({"url": emulator.url, "port": emulator.port, "admin": emulator.admin_url}) + "\n")
    sys.stdout.flush()
