"""Our CloudWatch extensions, through boto3 against a real moto server subprocess.

Expected percentiles come from numpy's ``inverted_cdf`` method, which is the nearest-rank
definition the extension documents.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from harness.local.cloudwatch import nearest_rank, parse_percentile

PERCENTILES = {"p50": 50, "p95": 95, "p99": 99, "p99.9": 99.9}
DIMS = [{"Name": "ApiId", "Value": "abc"}, {"Name": "Stage", "Value": "$default"}]


@pytest.fixture
def cw(aws_env: dict[str, str]) -> Any:
    return boto3.client("cloudwatch")


@pytest.fixture
def namespace() -> str:
    return f"Test/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def t0() -> datetime:
    """A minute boundary ten minutes ago (naive UTC, as boto3 returns tz-aware UTC)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=10)


def second_of_latencies(rng: np.random.Generator, n_values: int = 150) -> tuple[list[float], list[float]]:
    values = np.unique(np.round(rng.lognormal(np.log(20), 0.6, n_values * 3), 1))[:n_values]
    counts = rng.integers(1, 40, len(values))
    return [float(v) for v in values], [float(c) for c in counts]


def put_seconds(cw: Any, namespace: str, t0: datetime, seconds: dict[int, tuple[list[float], list[float]]]) -> None:
    data = [
        {
            "MetricName": "Latency",
            "Dimensions": DIMS,
            "Timestamp": t0 + timedelta(seconds=s),
            "Unit": "Milliseconds",
            "Values": values,
            "Counts": counts,
        }
        for s, (values, counts) in seconds.items()
    ]
    for i in range(0, len(data), 20):
        cw.put_metric_data(Namespace=namespace, MetricData=data[i : i + 20])


def expand(pairs: list[tuple[list[float], list[float]]]) -> np.ndarray:
    return np.concatenate([np.repeat(values, np.array(counts, dtype=int)) for values, counts in pairs])


def expected(samples: np.ndarray) -> dict[str, float]:
    out = {
        "SampleCount": float(len(samples)),
        "Sum": float(samples.sum()),
        "Average": float(samples.mean()),
        "Minimum": float(samples.min()),
        "Maximum": float(samples.max()),
    }
    for name, q in PERCENTILES.items():
        out[name] = float(np.percentile(samples, q, method="inverted_cdf"))
    return out


def storage(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_harness/cloudwatch/storage", timeout=5) as resp:
        return json.loads(resp.read())


def metric_data(cw: Any, namespace: str, stat: str, period: int, start: datetime, end: datetime, **kw: Any) -> Any:
    return cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {"Namespace": namespace, "MetricName": "Latency", "Dimensions": DIMS},
                    "Period": period,
                    "Stat": stat,
                },
            }
        ],
        StartTime=start,
        EndTime=end,
        **kw,
    )


# --------------------------------------------------------------------------- pure functions


def test_nearest_rank_definition() -> None:
    pairs = [(1.0, 2.0), (5.0, 1.0), (9.0, 1.0)]  # 1, 1, 5, 9
    assert nearest_rank(pairs, Fraction(1, 2)) == 1.0  # rank ceil(2) = 2
    assert nearest_rank(pairs, Fraction(51, 100)) == 5.0  # rank ceil(2.04) = 3
    assert nearest_rank(pairs, Fraction(0)) == 1.0
    assert nearest_rank(pairs, Fraction(1)) == 9.0
    assert nearest_rank([], Fraction(1, 2)) is None
    # 7 of 100: 0.07 * 100 is 7.000000000000001 in floats; the rank must still be 7
    assert nearest_rank([(float(v), 1.0) for v in range(1, 101)], parse_percentile("p7")) == 7.0


def test_parse_percentile() -> None:
    assert parse_percentile("p99.9") == Fraction(999, 1000)
    assert parse_percentile("p100") == 1
    assert parse_percentile("p0") == 0
    for bad in ("Sum", "p101", "tm99", "p", "P95"):
        assert parse_percentile(bad) is None


# --------------------------------------------------------------------------- through the API


def test_get_metric_statistics_weights_counts(cw: Any, namespace: str, t0: datetime) -> None:
    rng = np.random.default_rng(1)
    seconds = {s: second_of_latencies(rng) for s in (0, 1, 2, 61)}
    put_seconds(cw, namespace, t0, seconds)
    start, end = t0, t0 + timedelta(minutes=2)
    common = dict(Namespace=namespace, MetricName="Latency", Dimensions=DIMS, StartTime=start, EndTime=end)
    basic = ["SampleCount", "Sum", "Average", "Minimum", "Maximum"]

    for period, groups in ((1, [[0], [1], [2], [61]]), (60, [[0, 1, 2], [61]])):
        plain = cw.get_metric_statistics(Period=period, Statistics=basic, **common)["Datapoints"]
        ext = cw.get_metric_statistics(Period=period, ExtendedStatistics=list(PERCENTILES), **common)["Datapoints"]
        assert len(plain) == len(ext) == len(groups)
        plain.sort(key=lambda d: d["Timestamp"])
        ext.sort(key=lambda d: d["Timestamp"])
        for group, p, e in zip(groups, plain, ext):
            want = expected(expand([seconds[s] for s in group]))
            assert p["Timestamp"] == t0 + timedelta(seconds=(group[0] // period) * period)
            assert p["Unit"] == "Milliseconds"
            for stat in basic:
                assert p[stat] == pytest.approx(want[stat], rel=1e-9), (period, group, stat)
            assert set(e["ExtendedStatistics"]) == set(PERCENTILES)
            for name in PERCENTILES:
                assert e["ExtendedStatistics"][name] == want[name], (period, group, name)
            assert "Sum" not in e


def test_get_metric_data_percentile_sum_and_count(cw: Any, namespace: str, t0: datetime) -> None:
    rng = np.random.default_rng(2)
    seconds = {s: second_of_latencies(rng) for s in range(0, 5)}
    put_seconds(cw, namespace, t0, seconds)
    start, end = t0, t0 + timedelta(minutes=1)

    for stat, key in (("p95", "p95"), ("Sum", "Sum"), ("SampleCount", "SampleCount"), ("p99.9", "p99.9")):
        result = metric_data(cw, namespace, stat, 1, start, end, ScanBy="TimestampAscending")["MetricDataResults"][0]
        assert result["StatusCode"] == "Complete"
        assert result["Timestamps"] == [t0 + timedelta(seconds=s) for s in range(5)]
        want = [expected(expand([seconds[s]]))[key] for s in range(5)]
        assert result["Values"] == pytest.approx(want, rel=1e-9)

        whole = metric_data(cw, namespace, stat, 60, start, end)["MetricDataResults"][0]
        assert whole["Timestamps"] == [t0]
        assert whole["Values"] == pytest.approx([expected(expand(list(seconds.values())))[key]], rel=1e-9)

    descending = metric_data(cw, namespace, "Sum", 1, start, end)["MetricDataResults"][0]  # AWS's default order
    assert descending["Timestamps"] == [t0 + timedelta(seconds=s) for s in reversed(range(5))]


def test_periods_below_a_minute_and_missing_data(cw: Any, namespace: str, t0: datetime) -> None:
    put_seconds(cw, namespace, t0, {0: ([10.0], [3.0]), 7: ([20.0], [1.0]), 31: ([30.0], [2.0])})
    start, end = t0, t0 + timedelta(minutes=1)
    cases = {
        1: ([0, 7, 31], [30.0, 20.0, 60.0]),
        5: ([0, 5, 30], [30.0, 20.0, 60.0]),
        10: ([0, 30], [50.0, 60.0]),
        20: ([0, 20], [50.0, 60.0]),
        30: ([0, 30], [50.0, 60.0]),
    }
    for period, (offsets, sums) in cases.items():
        r = metric_data(cw, namespace, "Sum", period, start, end, ScanBy="TimestampAscending")["MetricDataResults"][0]
        assert r["Timestamps"] == [t0 + timedelta(seconds=s) for s in offsets], period
        assert r["Values"] == sums, period
    # a window without data: no datapoint at all, not a zero
    empty = metric_data(cw, namespace, "Sum", 1, t0 + timedelta(seconds=1), t0 + timedelta(seconds=7))
    assert empty["MetricDataResults"][0]["Values"] == []
    stats = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName="Latency",
        Dimensions=DIMS,
        Period=1,
        Statistics=["SampleCount"],
        StartTime=t0 + timedelta(seconds=1),
        EndTime=t0 + timedelta(seconds=7),
    )
    assert stats["Datapoints"] == []


def test_storage_is_compact(cw: Any, namespace: str, t0: datetime, moto_server: str) -> None:
    before = storage(moto_server)
    values = [float(v) for v in range(1, 151)]
    put_seconds(cw, namespace, t0, {s: (values, [1000.0] * 150) for s in range(100)})
    after = storage(moto_server)
    assert after["datums"] - before["datums"] == 100  # one stored object per datum, whatever the counts
    assert after["value_pairs"] - before["value_pairs"] == 100 * 150

    r = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName="Latency",
        Dimensions=DIMS,
        Period=300,
        StartTime=t0,
        EndTime=t0 + timedelta(minutes=5),
        ExtendedStatistics=["p50", "p99"],
    )
    (point,) = r["Datapoints"]
    assert point["ExtendedStatistics"] == {"p50": 75.0, "p99": 149.0}
    count = metric_data(cw, namespace, "SampleCount", 300, t0, t0 + timedelta(minutes=5))
    assert count["MetricDataResults"][0]["Values"] == [15_000_000.0]


def test_single_values_and_statistic_sets_mix(cw: Any, namespace: str, t0: datetime) -> None:
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": "Latency", "Dimensions": DIMS, "Timestamp": t0, "Value": 4.0},
            {"MetricName": "Latency", "Dimensions": DIMS, "Timestamp": t0, "Values": [1.0, 2.0], "Counts": [1.0, 2.0]},
            {
                "MetricName": "Latency",
                "Dimensions": DIMS,
                "Timestamp": t0,
                "StatisticValues": {"SampleCount": 4, "Sum": 40, "Minimum": 10, "Maximum": 10},
            },
        ],
    )
    common = dict(Namespace=namespace, MetricName="Latency", Dimensions=DIMS, Period=60, StartTime=t0, EndTime=t0 + timedelta(minutes=1))
    (p,) = cw.get_metric_statistics(Statistics=["SampleCount", "Sum", "Minimum", "Maximum"], **common)["Datapoints"]
    assert (p["SampleCount"], p["Sum"], p["Minimum"], p["Maximum"]) == (8.0, 49.0, 1.0, 10.0)
    (e,) = cw.get_metric_statistics(ExtendedStatistics=["p50", "p75"], **common)["Datapoints"]
    # 1, 2, 2, 4, 10, 10, 10, 10: rank 4 -> 4, rank 6 -> 10
    assert e["ExtendedStatistics"] == {"p50": 4.0, "p75": 10.0}


def test_dimensions_match_exactly(cw: Any, namespace: str, t0: datetime) -> None:
    route = [*DIMS, {"Name": "Route", "Value": "GET /items"}]
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": "Latency", "Dimensions": DIMS, "Timestamp": t0, "Values": [1.0], "Counts": [5.0]},
            {"MetricName": "Latency", "Dimensions": route, "Timestamp": t0, "Values": [2.0], "Counts": [7.0]},
        ],
    )
    r = metric_data(cw, namespace, "SampleCount", 60, t0, t0 + timedelta(minutes=1))
    assert r["MetricDataResults"][0]["Values"] == [5.0]
    listed = cw.list_metrics(Namespace=namespace)["Metrics"]
    assert sorted(len(m["Dimensions"]) for m in listed) == [2, 3]


def test_pagination_with_max_datapoints(cw: Any, namespace: str, t0: datetime) -> None:
    put_seconds(cw, namespace, t0, {s: ([float(s)], [1.0]) for s in range(12)})
    start, end = t0, t0 + timedelta(minutes=1)
    values: list[float] = []
    token = None
    pages = 0
    while True:
        kw: dict[str, Any] = {"MaxDatapoints": 5, "ScanBy": "TimestampAscending"}
        if token:
            kw["NextToken"] = token
        r = metric_data(cw, namespace, "Maximum", 1, start, end, **kw)
        (result,) = r["MetricDataResults"]
        values += result["Values"]
        pages += 1
        token = r.get("NextToken")
        assert result["StatusCode"] == ("PartialData" if token else "Complete")
        if not token:
            break
    assert pages == 3
    assert values == [float(s) for s in range(12)]


def test_aws_rules_are_enforced(cw: Any, namespace: str, t0: datetime) -> None:
    common = dict(Namespace=namespace, MetricName="Latency", Dimensions=DIMS, StartTime=t0)
    with pytest.raises(ClientError, match="not both"):
        cw.get_metric_statistics(Period=60, EndTime=t0 + timedelta(minutes=1), Statistics=["Sum"], ExtendedStatistics=["p95"], **common)
    with pytest.raises(ClientError, match="exceeds the limit of 1,440"):
        cw.get_metric_statistics(Period=1, EndTime=t0 + timedelta(hours=1), Statistics=["Sum"], **common)
    with pytest.raises(ClientError, match="1, 5, 10, 20, 30 or a multiple of 60"):
        cw.get_metric_statistics(Period=7, EndTime=t0 + timedelta(minutes=1), Statistics=["Sum"], **common)
    with pytest.raises(ClientError, match="not supported locally"):
        metric_data(cw, namespace, "tm99", 60, t0, t0 + timedelta(minutes=1))
    with pytest.raises(ClientError, match="greater than 150"):
        cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "Latency", "Values": [float(v) for v in range(151)]}])


def test_start_time_is_rounded_like_aws(cw: Any, namespace: str, t0: datetime) -> None:
    """Periods follow each other from StartTime rounded down to the minute (or the period, under 60 s)."""
    put_seconds(cw, namespace, t0, {s: ([1.0], [1.0]) for s in (65, 100, 190, 250)})
    r = metric_data(cw, namespace, "SampleCount", 120, t0 + timedelta(seconds=90), t0 + timedelta(minutes=5), ScanBy="TimestampAscending")["MetricDataResults"][
        0
    ]
    # 00:01:30 rounds down to 00:01:00, so periods are [1:00, 3:00) and [3:00, 5:00)
    assert r["Timestamps"] == [t0 + timedelta(seconds=60), t0 + timedelta(seconds=180)]
    assert r["Values"] == [2.0, 2.0]
    r = metric_data(cw, namespace, "SampleCount", 10, t0 + timedelta(seconds=97), t0 + timedelta(seconds=200), ScanBy="TimestampAscending")[
        "MetricDataResults"
    ][0]
    # 00:01:37 rounds down to 00:01:30 for 10 s periods
    assert r["Timestamps"] == [t0 + timedelta(seconds=100), t0 + timedelta(seconds=190)]


def test_a_distribution_is_split_into_data_the_local_cloudwatch_accepts_and_counts_whole(cw: Any, namespace: str, t0: datetime) -> None:
    from harness.local.datum import MAX_VALUES_PER_DATUM, distribution

    pairs = [(float(v), 2) for v in range(1, 2 * MAX_VALUES_PER_DATUM + 2)] + [(9999.0, 0)]  # 301 values, one counted 0 times
    data = distribution("Latency", "Milliseconds", DIMS, t0, pairs)
    assert [len(d["Values"]) for d in data] == [150, 150, 1] and 9999.0 not in data[-1]["Values"]
    cw.put_metric_data(Namespace=namespace, MetricData=data)
    got = metric_data(cw, namespace, "SampleCount", 60, t0, t0 + timedelta(minutes=1))["MetricDataResults"][0]
    assert got["Values"] == [2.0 * 301]
