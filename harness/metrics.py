"""Server-side metrics: CloudWatch ``GetMetricData`` -> a long pandas DataFrame.

``build_queries`` names what to read (API Gateway, Lambda, Cognito, Step Functions);
``pull`` reads it for a run, as time series around the run and as whole-run values::

    queries = build_queries(api_kind="http", api_id="a1b2c3", stage="$default",
                            lambda_functions=["orders"], user_pool_id=pool, client_id=client)
    df = pull(ctx.client("cloudwatch"), queries, start=run_start, end=run_end)
    run_value(df, "latency", "p95")          # CloudWatch's p95 over the whole run, or None
    RunValues(df).get("apigw", "latency", "p95")   # the same, with why not: gates, report, web UI
    series(df, "count", "Sum")               # per period, NaN where CloudWatch had no datapoint
    save(df, run_dir); load(run_dir)         # metrics.csv
    snapshot(cw, queries, start=run_start, end=now)   # the run so far, ONE call (the web UI)

The frame has the columns of ``COLUMNS``, one row per (query, scope, period):

=========  ==================================================================================
layer      ``apigw``, ``lambda``, ``cognito``, ``states``; ``generator``: the load generator's own
           Lambda functions (a fan-out run's workers), not the system under test
resource   ``<api id or name>/<stage>``, function name, ``<pool>/<client>``, state machine ARN
metric     the CloudWatch metric name (``4XXError`` for REST, ``4xx`` for HTTP APIs)
key        the normalised name (``4xx`` for both), see ``KEYS``
stat       ``Sum``, ``Average``, ``Maximum``, ``SampleCount``, ``p50``, ``p95``, ...
scope      ``series`` (one row per period of the window) or ``run`` (one period, whole run)
timestamp  start of the period, tz-aware UTC
period     seconds (int)
value      float; **NaN when CloudWatch returned no datapoint** (missing is never zero)
=========  ==================================================================================

Whole-run rows come from CloudWatch itself, over one period that covers the run, so a
whole-run percentile is CloudWatch's percentile of all the run's data, never an average of
per-period percentiles.

Periods follow CloudWatch's rules: 1, 5, 10, 20, 30 or a multiple of 60 seconds. AWS
namespaces publish at one-minute resolution, so the smallest period used is
``min_period``: argument > ``HARNESS_METRICS_MIN_PERIOD`` > 60 (the local stack, whose
metrics are per second, sets 1).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from harness.errors import MetricsUnavailable, UsageError

__all__ = [
    "COLUMNS",
    "KEYS",
    "MIN_PERIOD_ENV",
    "MetricQuery",
    "MetricSpec",
    "build_queries",
    "choose_period",
    "fetch",
    "load",
    "min_period_default",
    "pull",
    "RunValue",
    "RunValues",
    "run_value",
    "save",
    "series",
    "snapshot",
]

COLUMNS = ("layer", "resource", "metric", "key", "stat", "scope", "timestamp", "period", "value")
MIN_PERIOD_ENV = "HARNESS_METRICS_MIN_PERIOD"
FILE_NAME = "metrics.csv"
MAX_QUERIES_PER_CALL = 500  # GetMetricData: "as many as 500 MetricDataQuery structures"

Layer = Literal["apigw", "lambda", "cognito", "states", "generator"]
Scope = Literal["series", "run"]

_SUB_MINUTE = (1, 5, 10, 20, 30)
# Periods choose_period picks from (then multiples of a day): each at most 5x the one before,
# so a series keeps at least 60 points whenever the window allows.
_LADDER = (1, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_TARGET_POINTS = 300
_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
_PERCENTILE = re.compile(r"^p\d{1,2}(\.\d+)?$|^p100$")
_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorized"}
_DTYPES = {
    "layer": "object",
    "resource": "object",
    "metric": "object",
    "key": "object",
    "stat": "object",
    "scope": "object",
    "period": "int64",
    "value": "float64",
}


# --------------------------------------------------------------------------- what to read


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a service and the statistics we read of it."""

    metric: str
    key: str
    stats: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class MetricQuery:
    """One CloudWatch metric and statistic, with the names it gets in the DataFrame.

    ``id`` is the GetMetricData query id (``[a-z][a-zA-Z0-9_]*``, unique in one ``fetch``).
    """

    id: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    layer: Layer
    resource: str
    key: str

    @property
    def label(self) -> str:
        return f"{self.layer} {self.resource} {self.metric} {self.stat}"

    def to_api(self, period: int) -> dict[str, Any]:
        """The ``MetricDataQuery`` structure for this query at ``period`` seconds."""
        return {
            "Id": self.id,
            "Label": self.label,
            "ReturnData": True,
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": self.metric,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in self.dimensions],
                },
                "Period": period,
                "Stat": self.stat,
            },
        }


_LATENCY = ("Average", "Maximum", "SampleCount")  # plus the percentiles asked for

APIGW_HTTP = (
    MetricSpec("Count", "count", ("Sum",)),
    MetricSpec("4xx", "4xx", ("Sum",)),
    MetricSpec("5xx", "5xx", ("Sum",)),
    MetricSpec("Latency", "latency", _LATENCY),
    MetricSpec("IntegrationLatency", "integration_latency", _LATENCY),
)
APIGW_REST = (
    MetricSpec("Count", "count", ("Sum",)),
    MetricSpec("4XXError", "4xx", ("Sum",)),
    MetricSpec("5XXError", "5xx", ("Sum",)),
    MetricSpec("Latency", "latency", _LATENCY),
    MetricSpec("IntegrationLatency", "integration_latency", _LATENCY),
)
LAMBDA = (
    MetricSpec("Invocations", "invocations", ("Sum",)),
    MetricSpec("Errors", "errors", ("Sum",)),
    MetricSpec("Throttles", "throttles", ("Sum",)),
    MetricSpec("ConcurrentExecutions", "concurrent_executions", ("Maximum",)),
    MetricSpec("Duration", "duration", ("Average",)),
)
COGNITO = (
    MetricSpec("SignInSuccesses", "sign_in_successes", ("Sum",)),
    MetricSpec("SignInThrottles", "sign_in_throttles", ("Sum",)),
    MetricSpec("TokenRefreshSuccesses", "token_refresh_successes", ("Sum",)),
    MetricSpec("TokenRefreshThrottles", "token_refresh_throttles", ("Sum",)),
)
STATES = (
    MetricSpec("ExecutionThrottled", "execution_throttled", ("Sum",)),
    MetricSpec("ExecutionsFailed", "executions_failed", ("Sum",)),
)
_WITH_PERCENTILES = {"latency", "integration_latency", "duration"}

KEYS = tuple(dict.fromkeys(s.key for group in (APIGW_HTTP, LAMBDA, COGNITO, STATES) for s in group))
"""Every normalised metric key, in layer order."""


def build_queries(
    *,
    api_kind: Literal["http", "rest"] = "http",
    api_id: str | None = None,
    api_name: str | None = None,
    stage: str | None = None,
    lambda_functions: Sequence[str] = (),
    user_pool_id: str | None = None,
    client_id: str | None = None,
    state_machine_arns: Sequence[str] = (),
    generator_functions: Sequence[str] = (),
    percentiles: Sequence[str] = ("p50", "p95", "p99"),
) -> list[MetricQuery]:
    """The queries for one API and what stands behind it; a layer is left out when unnamed.

    - API Gateway (``AWS/ApiGateway``): an HTTP API by ``api_id`` (dimension ``ApiId``), a REST
      API by ``api_name`` (``ApiName``), plus ``Stage`` when ``stage`` is given.
    - Lambda (``AWS/Lambda``): per function, dimension ``FunctionName``.
    - Cognito (``AWS/Cognito``): needs both ``user_pool_id`` and ``client_id`` (dimensions
      ``UserPool`` and ``UserPoolClient``; CloudWatch matches the exact dimension set).
    - Step Functions (``AWS/States``): per state machine, dimension ``StateMachineArn``.
    - The load generator's own functions (``AWS/Lambda``, a fan-out run's workers): layer
      ``generator``, kept apart from ``lambda`` so that they count neither as the API's numbers
      nor in ``lambda.*`` gates.

    >>> [q.id for q in build_queries(api_id="abc", stage="$default")][:3]
    ['apigw_count_sum', 'apigw_4xx_sum', 'apigw_5xx_sum']
    """
    pcts = tuple(dict.fromkeys(percentiles))
    for p in pcts:
        if not _PERCENTILE.match(p):
            raise ValueError(f"percentile {p!r} is not a CloudWatch percentile; write it like p95 or p99.9")
    if api_kind not in ("http", "rest"):
        raise ValueError(f"api_kind must be 'http' or 'rest', not {api_kind!r}")

    out: list[MetricQuery] = []

    def add(layer: Layer, prefix: str, namespace: str, specs: Iterable[MetricSpec], dims: list[tuple[str, str]], resource: str) -> None:
        for spec in specs:
            stats = (*pcts, *spec.stats) if spec.key in _WITH_PERCENTILES else spec.stats
            for stat in stats:
                out.append(
                    MetricQuery(
                        id=f"{prefix}_{spec.key}_{_slug(stat)}",
                        namespace=namespace,
                        metric=spec.metric,
                        dimensions=tuple(dims),
                        stat=stat,
                        layer=layer,
                        resource=resource,
                        key=spec.key,
                    )
                )

    api_dim_name, api_dim_value = ("ApiId", api_id) if api_kind == "http" else ("ApiName", api_name)
    if api_dim_value:
        api_dim = (api_dim_name, api_dim_value)
        dims = [api_dim] if not stage else [api_dim, ("Stage", stage)]
        resource = f"{api_dim[1]}/{stage}" if stage else str(api_dim[1])
        add("apigw", "apigw", "AWS/ApiGateway", APIGW_HTTP if api_kind == "http" else APIGW_REST, dims, resource)
    for i, name in enumerate(dict.fromkeys(lambda_functions)):
        add("lambda", f"lambda{i}", "AWS/Lambda", LAMBDA, [("FunctionName", name)], name)
    if user_pool_id and client_id:
        dims = [("UserPool", user_pool_id), ("UserPoolClient", client_id)]
        add("cognito", "cognito", "AWS/Cognito", COGNITO, dims, f"{user_pool_id}/{client_id}")
    for i, arn in enumerate(dict.fromkeys(state_machine_arns)):
        add("states", f"states{i}", "AWS/States", STATES, [("StateMachineArn", arn)], arn)
    for i, name in enumerate(dict.fromkeys(generator_functions)):
        add("generator", f"generator{i}", "AWS/Lambda", LAMBDA, [("FunctionName", name)], name)
    return out


def _slug(stat: str) -> str:
    return stat.lower().replace(".", "_")


# --------------------------------------------------------------------------- periods


def _is_period(p: int) -> bool:
    return p in _SUB_MINUTE or (p > 0 and p % 60 == 0)


def _check_period(value: Any, where: str) -> int:
    """``value`` as a CloudWatch period in seconds; ``UsageError`` naming ``where`` otherwise."""
    p = -1
    if isinstance(value, int) and not isinstance(value, bool):
        p = value
    elif isinstance(value, float) and value.is_integer():
        p = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        p = int(value.strip())
    if not _is_period(p):
        raise UsageError(f"{where}={value!r} is not a CloudWatch period; use 1, 5, 10, 20, 30 or a multiple of 60 seconds")
    return p


def min_period_default() -> int:
    """``HARNESS_METRICS_MIN_PERIOD`` when set, else 60 (AWS namespaces: one-minute data)."""
    raw = os.environ.get(MIN_PERIOD_ENV, "").strip()
    return _check_period(raw, MIN_PERIOD_ENV) if raw else 60


def _resolve_min_period(min_period: int | None) -> int:
    return min_period_default() if min_period is None else _check_period(min_period, "min_period")


def choose_period(duration_s: float, *, min_period: int | None = None) -> int:
    """A period giving at most ~300 points (at least ~60 when the window allows), >= ``min_period``.

    ``min_period``: argument > ``HARNESS_METRICS_MIN_PERIOD`` > 60.

    >>> choose_period(600, min_period=1), choose_period(600, min_period=60), choose_period(86400, min_period=60)
    (5, 60, 300)
    """
    floor = _resolve_min_period(min_period)
    duration = max(float(duration_s), 0.0)
    for p in _LADDER:
        if math.ceil(duration / p) <= _TARGET_POINTS:
            return max(p, floor)
    return max(math.ceil(duration / _TARGET_POINTS / 86400) * 86400, floor)


def _retention_floor(start: datetime, now: datetime) -> int:
    """The smallest period CloudWatch still holds data at for data as old as ``start``."""
    age = now - start
    if age > timedelta(days=63):
        return 3600
    if age > timedelta(days=15):
        return 300
    if age > timedelta(hours=3):
        return 60
    return 1


def _aligned_start(start: datetime, period: int, now: datetime) -> datetime:
    """``start`` rounded down the way CloudWatch does before it lays out the periods."""
    if period < 60:
        grain = period
    else:
        grain = max(60, _retention_floor(start, now))
    epoch = start.timestamp()
    return datetime.fromtimestamp(epoch // grain * grain, tz=UTC)


def _run_window(start: datetime, end: datetime, *, min_period: int, now: datetime) -> tuple[datetime, int]:
    """(aligned start, period) of ONE CloudWatch period that covers [start, end)."""
    floor = max(min_period, _retention_floor(start, now))
    if floor < 60:
        for p in _SUB_MINUTE:
            if p >= floor:
                s0 = _aligned_start(start, p, now)
                if s0 + timedelta(seconds=p) >= end:
                    return s0, p
    s0 = _aligned_start(start, 60, now)
    grain = max(60, _retention_floor(start, now))
    step = floor if floor >= grain and floor % grain == 0 else grain
    span = max((end - s0).total_seconds(), 1.0)
    return s0, int(math.ceil(span / step) * step)


def _utc(ts: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC (as boto3 does)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


# --------------------------------------------------------------------------- reading


def fetch(
    cloudwatch: Any,
    queries: Sequence[MetricQuery],
    *,
    start: datetime,
    end: datetime,
    period: int,
    scope: Scope = "series",
    max_datapoints: int | None = None,
) -> pd.DataFrame:
    """Read ``queries`` over [start, end) at ``period`` seconds; one row per expected period.

    Calls GetMetricData with at most 500 queries each, ``ScanBy=TimestampAscending``, and
    follows ``NextToken``. A period in the window without a datapoint gets a row with
    ``value`` NaN. ``max_datapoints`` is passed on as ``MaxDatapoints`` (page size).
    Raises ``MetricsUnavailable`` (one line) when CloudWatch refuses or fails.
    """
    period = _check_period(period, "period")
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    _check_ids(queries)
    now = datetime.now(UTC)
    s0 = _aligned_start(start, period, now)
    expected = list(_periods(s0, end, period))
    region = getattr(getattr(cloudwatch, "meta", None), "region_name", None) or "this region"

    frames: list[pd.DataFrame] = []
    for i in range(0, len(queries), MAX_QUERIES_PER_CALL):
        batch = queries[i : i + MAX_QUERIES_PER_CALL]
        found = _get_metric_data(cloudwatch, [q.to_api(period) for q in batch], start=start, end=end, max_datapoints=max_datapoints, region=region)
        frames.extend(_rows(q, found.get(q.id, {}), expected, period, scope) for q in batch)
    if not frames:
        return _empty()
    return _typed(pd.concat(frames, ignore_index=True))


def _check_ids(queries: Sequence[MetricQuery]) -> None:
    seen: set[str] = set()
    for q in queries:
        if not _ID.match(q.id):
            raise ValueError(f"query id {q.id!r} must match [a-z][a-zA-Z0-9_]*")
        if q.id in seen:
            raise ValueError(f"query id {q.id!r} is used twice; ids must be unique in one fetch")
        seen.add(q.id)


def _periods(s0: datetime, end: datetime, period: int) -> Iterator[datetime]:
    t, step = s0, timedelta(seconds=period)
    while t < end:
        yield t
        t += step


def _get_metric_data(
    cloudwatch: Any,
    batch: Sequence[dict[str, Any]],
    *,
    start: datetime,
    end: datetime,
    max_datapoints: int | None,
    region: str,
) -> dict[str, dict[datetime, float]]:
    """{query id: {timestamp: value}} for one batch of ``MetricDataQuery`` structures, all pages."""
    request: dict[str, Any] = {
        "MetricDataQueries": list(batch),
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    if max_datapoints:
        request["MaxDatapoints"] = max_datapoints
    found: dict[str, dict[datetime, float]] = {q["Id"]: {} for q in batch}
    token: str | None = None
    while True:
        try:
            response = cloudwatch.get_metric_data(**request, **({"NextToken": token} if token else {}))
        except ClientError as exc:
            raise _unavailable(exc, region) from exc
        except BotoCoreError as exc:
            raise MetricsUnavailable(
                f"could not reach CloudWatch in {region} ({_one_line(str(exc))}); check the network, credentials and AWS_ENDPOINT_URL"
            ) from exc
        for result in response.get("MetricDataResults", []):
            status = result.get("StatusCode", "Complete")
            if status not in ("Complete", "PartialData"):
                messages = "; ".join(m.get("Value", "") for m in result.get("Messages", []))
                raise MetricsUnavailable(
                    f"CloudWatch answered {status} for {result.get('Label') or result.get('Id')} in {region}"
                    + (f" ({_one_line(messages)})" if messages else "")
                )
            values = found.setdefault(result["Id"], {})
            for ts, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                values[_utc(ts)] = float(value)
        token = response.get("NextToken")
        if not token:
            return found


def _unavailable(exc: ClientError, region: str) -> MetricsUnavailable:
    error = exc.response.get("Error", {})
    code = error.get("Code") or "UnknownError"
    if code in _ACCESS_DENIED:
        return MetricsUnavailable(f"CloudWatch denied GetMetricData in {region}; the role needs cloudwatch:GetMetricData")
    message = _one_line(error.get("Message") or "")
    return MetricsUnavailable(f"CloudWatch GetMetricData failed in {region}: {code}" + (f" ({message})" if message else ""))


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _rows(q: MetricQuery, values: dict[datetime, float], expected: list[datetime], period: int, scope: Scope) -> pd.DataFrame:
    stamps = sorted(set(expected).union(values))
    return pd.DataFrame(
        {
            "layer": q.layer,
            "resource": q.resource,
            "metric": q.metric,
            "key": q.key,
            "stat": q.stat,
            "scope": scope,
            "timestamp": pd.to_datetime(stamps, utc=True),
            "period": period,
            "value": [values.get(t, math.nan) for t in stamps],
        },
        columns=list(COLUMNS),
    )


def _empty() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: [] for c in COLUMNS}))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype(_DTYPES)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True).astype("datetime64[ns, UTC]")
    return df[list(COLUMNS)].reset_index(drop=True)


def pull(
    cloudwatch: Any,
    queries: Sequence[MetricQuery],
    *,
    start: datetime,
    end: datetime,
    period: int | None = None,
    margin: float = 60,
    min_period: int | None = None,
    max_datapoints: int | None = None,
) -> pd.DataFrame:
    """Series rows over [start - margin, end + margin) and whole-run rows for [start, end).

    ``period`` (series): argument > ``choose_period`` of the window, never below
    ``min_period`` nor below what CloudWatch still keeps for data that old.
    Whole-run rows (``scope="run"``) use ONE period that covers the run: the smallest
    sub-minute period that does when ``min_period`` < 60, else a multiple of 60 from the
    run's start rounded down to the minute. With one-minute data (AWS) the whole-run value
    therefore covers the minutes the run touched: up to a minute before and after it.
    ``max_datapoints`` is passed to ``fetch`` (GetMetricData page size).
    """
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ValueError(f"the run must end after it starts ({start.isoformat()} .. {end.isoformat()})")
    now = datetime.now(UTC)
    floor = _resolve_min_period(min_period)
    s_start = start - timedelta(seconds=margin)
    s_end = end + timedelta(seconds=margin)
    if period is None:
        floor_now = max(floor, _retention_floor(s_start, now))  # both are CloudWatch periods
        period = choose_period((s_end - s_start).total_seconds(), min_period=floor_now)
    series_df = fetch(cloudwatch, queries, start=s_start, end=s_end, period=period, scope="series", max_datapoints=max_datapoints)
    r_start, r_period = _run_window(start, end, min_period=floor, now=now)
    run_df = fetch(cloudwatch, queries, start=r_start, end=end, period=r_period, scope="run", max_datapoints=max_datapoints)
    return _typed(pd.concat([series_df, run_df], ignore_index=True))


def snapshot(
    cloudwatch: Any,
    queries: Sequence[MetricQuery],
    *,
    start: datetime,
    end: datetime,
    series: Iterable[str] | None = None,
    min_period: int | None = None,
) -> pd.DataFrame:
    """The run so far in ONE GetMetricData call: what a live view polls every few seconds.

    Whole-run rows (``scope="run"``) of every query, over one period that covers [start, end)
    exactly as ``pull`` lays it out, so they are the values the run's gates will see; and
    per-period rows (``scope="series"``, at ``min_period`` or what CloudWatch still keeps) of
    the queries whose ids are in ``series`` (default: all) over the same window, whose newest
    non-NaN row is CloudWatch's newest period. Each query carries its own period, so both
    fit in one request (up to 500 structures; more are split like ``fetch`` splits them)::

        df = snapshot(cw, queries, start=run_start, end=now, series=["apigw_count_sum"])
        run_value(df, "latency", "p95"); series(df, "count", "Sum").dropna().tail(1)
    """
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    _check_ids(queries)
    now = datetime.now(UTC)
    floor = _resolve_min_period(min_period)
    r_start, r_period = _run_window(start, end, min_period=floor, now=now)
    s_period = max(floor, _retention_floor(r_start, now))
    wanted = None if series is None else set(series)
    pairs = [(q, "run", r_period) for q in queries]
    pairs += [(q, "series", s_period) for q in queries if wanted is None or q.id in wanted]
    # one id per (query, scope): "r_<id>" and "s_<id>"
    api = [replace(q, id=f"{scope[0]}_{q.id}").to_api(period) for q, scope, period in pairs]
    region = getattr(getattr(cloudwatch, "meta", None), "region_name", None) or "this region"
    found: dict[str, dict[datetime, float]] = {}
    for i in range(0, len(api), MAX_QUERIES_PER_CALL):
        found.update(_get_metric_data(cloudwatch, api[i : i + MAX_QUERIES_PER_CALL], start=r_start, end=end, max_datapoints=None, region=region))
    expected = {"run": [r_start], "series": list(_periods(_aligned_start(r_start, s_period, now), end, s_period))}
    frames = [
        _rows(q, found.get(f"{scope[0]}_{q.id}", {}), expected[scope], period, scope)  # type: ignore[arg-type]
        for q, scope, period in pairs
    ]
    return _typed(pd.concat(frames, ignore_index=True)) if frames else _empty()


# --------------------------------------------------------------------------- files


def save(df: pd.DataFrame, run_dir: Path | str) -> Path:
    """Write ``run_dir/metrics.csv``: ISO 8601 timestamps, empty cells for NaN."""
    path = Path(run_dir) / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    out = _typed(df.copy())
    out["timestamp"] = out["timestamp"].map(lambda t: t.isoformat())
    tmp = path.with_suffix(".csv.tmp")
    out.to_csv(tmp, index=False, na_rep="")
    tmp.replace(path)
    return path


def load(run_dir: Path | str) -> pd.DataFrame | None:
    """Read ``run_dir/metrics.csv`` back with the same dtypes; None when there is none."""
    path = Path(run_dir) / FILE_NAME
    if not path.exists():
        return None
    try:
        df = pd.read_csv(
            path,
            dtype={c: str for c in ("layer", "resource", "metric", "key", "stat", "scope", "timestamp")},
            keep_default_na=False,
            na_values={"value": [""]},
        )
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"no column {', '.join(missing)}")
        df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True, format="ISO8601")
        return _typed(df)
    except (ValueError, pd.errors.ParserError) as exc:
        raise MetricsUnavailable(f"{path} is not a harness metrics file ({_one_line(str(exc))}); delete it and pull the metrics again") from exc


# --------------------------------------------------------------------------- reading the frame


_STAT_ALIASES = {"average": "avg", "mean": "avg", "maximum": "max", "minimum": "min", "samplecount": "samplecount", "sum": "sum"}
_ADDITIVE = {"sum", "samplecount"}


def stat_name(stat: Any) -> str:
    """A statistic's one spelling: ``Sum``/``sum`` -> ``sum``, ``Average`` -> ``avg``, ``p95.0`` -> ``p95``."""
    text = str(stat).strip().lower()
    match = re.fullmatch(r"p(\d+(?:\.\d+)?)", text)
    if match:
        return f"p{float(match.group(1)):g}"
    return _STAT_ALIASES.get(text, text)


@dataclass(frozen=True)
class RunValue:
    """One whole-run CloudWatch value, or why there is none (``problem``).

    ``note`` names resources without data when the others give the value; ``per_resource``
    holds each resource's own value when several report a statistic that does not combine."""

    value: float | None
    note: str = ""
    problem: str = ""
    per_resource: tuple[tuple[str, float], ...] = ()


class RunValues:
    """The one reader of whole-run values (``scope == "run"`` rows) in the frame: gates, the
    report and the web UI all read CloudWatch's numbers through it, so they never disagree.

    The rule across resources: sums (``Sum``, ``SampleCount``) add up, ``Maximum`` and
    ``Minimum`` combine; a percentile or an average of several resources does not combine, so it
    has no value (``problem`` says which resources; ``per_resource`` has theirs) until one is
    picked (``resource=``; a gate's ``{resource="..."}``). Names and stats compare
    case-insensitively (``Sum``/``sum``, ``Average``/``avg``). A frame without ``scope`` or
    ``resource`` columns (a hand-made one) is read as whole-run rows of one resource::

        values = RunValues(frame)
        values.get("apigw", "latency", "p95").value          # or None, with .problem
        values.get("apigw", "latency", "p95", resource="abc123/$default")
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.problem = ""
        self.rows: pd.DataFrame | None = None
        missing = {"layer", "key", "stat", "value"} - set(frame.columns)
        if missing:
            self.problem = f"the metrics frame lacks the columns {', '.join(sorted(missing))}"
            return
        normal = pd.DataFrame(
            {
                "layer": frame["layer"].astype(str).str.lower(),
                "resource": frame["resource"].astype(str) if "resource" in frame.columns else "",
                "key": frame["key"].astype(str).str.lower(),
                "stat": frame["stat"].map(stat_name),
                "value": pd.to_numeric(frame["value"], errors="coerce"),
            }
        )
        scope = frame["scope"].astype(str).str.lower() if "scope" in frame.columns else pd.Series("run", index=frame.index)
        self.rows = normal[scope == "run"]
        self.series = normal[scope == "series"]

    def get(self, layer: str, key: str, stat: str, *, resource: str | None = None) -> RunValue:
        """The whole-run value of ``layer``/``key``/``stat`` (of one ``resource``, or all)."""
        if self.rows is None:
            return RunValue(None, problem=self.problem)
        layer, key, stat = layer.lower(), key.lower(), stat_name(stat)
        rows = self.rows
        rows = rows[(rows["layer"] == layer) & (rows["key"] == key) & (rows["stat"] == stat)]
        if resource is not None:
            rows = rows[rows["resource"] == resource]
        what = f"{layer} {key} {stat}" + (f" of {resource!r}" if resource is not None else "")
        if rows.empty:
            summed = self._from_series(layer, key, stat, resource)
            if summed is not None:
                return summed
            mine = self.rows[self.rows["layer"] == layer]
            stats = sorted(set(mine.loc[mine["key"] == key, "stat"]))
            keys = sorted(set(mine["key"]))
            if stats:
                have = f"stats present for {layer} {key}: {', '.join(stats)}"
            else:
                have = f"{layer} keys present: {', '.join(keys)}" if keys else f"no whole-run {layer} rows at all"
            return RunValue(None, problem=f"the metrics have no whole-run {what} ({have})")
        present = rows.dropna(subset=["value"])
        if present.empty:
            return self._from_series(layer, key, stat, resource) or RunValue(None, problem=f"CloudWatch returned no data for {what}")
        empty = sorted(set(rows["resource"]) - set(present["resource"]))
        note = f"no data for {', '.join(empty)}" if empty else ""
        values = present["value"]
        if stat in _ADDITIVE:
            return RunValue(float(values.sum()), note)
        if stat == "max":
            return RunValue(float(values.max()), note)
        if stat == "min":
            return RunValue(float(values.min()), note)
        if len(present) > 1:
            names = ", ".join(sorted(set(present["resource"])))
            per = tuple(sorted((str(r), float(v)) for r, v in zip(present["resource"], values)))
            return RunValue(None, note, f'{what} is reported by several resources ({names}); pick one with {{resource="..."}}', per_resource=per)
        return RunValue(float(values.iloc[0]), note)

    def _from_series(self, layer: str, key: str, stat: str, resource: str | None) -> RunValue | None:
        """A sum without a whole-run datapoint is the sum of its periods (missing ones count as
        nothing); None when the periods have no data either, or the stat does not add up."""
        if stat not in _ADDITIVE:
            return None
        rows = self.series
        rows = rows[(rows["layer"] == layer) & (rows["key"] == key) & (rows["stat"] == stat)]
        if resource is not None:
            rows = rows[rows["resource"] == resource]
        present = rows.dropna(subset=["value"])
        if present.empty:
            return None
        return RunValue(float(present["value"].sum()), "no whole-run datapoint: the sum of the periods")


def _select(df: pd.DataFrame, key: str, stat: str, layer: str, resource: str | None, scope: Scope) -> pd.DataFrame:
    rows = df[(df["scope"] == scope) & (df["layer"] == layer) & (df["key"] == key) & (df["stat"] == stat)]
    if resource is not None:
        return rows[rows["resource"] == resource]
    resources = rows["resource"].unique()
    if len(resources) > 1:
        raise ValueError(f"{layer} {key} {stat} exists for several resources ({', '.join(map(str, resources))}); pass resource=")
    return rows


def run_value(df: pd.DataFrame | None, key: str, stat: str, layer: str = "apigw", *, resource: str | None = None) -> float | None:
    """The whole-run value of ``key``/``stat`` (CloudWatch's own), or None when it is missing."""
    if df is None or df.empty:
        return None
    rows = _select(df, key, stat, layer, resource, "run")  # refuses several resources when none is named
    if rows.empty:
        return None
    return RunValues(rows).get(layer, key, stat, resource=resource).value


def series(df: pd.DataFrame | None, key: str, stat: str, layer: str = "apigw", *, resource: str | None = None) -> pd.Series:
    """Per-period values of ``key``/``stat`` indexed by timestamp; NaN where data is missing."""
    name = f"{key} {stat}"
    if df is None or df.empty:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC", name="timestamp"), dtype="float64", name=name)
    rows = _select(df, key, stat, layer, resource, "series").sort_values("timestamp")
    return pd.Series(
        rows["value"].to_numpy(dtype="float64"),
        index=pd.DatetimeIndex(rows["timestamp"], name="timestamp"),
        name=name,
    )
