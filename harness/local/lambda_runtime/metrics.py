"""``AWS/Lambda`` metrics into moto's CloudWatch: tallied per function and second (stamped with
the second the invocation started), published by ``Metrics.flush()``."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends

from harness.local.datum import distribution
from harness.local.lambda_runtime.function import FnKey

__all__ = ["NAMESPACE", "Metrics"]

NAMESPACE = "AWS/Lambda"


@dataclass
class Tally:
    """What one function did in one second."""

    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    concurrency: int = 0
    durations: dict[float, int] = field(default_factory=dict)


class Metrics:
    """Per function and second; published to moto's CloudWatch by ``flush()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tallies: dict[tuple[FnKey, int], Tally] = {}

    def _tally(self, key: FnKey, second: int) -> Tally:
        tally = self._tallies.get((key, second))
        if tally is None:
            tally = self._tallies[(key, second)] = Tally()
        return tally

    def concurrency(self, running: Mapping[FnKey, int], second: int) -> None:
        with self._lock:
            for key, n in running.items():
                tally = self._tally(key, second)
                tally.concurrency = max(tally.concurrency, n)

    def throttled(self, key: FnKey, second: int) -> None:
        with self._lock:
            self._tally(key, second).throttles += 1

    def finished(self, key: FnKey, second: int, duration_ms: float, error: bool) -> None:
        with self._lock:
            tally = self._tally(key, second)
            tally.invocations += 1
            tally.errors += int(error)
            value = round_ms(duration_ms)
            tally.durations[value] = tally.durations.get(value, 0) + 1

    def flush(self) -> None:
        with self._lock:
            tallies, self._tallies = self._tallies, {}
        batches: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for ((account, region, name), second), tally in sorted(tallies.items(), key=lambda kv: kv[0][1]):
            batches.setdefault((account, region), []).extend(data(name, second, tally))
        for (account, region), batch in batches.items():
            cloudwatch_backends[account][region].put_metric_data(NAMESPACE, batch)


def round_ms(ms: float) -> float:
    """Three significant digits (0.01 ms under 10 ms), which bounds the distinct values."""
    for limit, digits in ((10.0, 2), (100.0, 1), (1000.0, 0)):
        if ms < limit:
            return round(ms, digits)
    return float(round(ms, -1))


def data(name: str | None, second: int, t: Tally) -> list[dict[str, Any]]:
    """The metric data of one function (or, name None, the account) in one second."""
    dims = [{"Name": "FunctionName", "Value": name}] if name else []
    stamp = datetime.fromtimestamp(second, tz=UTC).replace(tzinfo=None)  # moto: naive UTC

    out = []
    if t.concurrency:
        out += distribution("ConcurrentExecutions", "Count", dims, stamp, [(float(t.concurrency), 1)])
    if name is None:
        return out
    if t.invocations:
        out += distribution("Invocations", "Count", dims, stamp, [(1.0, t.invocations)])
        out += distribution("Errors", "Count", dims, stamp, [(0.0, t.invocations - t.errors), (1.0, t.errors)])
        out += distribution("Duration", "Milliseconds", dims, stamp, t.durations.items())
    if t.invocations or t.throttles:
        out += distribution("Throttles", "Count", dims, stamp, [(0.0, t.invocations), (1.0, t.throttles)])
    return out
