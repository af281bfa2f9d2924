"""CloudWatch metrics of the emulated API, named like an HTTP API's.

Namespace ``AWS/ApiGateway``, dimensions ``ApiId`` and ``Stage``; per request:

- ``Count`` (Count): value 1;
- ``4xx``, ``5xx`` (Count): value 1 when the answer is in that class, else 0, so the Sum counts
  errors and the Average is the error rate, as on AWS;
- ``Latency`` (Milliseconds): the whole time the emulator spent on the request;
- ``IntegrationLatency`` (Milliseconds): the backend's time; absent when there was no
  integration call (404, 429, 401, 403).

Requests are aggregated in memory per wall-clock second and published every ``interval``
seconds with ``PutMetricData`` using ``Values``/``Counts`` (latencies rounded to three
significant digits, at most 150 values per datum, at most 1,000 data and 5,000 values per call),
stamped with the second the requests started in. boto3 runs in a worker thread, never on the
event loop. A failed call is logged once per outage and counted; its data are dropped.

    recorder = MetricsRecorder(config.metrics, api_id="abc", stage="$default")
    recorder.start()
    recorder.record(int(time.time()), 200, 3.2, 2.1)
    await recorder.close()   # flushes
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from ..datum import distribution
from .config import MetricsConfig

__all__ = ["MetricsRecorder", "NAMESPACE"]

log = logging.getLogger(__name__)

NAMESPACE = "AWS/ApiGateway"
_MAX_DATA_PER_CALL = 1000
_MAX_VALUES_PER_CALL = 5000
_FLUSH_TIMEOUT = 15.0


class _Second:
    """What happened in one wall-clock second."""

    __slots__ = ("count", "n4xx", "n5xx", "latency", "integration")

    def __init__(self) -> None:
        self.count = 0
        self.n4xx = 0
        self.n5xx = 0
        self.latency: dict[float, int] = {}
        self.integration: dict[float, int] = {}


def _round_ms(ms: float) -> float:
    """Three significant digits (0.01 ms under 10 ms), which bounds the distinct values."""
    if ms < 10.0:
        return round(ms, 2)
    if ms < 100.0:
        return round(ms, 1)
    if ms < 1000.0:
        return float(round(ms))
    return float(round(ms, -1))


class MetricsRecorder:
    """Aggregates requests per second and publishes them to CloudWatch in the background.

    ``cloudwatch_client``: a boto3 CloudWatch client to use; by default one is made (in the
    publishing thread) from ``AwsContext(region=config.region, endpoint_url=config.endpoint_url)``.
    """

    def __init__(
        self,
        config: MetricsConfig,
        *,
        api_id: str,
        stage: str,
        cloudwatch_client: Any | None = None,
    ) -> None:
        self.config = config
        self.enabled = config.enabled
        self.dimensions = [{"Name": "ApiId", "Value": api_id}, {"Name": "Stage", "Value": stage}]
        self._client = cloudwatch_client
        self._seconds: dict[int, _Second] = {}
        self._current_second = -1
        self._current = _Second()
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.stats: dict[str, Any] = {
            "put_calls": 0,
            "put_errors": 0,
            "data_published": 0,
            "data_dropped": 0,
            "last_error": None,
        }

    # -- the hot path --------------------------------------------------------------------------

    def record(self, second: int, status: int, latency_ms: float, integration_ms: float | None) -> None:
        """Count one request that started in epoch ``second``."""
        if second != self._current_second:
            bucket = self._seconds.get(second)
            if bucket is None:
                bucket = self._seconds[second] = _Second()
            self._current, self._current_second = bucket, second
        else:
            bucket = self._current
        bucket.count += 1
        if status >= 400:
            if status < 500:
                bucket.n4xx += 1
            elif status < 600:
                bucket.n5xx += 1
        value = _round_ms(latency_ms)
        latency = bucket.latency
        latency[value] = latency.get(value, 0) + 1
        if integration_ms is not None:
            value = _round_ms(integration_ms)
            integration = bucket.integration
            integration[value] = integration.get(value, 0) + 1

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Begin publishing every ``interval`` seconds (no-op when metrics are disabled)."""
        if not self.enabled or self._task is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apigw-metrics")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="apigw-metrics")
        self._executor.submit(self._warm_up)  # build the boto3 client now, not under load

    async def close(self) -> None:
        """Stop the periodic task and publish everything still held."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self.enabled and self._executor is not None:
            try:
                await asyncio.wait_for(self.flush(), _FLUSH_TIMEOUT)
            except TimeoutError:
                log.warning("gave up flushing metrics after %.0f s", _FLUSH_TIMEOUT)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def flush(self) -> None:
        """Publish every second aggregated so far."""
        seconds, self._seconds = self._seconds, {}
        self._current_second = -1
        if not seconds:
            return
        data = list(self._metric_data(seconds))
        loop = asyncio.get_running_loop()
        for call in _calls(data):
            await loop.run_in_executor(self._executor, self._put, call)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.interval)
            try:
                await self.flush()
            except Exception:  # never let the publisher die; _put already counts failures
                log.exception("metrics publishing failed")

    # -- building and sending ------------------------------------------------------------------

    def _metric_data(self, seconds: dict[int, _Second]) -> Iterator[dict[str, Any]]:
        dims = self.dimensions
        for second in sorted(seconds):
            b = seconds[second]
            if not b.count:
                continue
            ts = datetime.fromtimestamp(second, tz=UTC)
            yield from distribution("Count", "Count", dims, ts, [(1.0, b.count)])
            for name, k in (("4xx", b.n4xx), ("5xx", b.n5xx)):
                yield from distribution(name, "Count", dims, ts, [(0.0, b.count - k), (1.0, k)])
            yield from distribution("Latency", "Milliseconds", dims, ts, b.latency.items())
            if b.integration:
                yield from distribution("IntegrationLatency", "Milliseconds", dims, ts, b.integration.items())

    def _cloudwatch(self) -> Any:
        """The boto3 client, made on first use (in the publishing thread)."""
        if self._client is None:
            from harness.aws import AwsContext

            ctx = AwsContext(region=self.config.region, endpoint_url=self.config.endpoint_url)
            self._client = ctx.client("cloudwatch")
        return self._client

    def _warm_up(self) -> None:
        try:
            self._cloudwatch()
        except Exception:  # reported by the first _put that fails the same way
            pass

    def _put(self, data: list[dict[str, Any]]) -> None:
        """Runs in the publishing thread."""
        try:
            self._cloudwatch().put_metric_data(Namespace=NAMESPACE, MetricData=data)
        except Exception as exc:  # boto3 raises many types; all mean "not published"
            self.stats["put_errors"] += 1
            self.stats["data_dropped"] += len(data)
            self.stats["last_error"] = f"{type(exc).__name__}: {exc}"
            if not self._failing:
                self._failing = True
                log.warning(
                    "could not publish metrics to CloudWatch (%s: %s); dropping them until it works again",
                    type(exc).__name__,
                    exc,
                )
            return
        self.stats["put_calls"] += 1
        self.stats["data_published"] += len(data)
        if self._failing:
            self._failing = False
            log.info("publishing metrics to CloudWatch again")


def _calls(data: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Split data into PutMetricData calls within the per-call limits."""
    call: list[dict[str, Any]] = []
    values = 0
    for datum in data:
        n = len(datum["Values"])
        if call and (len(call) >= _MAX_DATA_PER_CALL or values + n > _MAX_VALUES_PER_CALL):
            yield call
            call, values = [], 0
        call.append(datum)
        values += n
    if call:
        yield call
