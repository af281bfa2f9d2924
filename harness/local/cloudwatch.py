"""Our extensions to moto's CloudWatch: compact value storage and percentiles.

moto stores ``PutMetricData`` ``Values``/``Counts`` as one object per count (600,000 objects
for a 10-minute run at 1,000 rps) and knows no percentiles. ``install()`` patches moto's
CloudWatch backend, in the process that runs it (``python -m harness.local.moto`` calls it):

- **Storage.** A datum with ``Values``/``Counts`` is kept as one ``DistributionDatum`` that
  holds the (value, count) pairs and their SampleCount/Sum/Minimum/Maximum, so one datum of
  up to 150 distinct values is one stored object whatever the counts.
- **GetMetricStatistics** answers ``ExtendedStatistics`` (``p50``, ``p95``, ``p99.9``, ...) in
  each datapoint's ``ExtendedStatistics`` map; the normal statistics weight every value by its
  count (SampleCount = sum of counts, Sum = sum of value x count, Average = Sum / SampleCount).
- **GetMetricData** answers ``Stat: "p95"`` (etc.) as well as the normal statistics, and
  honours ``MaxDatapoints``/``NextToken`` (a partial page has ``StatusCode: PartialData``).

Semantics, chosen to match AWS where AWS documents them:

- Periods are ``1, 5, 10, 20, 30`` or a multiple of 60 seconds (AWS's rule for high-resolution
  metrics; locally every metric is high-resolution). As on AWS, ``StartTime`` is rounded down
  to a whole minute (to a multiple of the period for periods under a minute) and periods
  follow each other from there; ``EndTime`` is exclusive.
- A metric is matched on namespace, name and its *exact* set of dimensions (moto matched a
  subset; AWS does not). A period without data has no datapoint (never a zero).
- GetMetricStatistics takes ``Statistics`` or ``ExtendedStatistics``, not both, and at most
  1,440 datapoints per call, like AWS.
- Percentiles are **nearest-rank** over the (value, count) pairs in the period: with N the sum
  of counts, ``pQ`` is the smallest value v such that the count of values <= v is at least
  ceil(Q/100 x N) (at least 1). ``p0`` is the minimum, ``p100`` the maximum. A datum sent as
  ``StatisticValues`` contributes to percentiles only when its Minimum equals its Maximum
  (otherwise its values are unknown and the percentile is left out), as on AWS.

    from harness.local.cloudwatch import install
    install()          # before the moto server handles its first request
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from moto.cloudwatch import responses as cw_responses
from moto.cloudwatch.exceptions import InvalidParameterCombination, InvalidParameterValue, ValidationError
from moto.cloudwatch.metric_data_expression_parser import parse_expression
from moto.cloudwatch.models import (
    CloudWatchBackend,
    MetricAggregatedDatum,
    MetricDatum,
    MetricDatumBase,
    cloudwatch_backends,
)
from moto.core.responses import ActionResult

from harness.local.datum import MAX_VALUES_PER_DATUM

__all__ = [
    "DistributionDatum",
    "install",
    "nearest_rank",
    "parse_percentile",
    "storage_stats",
]

_EPOCH = datetime(1970, 1, 1)
_BASIC_STATS = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100(?:\.0+)?)$")
_MAX_STATISTICS_DATAPOINTS = 1_440  # AWS GetMetricStatistics limit
_DEFAULT_MAX_DATAPOINTS = 100_800  # AWS GetMetricData default
_installed = False


class DistributionDatum(MetricDatumBase):
    """One ``PutMetricData`` datum given as ``Values``/``Counts``, kept as (value, count) pairs."""

    def __init__(
        self,
        *,
        namespace: str,
        name: str,
        values: list[float],
        counts: list[float],
        dimensions: list[dict[str, str]],
        timestamp: datetime | None,
        unit: str | None,
    ) -> None:
        super().__init__(namespace, name, dimensions, timestamp, unit)
        self.values = tuple(values)
        self.counts = tuple(counts)
        self.sample_count = math.fsum(counts)
        self.sum = math.fsum(v * c for v, c in zip(values, counts))
        self.min = min(values)
        self.max = max(values)

    @property
    def metric_name(self) -> str:  # for moto's serializer (ListMetrics)
        return self.name


# --------------------------------------------------------------------------- percentiles


def parse_percentile(stat: str) -> Fraction | None:
    """``"p99.9"`` -> ``Fraction(999, 1000)``; None when ``stat`` is not a percentile."""
    m = _PERCENTILE.match(stat)
    return Fraction(m.group(1)) / 100 if m else None


def nearest_rank(pairs: Iterable[tuple[float, float]], q: Fraction) -> float | None:
    """The nearest-rank percentile ``q`` (0..1) of (value, count) pairs; None when empty.

    >>> nearest_rank([(1.0, 2), (5.0, 1), (9.0, 1)], Fraction(1, 2))
    1.0
    """
    return _Distribution(pairs).percentile(q)


class _Distribution:
    """(value, count) pairs merged and sorted once, for any number of percentile look-ups."""

    def __init__(self, pairs: Iterable[tuple[float, float]]) -> None:
        merged: dict[float, float] = {}
        for value, count in pairs:
            merged[value] = merged.get(value, 0.0) + count
        self.values = sorted(merged)
        self.cumulative = list(itertools.accumulate(merged[v] for v in self.values))
        self.total = self.cumulative[-1] if self.cumulative else 0.0

    def percentile(self, q: Fraction) -> float | None:
        if self.total <= 0:
            return None
        rank = max(1, math.ceil(q * Fraction(self.total)))
        # the first value whose cumulative count reaches the rank (tolerance for fractional counts)
        i = bisect.bisect_left(self.cumulative, rank - 1e-9 * self.total)
        return self.values[min(i, len(self.values) - 1)]


# --------------------------------------------------------------------------- aggregation


def _epoch_seconds(ts: datetime) -> float:
    """moto keeps naive UTC datetimes; an aware one is converted first."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return (ts - _EPOCH).total_seconds()


class _Aggregate:
    """Statistics of the datums that fall in one period."""

    def __init__(self) -> None:
        self.datums: list[MetricDatumBase] = []

    def add(self, datum: MetricDatumBase) -> None:
        self.datums.append(datum)

    def basic(self) -> dict[str, float]:
        count = total = 0.0
        low, high = math.inf, -math.inf
        for d in self.datums:
            if isinstance(d, MetricDatum):
                count += 1
                total += d.value
                low, high = min(low, d.value), max(high, d.value)
            elif isinstance(d, (DistributionDatum, MetricAggregatedDatum)):
                count += d.sample_count
                total += d.sum
                low, high = min(low, d.min), max(high, d.max)
        if count <= 0:  # only empty statistic sets: nothing but zeros to report
            return {"SampleCount": count, "Sum": total}
        return {"SampleCount": count, "Sum": total, "Average": total / count, "Minimum": low, "Maximum": high}

    def pairs(self) -> list[tuple[float, float]] | None:
        """All (value, count) pairs, or None when some datum's values are unknown."""
        out: list[tuple[float, float]] = []
        for d in self.datums:
            if isinstance(d, DistributionDatum):
                out.extend(zip(d.values, d.counts))
            elif isinstance(d, MetricDatum):
                out.append((d.value, 1.0))
            elif isinstance(d, MetricAggregatedDatum):
                if d.min != d.max:
                    return None
                out.append((d.min, d.sample_count))
        return out

    def compute(self, stats: Iterable[str]) -> dict[str, float]:
        """The requested statistics that exist for this period (absent ones are left out)."""
        basic = self.basic()
        distribution: _Distribution | None = None
        out: dict[str, float] = {}
        for stat in stats:
            if stat in basic:
                out[stat] = basic[stat]
                continue
            q = parse_percentile(stat)
            if q is None:
                continue
            if distribution is None:
                distribution = _Distribution(self.pairs() or ())
            value = distribution.percentile(q)
            if value is not None:
                out[stat] = value
        return out


def _check_period(period: Any, where: str) -> int:
    try:
        p = int(period)
    except (TypeError, ValueError):
        raise InvalidParameterValue(f"The parameter {where} must be an integer number of seconds.") from None
    if p <= 0 or (p not in (1, 5, 10, 20, 30) and p % 60):
        raise InvalidParameterValue(f"The parameter {where} must be 1, 5, 10, 20, 30 or a multiple of 60; got {period}.")
    return p


def _check_stat(stat: str, where: str) -> None:
    if stat not in _BASIC_STATS and parse_percentile(stat) is None:
        raise InvalidParameterValue(
            f"The value {stat} for parameter {where} is not supported locally; "
            "use SampleCount, Sum, Average, Minimum, Maximum or a percentile such as p95 or p99.9."
        )


def _same_dimensions(datum: MetricDatumBase, wanted: set[tuple[str, str]]) -> bool:
    return {(d.name, d.value) for d in datum.dimensions} == wanted


def _select(
    backend: CloudWatchBackend,
    *,
    namespace: str,
    name: str,
    dimensions: list[dict[str, str]],
    unit: str | None,
    start: float,
    end: float,
) -> list[tuple[float, MetricDatumBase]]:
    """(epoch seconds, datum) for one metric (exact dimension set) within [start, end)."""
    wanted = {(d["Name"], d["Value"]) for d in dimensions or ()}
    out = []
    for md in backend.get_all_metrics():
        if md.name != name or md.namespace != namespace:
            continue
        if unit and md.unit != unit:
            continue
        if not _same_dimensions(md, wanted):
            continue
        ts = _epoch_seconds(md.timestamp)
        if start <= ts < end:
            out.append((ts, md))
    return out


def _buckets(data: list[tuple[float, MetricDatumBase]], origin: float, period: int) -> dict[int, _Aggregate]:
    """Datums grouped by the start (epoch seconds) of their period, ascending."""
    groups: dict[int, _Aggregate] = {}
    for ts, md in data:
        groups.setdefault(int(origin + ((ts - origin) // period) * period), _Aggregate()).add(md)
    return dict(sorted(groups.items()))


def _to_datetime(epoch: int) -> datetime:
    return _EPOCH + timedelta(seconds=epoch)


def _window(start_time: datetime, end_time: datetime, period: int) -> tuple[float, float]:
    """[start, end) in epoch seconds, start rounded down as AWS does (see the module doc)."""
    grain = period if period < 60 else 60
    start = _epoch_seconds(start_time)
    return (start // grain) * grain, _epoch_seconds(end_time)


class _Datapoint:
    """One GetMetricStatistics datapoint, shaped for moto's serializer (snake_case attributes)."""

    def __init__(self, timestamp: datetime, unit: str | None, stats: dict[str, float], extended: list[str]):
        self.timestamp = timestamp
        self.unit = unit or "None"
        self.sample_count = stats.get("SampleCount")
        self.sum = stats.get("Sum")
        self.average = stats.get("Average")
        self.minimum = stats.get("Minimum")
        self.maximum = stats.get("Maximum")
        self.extended_statistics = {s: stats[s] for s in extended if s in stats} or None


# --------------------------------------------------------------------------- backend methods


def _put_metric_data(self: CloudWatchBackend, namespace: str, metric_data: list[dict[str, Any]]) -> None:
    """Like moto's, but ``Values``/``Counts`` become one ``DistributionDatum`` each."""
    for i, metric in enumerate(metric_data, start=1):
        self._validate_parameters_put_metric_data(metric, i)
        if len(metric.get("Values") or ()) > MAX_VALUES_PER_DATUM:
            raise InvalidParameterValue(f"The collection MetricData.member.{i}.Values must not have a size greater than 150.")
    rest = []
    for metric in metric_data:
        if not metric.get("Values"):
            rest.append(metric)  # Value and StatisticValues: moto's own storage is compact already
            continue
        values = [float(v) for v in metric["Values"]]
        counts = [float(c) for c in (metric.get("Counts") or [1.0] * len(values))]
        kept = [(v, c) for v, c in zip(values, counts) if c > 0]
        if not kept:
            continue
        self.metric_data.append(
            DistributionDatum(
                namespace=namespace,
                name=metric["MetricName"],
                values=[v for v, _ in kept],
                counts=[c for _, c in kept],
                dimensions=metric.get("Dimensions") or [],
                timestamp=metric.get("Timestamp"),
                unit=metric.get("Unit"),
            )
        )
    if rest:
        _original["put_metric_data"](self, namespace, rest)


def _get_metric_statistics(
    self: CloudWatchBackend,
    namespace: str,
    metric_name: str,
    start_time: datetime,
    end_time: datetime,
    period: int,
    stats: list[str],
    dimensions: list[dict[str, str]],
    unit: str | None = None,
    extended_statistics: list[str] | None = None,
) -> list[_Datapoint]:
    """Datapoints (ascending) with the count-weighted statistics and percentiles asked for."""
    period = _check_period(period, "Period")
    extended = list(extended_statistics or [])
    for i, stat in enumerate(stats, start=1):
        if stat not in _BASIC_STATS:
            raise InvalidParameterValue(f"The value {stat} for parameter Statistics.member.{i} is not valid.")
    for i, stat in enumerate(extended, start=1):
        if parse_percentile(stat) is None:
            raise InvalidParameterValue(
                f"The value {stat} for parameter ExtendedStatistics.member.{i} is not supported locally; use a percentile such as p95 or p99.9."
            )
    if start_time >= end_time:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
    start, end = _window(start_time, end_time, period)
    requested = math.ceil((end - start) / period)
    if requested > _MAX_STATISTICS_DATAPOINTS:
        raise InvalidParameterCombination(
            f"You have requested up to {requested:,} datapoints, which exceeds the limit of 1,440. "
            "You may reduce the datapoints requested by increasing Period, or decreasing the time range."
        )
    data = _select(self, namespace=namespace, name=metric_name, dimensions=dimensions, unit=unit, start=start, end=end)
    points = []
    for bucket, agg in _buckets(data, start, period).items():
        values = agg.compute([*stats, *extended])
        if values:
            points.append(_Datapoint(_to_datetime(bucket), agg.datums[-1].unit, values, extended))
    return points


def _metric_stat_result(backend: CloudWatchBackend, query: dict[str, Any], number: int, start_time: datetime, end_time: datetime) -> dict[str, Any]:
    """One MetricStat query's result, timestamps ascending."""
    metric_stat = query["MetricStat"]
    metric = metric_stat["Metric"]
    period = _check_period(metric_stat.get("Period"), f"MetricDataQueries.member.{number}.MetricStat.Period")
    stat = metric_stat["Stat"]
    _check_stat(stat, f"MetricDataQueries.member.{number}.MetricStat.Stat")
    start, end = _window(start_time, end_time, period)
    data = _select(
        backend,
        namespace=metric["Namespace"],
        name=metric["MetricName"],
        dimensions=metric.get("Dimensions") or [],
        unit=metric_stat.get("Unit"),
        start=start,
        end=end,
    )
    timestamps, values = [], []
    for bucket, agg in _buckets(data, start, period).items():
        value = agg.compute([stat]).get(stat)
        if value is not None:
            timestamps.append(_to_datetime(bucket))
            values.append(value)
    return {
        "id": query["Id"],
        "label": query.get("Label") or f"{metric['MetricName']} {stat}",
        "values": values,
        "timestamps": timestamps,
        "status_code": "Complete",
    }


def _get_metric_data(
    self: CloudWatchBackend,
    queries: list[dict[str, Any]],
    start_time: datetime,
    end_time: datetime,
    scan_by: str = "TimestampDescending",
    max_datapoints: int | None = None,
    next_token: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """(results, next token). MetricStat queries are ours; expressions and SELECT go to moto."""
    pages: dict[str, list[dict[str, Any]]] = self.__dict__.setdefault("_harness_pages", {})
    if next_token:
        if next_token not in pages:
            raise InvalidParameterValue("Request parameter NextToken is invalid")
        return _paginate(pages, pages.pop(next_token), max_datapoints)
    if start_time >= end_time:
        raise ValidationError("The parameter EndTime must be greater than StartTime.")

    computed = {}
    for number, query in enumerate(queries, start=1):
        if "MetricStat" in query:
            computed[query["Id"]] = _metric_stat_result(self, query, number, start_time, end_time)
    results: list[dict[str, Any]] = []
    select_queries = []
    for query in queries:
        if "MetricStat" in query:
            if query.get("ReturnData", True):
                results.append(computed[query["Id"]])
        elif query.get("Expression", "").startswith("SELECT"):
            select_queries.append(query)
        elif "Expression" in query:  # moto's metric math: a reference to another query's id
            values, timestamps = parse_expression(query["Expression"], list(computed.values()))
            results.append(
                {
                    "id": query["Id"],
                    "label": query.get("Label") or query["Id"],
                    "values": values,
                    "timestamps": timestamps,
                    "status_code": "Complete",
                }
            )
    if select_queries:
        results.extend(_original["get_metric_data"](self, select_queries, start_time, end_time, "TimestampAscending"))
    for result in results:
        if scan_by == "TimestampDescending":
            result["timestamps"] = list(reversed(result["timestamps"]))
            result["values"] = list(reversed(result["values"]))
    return _paginate(pages, results, max_datapoints)


def _paginate(pages: dict[str, list[dict[str, Any]]], results: list[dict[str, Any]], max_datapoints: int | None) -> tuple[list[dict[str, Any]], str | None]:
    """Return at most ``max_datapoints`` values in all; park the rest under a fresh token."""
    budget = max_datapoints or _DEFAULT_MAX_DATAPOINTS
    page: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for result in results:
        n = len(result["values"])
        if n <= budget:
            page.append(result)
            budget -= n
            continue
        head = {**result, "values": result["values"][:budget], "timestamps": result["timestamps"][:budget]}
        page.append({**head, "status_code": "PartialData"})
        rest.append({**result, "values": result["values"][budget:], "timestamps": result["timestamps"][budget:]})
        budget = 0
    if not rest:
        return page, None
    token = uuid.uuid4().hex
    pages[token] = rest
    return page, token


# --------------------------------------------------------------------------- response methods


def _response_get_metric_statistics(self: cw_responses.CloudWatchResponse) -> ActionResult:
    """moto's handler drops ExtendedStatistics; this one passes them on."""
    statistics = self._get_param("Statistics", [])
    extended = self._get_param("ExtendedStatistics", [])
    if not statistics and not extended:
        raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics")
    if statistics and extended:
        raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics, but not both")
    metric_name = self._get_param("MetricName")
    datapoints = _get_metric_statistics(  # the backend method, as installed below, typed
        self.cloudwatch_backend,
        self._get_param("Namespace"),
        metric_name,
        self._get_param("StartTime"),
        self._get_param("EndTime"),
        self._get_param("Period"),
        statistics,
        self._get_param("Dimensions", []),
        unit=self._get_param("Unit"),
        extended_statistics=extended,
    )
    return ActionResult({"Label": metric_name, "Datapoints": datapoints})


def _response_get_metric_data(self: cw_responses.CloudWatchResponse) -> ActionResult:
    """moto's handler ignores MaxDatapoints and NextToken; this one passes them on."""
    params = self._get_params()
    queries = params.get("MetricDataQueries", [])
    for number, query in enumerate(queries, start=1):
        if "MetricStat" not in query and "Expression" not in query:
            raise ValidationError(f"The parameter MetricDataQueries.member.{number}.MetricStat is required.\n")
    results, token = _get_metric_data(  # the backend method, as installed below, typed
        self.cloudwatch_backend,
        queries=queries,
        start_time=params["StartTime"],
        end_time=params["EndTime"],
        scan_by=params.get("ScanBy") or "TimestampDescending",
        max_datapoints=params.get("MaxDatapoints"),
        next_token=params.get("NextToken"),
    )
    return ActionResult({"MetricDataResults": results, "NextToken": token})


# --------------------------------------------------------------------------- install


_original: dict[str, Any] = {
    "put_metric_data": CloudWatchBackend.put_metric_data,
    "get_metric_data": CloudWatchBackend.get_metric_data,
}


def install() -> None:
    """Patch moto's CloudWatch in this process (idempotent)."""
    global _installed
    if _installed:
        return
    CloudWatchBackend.put_metric_data = _put_metric_data
    CloudWatchBackend.get_metric_statistics = _get_metric_statistics  # type: ignore[assignment]
    CloudWatchBackend.get_metric_data = _get_metric_data  # type: ignore[assignment]
    cw_responses.CloudWatchResponse.get_metric_statistics = _response_get_metric_statistics
    cw_responses.CloudWatchResponse.get_metric_data = _response_get_metric_data
    _installed = True


def storage_stats() -> dict[str, int]:
    """What moto's CloudWatch holds in this process: stored datums and the value pairs in them.

    Served by our moto server at ``GET /_harness/cloudwatch/storage``.
    """
    datums = pairs = 0
    for account in dict.values(cloudwatch_backends):
        for backend in dict.values(account):
            for md in backend.metric_data:
                datums += 1
                pairs += len(md.values) if isinstance(md, DistributionDatum) else 1
    return {"datums": datums, "value_pairs": pairs}
