"""One CloudWatch ``PutMetricData`` datum of a distribution, as the local stack's publishers
send it (the API Gateway emulator, the Lambda runtime, Cognito's metrics) and the local
CloudWatch (``harness.local.cloudwatch``) accepts it::

    data = distribution("Latency", "Milliseconds", dims, stamp, [(12.5, 3), (14.0, 1)])
    cloudwatch.put_metric_data(Namespace="AWS/ApiGateway", MetricData=data)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

__all__ = ["MAX_VALUES_PER_DATUM", "distribution"]

MAX_VALUES_PER_DATUM = 150
"""AWS PutMetricData: a datum's ``Values`` holds "as many as 150 unique values"."""


def distribution(name: str, unit: str, dims: list[dict[str, str]], timestamp: datetime, pairs: Iterable[tuple[float, int]]) -> list[dict[str, Any]]:
    """(value, count) pairs as ``Values``/``Counts`` data, in value order, at most
    ``MAX_VALUES_PER_DATUM`` values each; pairs counted 0 times are left out (none: no datum)."""
    kept = sorted((float(v), int(c)) for v, c in pairs if c)
    return [
        {
            "MetricName": name,
            "Dimensions": dims,
            "Timestamp": timestamp,
            "Unit": unit,
            "Values": [v for v, _ in chunk],
            "Counts": [float(c) for _, c in chunk],
        }
        for chunk in (kept[i : i + MAX_VALUES_PER_DATUM] for i in range(0, len(kept), MAX_VALUES_PER_DATUM))
    ]
