"""``LambdaRuntime``: one invocation from moto's call to its answer: a concurrency slot (or the
429), the code on disk, the role's credentials, a warm or a new execution environment, then its
log and metrics; ``Event`` invocations in a background thread, retried while throttled."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaFunction

from harness.local.lambda_runtime.code_cache import CODE_DIR_ENV, CodeCache
from harness.local.lambda_runtime.function import Function
from harness.local.lambda_runtime.limits import Limits, TooManyRequestsException, concurrency_default, reservations
from harness.local.lambda_runtime.logs import LogWriter, log_tail
from harness.local.lambda_runtime.metrics import Metrics
from harness.local.lambda_runtime.pool import Environments
from harness.local.lambda_runtime.process import Outcome
from harness.local.lambda_runtime.role import credentials

__all__ = ["LambdaRuntime"]

ASYNC_RETRY_S = 300.0

log = logging.getLogger("harness.local.lambda_runtime")


class LambdaRuntime:
    """Runs invocations of moto's functions in execution environments (subprocesses kept warm),
    with limits, logs and metrics.

    ``concurrency``: the account limit, argument > ``HARNESS_LOCAL_LAMBDA_CONCURRENCY`` > 1000.
    ``code_dir``: where zips are extracted, argument > ``HARNESS_LOCAL_LAMBDA_CODE_DIR`` > a
    temporary directory made on first use and removed when the process exits.
    ``keep_warm``: seconds an idle environment is kept, argument >
    ``HARNESS_LOCAL_LAMBDA_KEEP_WARM`` > 120; 0 for a cold start every time.
    """

    def __init__(self, *, concurrency: int | None = None, code_dir: Path | str | None = None, keep_warm: float | None = None) -> None:
        self.concurrency = concurrency_default() if concurrency is None else int(concurrency)
        root = code_dir or os.environ.get(CODE_DIR_ENV, "").strip()
        self.code = CodeCache(Path(root) if root else None)
        self.environments = Environments(keep_warm)
        self._limits = Limits(self.concurrency)
        self._metrics = Metrics()
        self._logs = LogWriter()
        self._publisher: threading.Thread | None = None

    def start(self) -> None:
        """Start publishing metrics every second (a daemon thread; idempotent)."""
        if self._publisher is None:
            self._publisher = threading.Thread(target=self._publish, name="lambda-metrics", daemon=True)
            self._publisher.start()

    def invoke(self, fn: LambdaFunction, body: Any, request_headers: Any, response_headers: dict[str, Any]) -> bytes:
        """What moto's ``LambdaFunction.invoke`` returns: the payload; headers go in ``response_headers``."""
        kind = _header(request_headers, "X-Amz-Invocation-Type") or "RequestResponse"
        event = _event_bytes(body)
        func = Function.of(fn)
        response_headers["X-Amz-Executed-Version"] = func.version
        if kind == "DryRun":
            return b""
        if kind == "Event":
            threading.Thread(target=self._run_async, args=(func, event), name=f"lambda-event-{func.name}", daemon=True).start()
            return b""
        outcome = self.run(func, event)
        if outcome.error is not None:
            response_headers["X-Amz-Function-Error"] = "Unhandled"
        tail = log_tail(func, outcome)
        response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()  # moto drops it unless Tail
        return outcome.payload

    def run(self, func: Function, event: bytes) -> Outcome:
        """One synchronous invocation: acquire a slot (or raise the 429), run, log, count."""
        second = int(time.time())
        reserved, reserved_total = reservations(func)
        try:
            slot, running, account_running = self._limits.acquire(func.key, reserved, reserved_total)
        except TooManyRequestsException as exc:
            self._metrics.throttled(func.key, second)
            log.debug("lambda %s throttled (%s)", func.name, exc.reason)
            raise
        self._metrics.concurrency({func.key: running, (func.account_id, func.region, None): account_running}, second)
        try:
            code_dir = self.code.path(func)
            outcome = self.environments.invoke(func, code_dir, credentials(func), event, str(uuid.uuid4()))
        finally:
            self._limits.release(slot)
        self._metrics.finished(func.key, second, outcome.duration_ms, outcome.error is not None)
        self._logs.write(func, outcome)
        return outcome

    def _run_async(self, func: Function, event: bytes) -> None:
        """An ``Event`` invocation: retried while throttled, as Lambda's event queue does."""
        deadline, delay = time.monotonic() + ASYNC_RETRY_S, 0.5
        while True:
            try:
                self.run(func, event)
                return
            except TooManyRequestsException:
                if time.monotonic() > deadline:
                    log.warning("lambda %s: dropped an Event invocation, throttled for %.0f s", func.name, ASYNC_RETRY_S)
                    return
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
            except Exception:
                log.exception("lambda %s: an Event invocation failed", func.name)
                return

    def _publish(self) -> None:
        while True:
            time.sleep(1.0)
            try:
                self._metrics.concurrency(self._limits.running(), int(time.time()))
                self._metrics.flush()
                self.environments.expire()
            except Exception:  # never let the publisher die
                log.exception("could not publish Lambda metrics or end idle environments")


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, dict):  # a plain dict from moto's own callers
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


def _event_bytes(body: Any) -> bytes:
    data = body.encode() if isinstance(body, str) else bytes(body or b"")
    if not data.strip():
        return b"{}"
    try:
        json.loads(data)
    except ValueError as exc:
        raise LambdaClientError("InvalidRequestContentException", f"Could not parse request body into json: {exc}") from exc
    return data
