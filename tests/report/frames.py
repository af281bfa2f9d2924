"""Small hand-made inputs for the report tests: a CloudWatch frame from a few values."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

RESOURCES = {"apigw": "abc123/$default", "lambda": "orders-api", "cognito": "eu-west-1_AbCdEf123/client", "states": "arn:sm"}


def frame(rows: Iterable[tuple[str, str, str, int, int, float]], *, scope: str = "series") -> pd.DataFrame:
    """``rows``: (layer, key, stat, unix second, period, value) -> the long metrics frame."""
    out = [
        {
            "layer": layer,
            "resource": RESOURCES[layer],
            "metric": key,
            "key": key,
            "stat": stat,
            "scope": scope,
            "timestamp": pd.Timestamp(unix, unit="s", tz="UTC"),
            "period": period,
            "value": value,
        }
        for layer, key, stat, unix, period, value in rows
    ]
    return pd.DataFrame(out)


def series(layer: str, key: str, start: int, values: list[float], *, period: int = 1, stat: str = "Sum") -> list[tuple[str, str, str, int, int, float]]:
    return [(layer, key, stat, start + i * period, period, v) for i, v in enumerate(values)]
