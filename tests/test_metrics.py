"""harness.metrics against the real local stack: real Cognito tokens, real emulator traffic,
real CloudWatch (moto + our percentile extension). Only botocore's Stubber fakes AWS errors."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
import requests
from botocore.config import Config
from botocore.stub import Stubber

from harness import metrics
from harness.errors import MetricsUnavailable, UsageError
from harness.local.apigw.config import BackendConfig, Throttle
from harness.local.stack import LocalStack
from harness.processes import free_port

PASSWORD = "Metrics-test-1"
THROTTLED_ROUTE = "GET /items/{id}"
SLOW_MS = 80.0


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(
        log_dir=tmp_path_factory.mktemp("metrics-stack"),
        backend=BackendConfig(latency_ms=1, latency_sigma=0),
        route_throttles={THROTTLED_ROUTE: Throttle(rate=0.05, burst=1)},
    ) as s:
        yield s


def _session(stack: LocalStack) -> boto3.session.Session:
    env = stack.env()
    return boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    )


@pytest.fixture(scope="module")
def cloudwatch(stack: LocalStack) -> Any:
    return _session(stack).client("cloudwatch", endpoint_url=stack.info.endpoint_url)


@pytest.fixture(scope="module")
def token(stack: LocalStack) -> str:
    info = stack.info
    idp = _session(stack).client("cognito-idp", endpoint_url=info.endpoint_url)
    idp.admin_create_user(UserPoolId=info.user_pool_id, Username="metrics", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=info.user_pool_id, Username="metrics", Password=PASSWORD, Permanent=True)
    result = idp.admin_initiate_auth(
        UserPoolId=info.user_pool_id,
        ClientId=info.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "metrics", "PASSWORD": PASSWORD},
    )
    return str(result["AuthenticationResult"]["AccessToken"])


@dataclass
class Traffic:
    """What the test sent, as the client saw it."""

    start: datetime
    end: datetime
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    emulator_total: int = 0
    frame: pd.DataFrame | None = None

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def n4xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if 400 <= status < 500)


def _wait_for_next_second() -> None:
    time.sleep(math.ceil(time.time()) - time.time() + 0.02)


@pytest.fixture(scope="module")
def traffic(stack: LocalStack, cloudwatch: Any, token: str) -> Traffic:
    """Three fast seconds (with 401s and 429s), then slow requests; pulled once at period 1."""
    api = stack.info.api_url
    http = requests.Session()
    good = {"Authorization": f"Bearer {token}"}
    bad = {"Authorization": "Bearer not-a-token"}
    start = datetime.now(UTC)
    t = Traffic(start=start, end=start)

    def send(path: str, headers: dict[str, str]) -> None:
        t0 = time.perf_counter()
        response = http.get(api + path, headers=headers, timeout=10)
        t.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
        t.statuses[response.status_code] += 1

    for _ in range(3):  # fast: ~1 ms backend
        _wait_for_next_second()
        for _ in range(40):
            send("/items", good)
        for _ in range(3):
            send("/items", bad)  # 401
        for _ in range(2):
            send("/items/1", good)  # 429 (after the bucket's single token)
    _wait_for_next_second()
    assert http.put(f"{api}/_admin/backend", json={"latency_ms": SLOW_MS}, timeout=5).status_code == 200
    for _ in range(20):  # slow: 5% of the run, all above the fast requests
        send("/items", good)
    t.end = datetime.now(UTC)
    assert http.put(f"{api}/_admin/backend", json={"latency_ms": 1}, timeout=5).status_code == 200
    t.emulator_total = http.get(f"{api}/_admin/counts", timeout=5).json()["total"]
    http.close()

    queries = metrics.build_queries(api_kind="http", api_id=stack.info.api_id, stage=stack.info.stage)
    deadline = time.monotonic() + 15
    while True:  # the emulator publishes every second; wait until all of it has arrived
        frame = metrics.pull(cloudwatch, queries, start=t.start, end=t.end, period=1, min_period=1, margin=5)
        arrived = (
            metrics.run_value(frame, "count", "Sum"),
            metrics.run_value(frame, "latency", "SampleCount"),
            metrics.series(frame, "count", "Sum").sum(),
        )
        if all(n == t.total for n in arrived) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    t.frame = frame
    return t


# --------------------------------------------------------------------------- query building


def test_http_api_queries() -> None:
    queries = metrics.build_queries(api_kind="http", api_id="a1b2c3", stage="$default")
    by_key: dict[str, set[str]] = {}
    for q in queries:
        by_key.setdefault(q.key, set()).add(q.stat)
        assert (q.namespace, q.layer, q.resource) == ("AWS/ApiGateway", "apigw", "a1b2c3/$default")
        assert q.dimensions == (("ApiId", "a1b2c3"), ("Stage", "$default"))
    assert by_key == {
        "count": {"Sum"},
        "4xx": {"Sum"},
        "5xx": {"Sum"},
        "latency": {"p50", "p95", "p99", "Average", "Maximum", "SampleCount"},
        "integration_latency": {"p50", "p95", "p99", "Average", "Maximum", "SampleCount"},
    }
    assert {q.metric for q in queries} == {"Count", "4xx", "5xx", "Latency", "IntegrationLatency"}


def test_all_layers_and_ids() -> None:
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:fanout"
    queries = metrics.build_queries(
        api_kind="rest",
        api_name="orders-api",
        stage="prod",
        lambda_functions=["orders", "users"],
        user_pool_id="us-east-1_abc",
        client_id="client1",
        state_machine_arns=[arn],
        percentiles=("p90", "p99.9"),
    )
    ids = [q.id for q in queries]
    assert len(ids) == len(set(ids))
    assert all(metrics._ID.match(i) for i in ids)
    rest = {q.metric: q.key for q in queries if q.layer == "apigw"}
    assert rest == {"Count": "count", "4XXError": "4xx", "5XXError": "5xx", "Latency": "latency", "IntegrationLatency": "integration_latency"}
    assert {q.dimensions for q in queries if q.layer == "apigw"} == {(("ApiName", "orders-api"), ("Stage", "prod"))}

    orders = {(q.metric, q.stat) for q in queries if q.resource == "orders"}
    assert orders == {
        ("Invocations", "Sum"),
        ("Errors", "Sum"),
        ("Throttles", "Sum"),
        ("ConcurrentExecutions", "Maximum"),
        ("Duration", "p90"),
        ("Duration", "p99.9"),
        ("Duration", "Average"),
    }
    assert {q.namespace for q in queries if q.layer == "lambda"} == {"AWS/Lambda"}
    cognito = [q for q in queries if q.layer == "cognito"]
    assert {q.key for q in cognito} == {"sign_in_successes", "sign_in_throttles", "token_refresh_successes", "token_refresh_throttles"}
    assert {(q.namespace, q.dimensions) for q in cognito} == {("AWS/Cognito", (("UserPool", "us-east-1_abc"), ("UserPoolClient", "client1")))}
    states = [q for q in queries if q.layer == "states"]
    assert {(q.metric, q.key, q.stat) for q in states} == {
        ("ExecutionThrottled", "execution_throttled", "Sum"),
        ("ExecutionsFailed", "executions_failed", "Sum"),
    }
    assert {(q.namespace, q.resource) for q in states} == {("AWS/States", arn)}
    assert set(metrics.KEYS) >= {q.key for q in queries}


def test_unnamed_layers_are_left_out() -> None:
    assert metrics.build_queries(api_kind="rest", api_id="only-http-id") == []
    assert metrics.build_queries(user_pool_id="pool-without-client") == []
    with pytest.raises(ValueError, match="percentile"):
        metrics.build_queries(api_id="a", percentiles=("95th",))


# --------------------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("duration", "min_period", "expected"),
    [
        (10, 1, 1),
        (60, 1, 1),
        (300, 1, 1),
        (301, 1, 5),
        (600, 1, 5),
        (3600, 1, 20),
        (600, 60, 60),
        (3600, 60, 60),
        (86400, 60, 300),
        (7 * 86400, 60, 3600),
        (30 * 86400, 60, 10800),
        (3600, 180, 180),
    ],
)
def test_choose_period(duration: float, min_period: int, expected: int) -> None:
    assert metrics.choose_period(duration, min_period=min_period) == expected


def test_choose_period_stays_allowed_and_in_range() -> None:
    for duration in [1, 59, 61, 299, 1000, 5000, 20_000, 100_000, 1_000_000, 10_000_000, 100_000_000]:
        for floor in (1, 5, 60, 300):
            p = metrics.choose_period(duration, min_period=floor)
            assert p >= floor and (p in (1, 5, 10, 20, 30) or p % 60 == 0)
            points = math.ceil(duration / p)
            assert points <= 300
            assert points >= 60 or p == floor  # fewer points only when the floor forces it


def test_min_period_argument_beats_env_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics.MIN_PERIOD_ENV, raising=False)
    assert metrics.choose_period(600) == 60
    monkeypatch.setenv(metrics.MIN_PERIOD_ENV, "1")
    assert metrics.choose_period(600) == 5
    assert metrics.choose_period(600, min_period=60) == 60
    monkeypatch.setenv(metrics.MIN_PERIOD_ENV, "7")
    with pytest.raises(UsageError, match="HARNESS_METRICS_MIN_PERIOD='7' is not a CloudWatch period"):
        metrics.choose_period(600)
    with pytest.raises(UsageError, match="min_period=90"):
        metrics.choose_period(600, min_period=90)


# --------------------------------------------------------------------------- the real run


def test_counts_reconcile_with_emulator_and_client(traffic: Traffic) -> None:
    df = traffic.frame
    assert df is not None
    assert list(df.columns) == list(metrics.COLUMNS)
    assert traffic.statuses[401] == 9 and traffic.statuses[429] >= 5  # what we meant to cause
    assert traffic.emulator_total == traffic.total == 155
    assert metrics.run_value(df, "count", "Sum") == traffic.total
    assert metrics.run_value(df, "4xx", "Sum") == traffic.n4xx
    assert metrics.run_value(df, "5xx", "Sum") == 0.0  # published as zeros: a real 0, not missing
    assert metrics.run_value(df, "latency", "SampleCount") == traffic.total
    # IntegrationLatency exists only for requests that reached the backend
    assert metrics.run_value(df, "integration_latency", "SampleCount") == traffic.statuses[200]
    # the per-second series adds up to the same totals
    assert metrics.series(df, "count", "Sum").sum() == traffic.total
    assert metrics.series(df, "4xx", "Sum").sum() == traffic.n4xx


def test_series_rows_and_missing_periods(traffic: Traffic) -> None:
    df = traffic.frame
    assert df is not None
    count = metrics.series(df, "count", "Sum")
    assert str(count.index.tz) == "UTC"
    assert (count.index.to_series().diff().dropna() == pd.Timedelta(seconds=1)).all()
    # the 5 s margins on each side: a row per period, NaN (not 0) where nothing happened
    first = pd.Timestamp(traffic.start).floor("s")
    assert count.index[0] == pd.Timestamp(traffic.start - timedelta(seconds=5)).floor("s")
    assert count[count.index < first].isna().all() and len(count[count.index < first]) == 5
    assert count[count.index > pd.Timestamp(traffic.end)].isna().all()
    assert (count.dropna() > 0).all()
    series_rows = df[df["scope"] == "series"]
    assert set(series_rows["period"]) == {1}
    per_query = series_rows.groupby(["key", "stat"]).size()
    assert per_query.nunique() == 1  # every query has the same expected periods


def test_whole_run_is_one_cloudwatch_period(traffic: Traffic) -> None:
    df = traffic.frame
    assert df is not None
    run = df[df["scope"] == "run"]
    assert len(run) == len(metrics.build_queries(api_id="x", stage="y"))  # one row per query
    assert run["period"].nunique() == 1
    period = int(run["period"].iloc[0])
    begin = run["timestamp"].iloc[0]
    assert begin <= pd.Timestamp(traffic.start) and begin + pd.Timedelta(seconds=period) >= pd.Timestamp(traffic.end)
    assert period in (1, 5, 10, 20, 30) or period % 60 == 0


def test_server_latency_is_below_client_latency(traffic: Traffic) -> None:
    df = traffic.frame
    assert df is not None
    client_p95 = float(pd.Series(traffic.latencies_ms).quantile(0.95, interpolation="higher"))
    server_p95 = metrics.run_value(df, "latency", "p95")
    assert server_p95 is not None and 0 < server_p95 <= client_p95
    assert metrics.run_value(df, "latency", "Maximum") <= max(traffic.latencies_ms)


def test_whole_run_p95_is_not_the_mean_of_period_p95s(traffic: Traffic) -> None:
    """20 of 155 requests were slow: they hold the run's p95, but only some seconds' p95."""
    df = traffic.frame
    assert df is not None
    whole = metrics.run_value(df, "latency", "p95")
    per_second = metrics.series(df, "latency", "p95").dropna()
    assert whole is not None and whole >= SLOW_MS
    assert len(per_second) >= 4
    assert per_second.min() < 20  # the fast seconds
    assert per_second.mean() < 0.8 * whole
    assert metrics.run_value(df, "latency", "p50") < 20


def test_pagination_gives_the_same_frame(traffic: Traffic, stack: LocalStack, cloudwatch: Any) -> None:
    queries = metrics.build_queries(api_kind="http", api_id=stack.info.api_id, stage=stack.info.stage)
    calls: list[dict[str, Any]] = []

    def spy(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    kw = {"start": traffic.start, "end": traffic.end, "period": 1}
    whole = metrics.fetch(cloudwatch, queries, **kw)
    cloudwatch.meta.events.register("before-parameter-build.cloudwatch.GetMetricData", spy)
    try:
        paged = metrics.fetch(cloudwatch, queries, **kw, max_datapoints=7)
    finally:
        cloudwatch.meta.events.unregister("before-parameter-build.cloudwatch.GetMetricData", spy)
    assert len(calls) > 5
    assert all(c["ScanBy"] == "TimestampAscending" for c in calls)
    assert any("NextToken" in c for c in calls)
    pd.testing.assert_frame_equal(whole, paged)


def test_save_and_load_round_trip(traffic: Traffic, tmp_path: Path) -> None:
    df = traffic.frame
    assert df is not None and df["value"].isna().any()
    path = metrics.save(df, tmp_path / "run")
    assert path == tmp_path / "run" / "metrics.csv"
    text = path.read_text()
    assert "+00:00," in text and ",nan" not in text.lower()
    assert any(line.endswith(",") for line in text.splitlines())  # NaN is an empty cell
    back = metrics.load(tmp_path / "run")
    assert back is not None
    pd.testing.assert_frame_equal(back, df)
    assert metrics.load(tmp_path / "nothing-here") is None


def test_save_and_load_empty_frame(tmp_path: Path) -> None:
    empty = metrics._empty()
    back = metrics.load(metrics.save(empty, tmp_path).parent)
    assert back is not None
    pd.testing.assert_frame_equal(back, empty)
    assert metrics.run_value(back, "count", "Sum") is None
    assert metrics.series(back, "count", "Sum").empty
    (tmp_path / "metrics.csv").write_text("what,ever\n1,2\n")
    with pytest.raises(MetricsUnavailable, match="not a harness metrics file"):
        metrics.load(tmp_path)


# --------------------------------------------------------------------------- data we publish ourselves


def test_rest_api_names_map_to_keys(cloudwatch: Any) -> None:
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    dims = [{"Name": "ApiName", "Value": "orders-api"}, {"Name": "Stage", "Value": "prod"}]

    def datum(name: str, offset: int, values: list[float], counts: list[float], unit: str) -> dict[str, Any]:
        return {"MetricName": name, "Dimensions": dims, "Timestamp": base + timedelta(seconds=offset), "Values": values, "Counts": counts, "Unit": unit}

    cloudwatch.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            datum("Count", 5, [1.0], [30], "Count"),
            datum("Count", 70, [1.0], [10], "Count"),
            datum("4XXError", 5, [0.0, 1.0], [27, 3], "Count"),
            datum("4XXError", 70, [0.0, 1.0], [9, 1], "Count"),
            datum("5XXError", 5, [0.0, 1.0], [28, 2], "Count"),
            datum("5XXError", 70, [0.0], [10], "Count"),
            datum("Latency", 5, [10.0, 20.0], [20, 10], "Milliseconds"),
            datum("Latency", 70, [200.0], [10], "Milliseconds"),
            datum("IntegrationLatency", 5, [8.0], [30], "Milliseconds"),
        ],
    )
    queries = metrics.build_queries(api_kind="rest", api_name="orders-api", stage="prod")
    df = metrics.pull(cloudwatch, queries, start=base, end=base + timedelta(seconds=120), min_period=60, margin=0)
    assert set(df["key"]) == {"count", "4xx", "5xx", "latency", "integration_latency"}
    assert set(df.loc[df["key"] == "4xx", "metric"]) == {"4XXError"}
    assert set(df["resource"]) == {"orders-api/prod"}
    assert metrics.run_value(df, "count", "Sum") == 40
    assert metrics.run_value(df, "4xx", "Sum") == 4
    assert metrics.run_value(df, "5xx", "Sum") == 2
    # nearest rank over all 40 latencies: 20 x 10 ms, 10 x 20 ms, 10 x 200 ms
    assert metrics.run_value(df, "latency", "p50") == 10.0
    assert metrics.run_value(df, "latency", "p95") == 200.0
    assert metrics.run_value(df, "latency", "Average") == pytest.approx((200 + 200 + 2000) / 40)
    run = df[df["scope"] == "run"]
    assert set(run["period"]) == {120} and set(run["timestamp"]) == {pd.Timestamp(base)}
    # per minute: the first minute's p95 is 20 ms, the second's 200 ms
    assert metrics.series(df, "latency", "p95").tolist() == [20.0, 200.0]
    integration = metrics.series(df, "integration_latency", "p95")
    assert integration.iloc[0] == 8.0 and math.isnan(integration.iloc[1])  # no data in the second minute
    assert set(df.loc[df["scope"] == "series", "period"]) == {60}


def test_a_window_without_traffic_is_nan_not_zero(cloudwatch: Any) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    queries = metrics.build_queries(api_id="never-called", stage="$default", lambda_functions=["idle"])
    df = metrics.fetch(cloudwatch, queries, start=start, end=start + timedelta(minutes=10), period=60)
    assert len(df) == 10 * len(queries)
    assert df["value"].isna().all()
    assert (df["scope"] == "series").all()
    assert metrics.run_value(df, "count", "Sum") is None
    assert metrics.series(df, "invocations", "Sum", layer="lambda").isna().all()
    assert len(metrics.series(df, "invocations", "Sum", layer="lambda")) == 10


def test_more_than_500_queries_are_split(cloudwatch: Any) -> None:
    names = [f"fn-{i:03d}" for i in range(70)]
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=50)
    cloudwatch.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [{"Name": "FunctionName", "Value": n}],
                "Timestamp": base + timedelta(seconds=10),
                "Value": float(i + 1),
                "Unit": "Count",
            }
            for i, n in enumerate(names)
        ],
    )
    queries = metrics.build_queries(lambda_functions=names)
    assert len(queries) == 70 * 8 > metrics.MAX_QUERIES_PER_CALL
    sizes: list[int] = []

    def spy(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["MetricDataQueries"]))

    cloudwatch.meta.events.register("before-parameter-build.cloudwatch.GetMetricData", spy)
    try:
        df = metrics.fetch(cloudwatch, queries, start=base, end=base + timedelta(minutes=1), period=60, scope="run")
    finally:
        cloudwatch.meta.events.unregister("before-parameter-build.cloudwatch.GetMetricData", spy)
    assert sizes == [500, 60]
    assert len(df) == len(queries)
    for i, name in enumerate(names):
        assert metrics.run_value(df, "invocations", "Sum", layer="lambda", resource=name) == i + 1
        assert metrics.run_value(df, "errors", "Sum", layer="lambda", resource=name) is None
    with pytest.raises(ValueError, match="several resources"):
        metrics.run_value(df, "invocations", "Sum", layer="lambda")


def test_duplicate_ids_and_bad_periods_are_refused(cloudwatch: Any) -> None:
    q = metrics.build_queries(api_id="a")[0]
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="used twice"):
        metrics.fetch(cloudwatch, [q, q], start=now - timedelta(minutes=1), end=now, period=60)
    with pytest.raises(UsageError, match="period=45"):
        metrics.fetch(cloudwatch, [q], start=now - timedelta(minutes=1), end=now, period=45)


# --------------------------------------------------------------------------- errors (Stubber: AWS's side)


def _stubbed_client(region: str) -> Any:
    return boto3.client("cloudwatch", region_name=region, aws_access_key_id="x", aws_secret_access_key="y")


def _fetch_one(client: Any) -> None:
    now = datetime.now(UTC)
    metrics.fetch(client, metrics.build_queries(api_id="a")[:1], start=now - timedelta(minutes=5), end=now, period=60)


def test_access_denied_is_one_line() -> None:
    client = _stubbed_client("eu-west-1")
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_metric_data",
            service_error_code="AccessDenied",
            service_message="User: arn:aws:sts::123456789012:assumed-role/ci/x is not authorized\nto perform: cloudwatch:GetMetricData",
            http_status_code=403,
        )
        with pytest.raises(MetricsUnavailable) as info:
            _fetch_one(client)
    assert str(info.value) == "CloudWatch denied GetMetricData in eu-west-1; the role needs cloudwatch:GetMetricData"


def test_other_client_errors_name_the_code() -> None:
    client = _stubbed_client("us-west-2")
    with Stubber(client) as stub:
        stub.add_client_error("get_metric_data", service_error_code="Throttling", service_message="Rate exceeded\n  (try later)", http_status_code=400)
        with pytest.raises(MetricsUnavailable) as info:
            _fetch_one(client)
    message = str(info.value)
    assert message == "CloudWatch GetMetricData failed in us-west-2: Throttling (Rate exceeded (try later))"
    assert "\n" not in message and "Traceback" not in message


def test_unreachable_cloudwatch_is_one_line() -> None:
    client = boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{free_port('127.0.0.1')}",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    with pytest.raises(MetricsUnavailable, match="^could not reach CloudWatch in us-east-1") as info:
        _fetch_one(client)
    assert "\n" not in str(info.value)
