"""The server's view: read-only helpers over the long CloudWatch frame from ``harness.metrics``.

The frame has one row per (layer, resource, metric, key, stat, scope, timestamp, period)::

    layer  resource        metric    key      stat  scope   timestamp (UTC)       period  value
    apigw  abc123/$default Latency   latency  p95   series  2025-11-26 15:00:00   60      41.2
    apigw  abc123/$default Latency   latency  p95   run     2025-11-26 15:00:00   3600    38.9

``scope == "series"`` rows are one period each; NaN means CloudWatch had no datapoint (drawn
as a gap, never as zero). ``scope == "run"`` holds one whole-run value.

    server = ServerMetrics(frame)
    server.series("apigw", "4xx", "Sum")          # pd.Series indexed by Unix seconds, or None
    server.run_value("apigw", "latency", "p95")   # float or None: harness.metrics.RunValues, as the gates read it
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.metrics import COLUMNS, RunValue, RunValues

__all__ = ["THROTTLE_SIGNALS", "NOT_MEASURED", "ServerMetrics", "Series", "no_data"]

_ADDITIVE = {"Sum", "SampleCount"}
_EMPTY = pd.DataFrame(columns=list(COLUMNS))

# Where each layer's throttling shows in CloudWatch, for "who throttled first" and the chart:
# (layer name, frame layer, keys summed, signal, label, note, driven by our requests)
THROTTLE_SIGNALS: tuple[tuple[str, str, tuple[str, ...], str, str, str, bool], ...] = (
    ("API Gateway", "apigw", ("4xx",), "4xx > 0", "API Gateway 4xx", "4xx also counts 401/403/404, not only 429 throttles", True),
    ("Lambda", "lambda", ("throttles",), "Throttles > 0", "Lambda Throttles", "", True),
    ("Cognito", "cognito", ("sign_in_throttles", "token_refresh_throttles"), "SignInThrottles + TokenRefreshThrottles > 0", "Cognito throttles", "", False),
    ("Step Functions", "states", ("execution_throttled",), "ExecutionThrottled > 0", "Step Functions ExecutionThrottled", "", True),
)


#: why a layer has no rows in the frame at all: the scenario named nothing to measure there
NOT_MEASURED = {
    "apigw": "not measured: the run names no API for CloudWatch (target.api_id and target.stage)",
    "lambda": "not measured: the scenario names no functions in target.lambda_functions",
    "cognito": "not measured: the scenario has no user pool",
    "states": "not measured: the run uses no state machine",
}


def no_data(label: str, why: str) -> str:
    """``Lambda Throttles: no data (not measured: ...)``: one wording for every missing source."""
    return f"{label}: no data ({why})"


@dataclass(frozen=True)
class Series:
    """A regular CloudWatch series: ``values`` indexed by the Unix second each period starts."""

    values: pd.Series
    period: int
    resource: str
    metric: str


class ServerMetrics:
    """Lookups over the metrics frame; every method answers None when the data are missing."""

    def __init__(self, frame: pd.DataFrame | None) -> None:
        self._values: RunValues | None = None
        if frame is not None and not frame.empty:
            missing = [c for c in COLUMNS if c not in frame.columns]
            if missing:
                raise ValueError(f"the metrics frame lacks columns {missing}; expected {list(COLUMNS)} (see harness.metrics)")
            frame = frame.copy()
            frame["unix"] = _unix(frame["timestamp"])
            self.frame: pd.DataFrame | None = frame
        else:
            self.frame = None

    @property
    def available(self) -> bool:
        return self.frame is not None

    def why_no_data(self, layer: str) -> str:
        """Why a layer's metric has no data, said the same way everywhere (charts, tables):
        no CloudWatch data at all, a layer the run did not measure, or no datapoints."""
        if self.frame is None:
            return "no CloudWatch data for this run"
        if not (self.frame["layer"] == layer).any():
            return NOT_MEASURED.get(layer, f"the run did not measure {layer}")
        return "CloudWatch returned no datapoints"

    def _rows(self, layer: str, key: str | None = None, stat: str | None = None, scope: str | None = None) -> pd.DataFrame | None:
        if self.frame is None:
            return None
        f = self.frame
        mask = f["layer"] == layer
        if key is not None:
            mask &= f["key"] == key
        if stat is not None:
            mask &= f["stat"] == stat
        if scope is not None:
            mask &= f["scope"] == scope
        rows = f[mask]
        return rows if not rows.empty else None

    def series_by_resource(self, layer: str, key: str, stat: str) -> list[Series]:
        """One regular series per resource (missing periods filled with NaN, never zero)."""
        rows = self._rows(layer, key, stat, "series")
        if rows is None:
            return []
        out = []
        for resource, part in rows.groupby("resource", sort=True):
            period = int(part["period"].mode().iloc[0]) if part["period"].notna().any() else 60
            values = _regular(part.groupby("unix")["value"].mean(), period)
            out.append(Series(values=values, period=period, resource=str(resource), metric=str(part["metric"].iloc[0])))
        return out

    def series(self, layer: str, key: str, stat: str = "Sum") -> Series | None:
        """One series for the layer: additive stats are summed over resources (NaN only where
        every resource is missing); other stats need a single resource and take the first."""
        parts = self.series_by_resource(layer, key, stat)
        if not parts:
            return None
        if len(parts) == 1 or stat not in _ADDITIVE:
            return parts[0]
        period = min(p.period for p in parts)
        values = _regular(pd.concat([p.values for p in parts], axis=1).sum(axis=1, min_count=1), period)
        return Series(values=values, period=period, resource=f"{len(parts)} resources", metric=parts[0].metric)

    def run(self, layer: str, key: str, stat: str, *, resource: str | None = None) -> RunValue:
        """The whole-run value as the gates read it (``harness.metrics.RunValues``: sums add up
        over resources, max/min combine, a percentile of several resources has none and lists
        theirs in ``per_resource``)."""
        if self._values is None:
            self._values = RunValues(self.frame if self.frame is not None else _EMPTY)
        return self._values.get(layer, key, stat, resource=resource)

    def run_value(self, layer: str, key: str, stat: str, *, resource: str | None = None) -> float | None:
        """The whole-run value of ``run``, or None when there is none."""
        return self.run(layer, key, stat, resource=resource).value

    def first_nonzero(self, layer: str, keys: tuple[str, ...], stat: str = "Sum") -> tuple[float, int, float] | None:
        """(Unix second the first period with a non-zero value starts, period, total) summed over
        ``keys``; None when the data are missing; (nan, period, 0) when present but all zero."""
        found = [s for s in (self.series(layer, k, stat) for k in keys) if s is not None and s.values.notna().any()]
        if not found:  # no rows, or only periods without datapoints: unknown, not zero
            return None
        period = min(s.period for s in found)
        total = float(sum(s.values.sum() for s in found))  # NaN periods count as nothing
        starts = [float(s.values.index[s.values > 0][0]) for s in found if (s.values > 0).any()]
        return (min(starts), period, total) if starts else (float("nan"), period, 0.0)


def _regular(values: pd.Series, period: int) -> pd.Series:
    """``values`` (indexed by Unix seconds) on a grid of one row per period: a missing period
    becomes a NaN row, so a line drawn through it shows a gap instead of bridging it."""
    values = values.sort_index()
    grid = np.arange(values.index.min(), values.index.max() + period / 2, period)
    return values.reindex(grid, method="nearest", tolerance=period / 2)


def _unix(timestamps: pd.Series) -> pd.Series:
    ts = pd.to_datetime(timestamps, utc=True)
    return (ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
