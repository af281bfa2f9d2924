"""Who throttled first, and what changed against a baseline."""

from __future__ import annotations

import math

import pandas as pd

from harness.report.analysis import Delta, compare, compare_server, judge, throttle_story, who_throttled
from harness.report.server import ServerMetrics
from harness.report.tables import endpoint_rows
from harness.report.timeline import Timeline
from harness.results import ResultSet

from .frames import frame, series
from .synthetic import Model, synthetic_results

START = 1_000


def small_run(first_429: int | None = 12) -> ResultSet:
    """30 s at 10 rps from START; 429s from ``first_429`` seconds on."""
    results = ResultSet()
    results.meta = {"started_at": float(START)}
    for s in range(30):
        for i in range(10):
            throttled = first_429 is not None and s >= first_429 and i < 3
            results.record("a", "throttled" if throttled else "ok", 429 if throttled else 200, start_time=START + s + i / 10, response_time_ms=5 + i)
    return results


def test_layers_are_ordered_by_their_first_rejection() -> None:
    results = small_run(first_429=12)
    metrics = frame(
        series("cognito", "sign_in_throttles", START - 5, [2, 0, 0])
        + series("cognito", "token_refresh_throttles", START - 5, [0, 0, 0])
        + series("apigw", "4xx", START, [0] * 12 + [3] * 18)
        + series("lambda", "throttles", START, [0] * 20 + [1] * 10)
    )
    findings = who_throttled(Timeline.of(results), ServerMetrics(metrics))
    assert [(f.layer, f.state) for f in findings] == [
        ("Cognito", "throttled"),
        ("Client", "throttled"),
        ("API Gateway", "throttled"),
        ("Lambda", "throttled"),
    ]
    cognito, client, apigw, lam = findings
    assert (cognito.first_elapsed, cognito.count) == (-5.0, 2.0)
    assert (client.first_unix, client.first_elapsed, client.count, client.resolution) == (START + 12, 12.0, 18 * 3, 1)
    assert (apigw.first_elapsed, apigw.count) == (12.0, 54.0)
    assert (lam.first_elapsed, lam.count) == (20.0, 10.0)
    story = throttle_story(findings)
    assert story.startswith("First throttling seen: Cognito throttles at -0:05")
    assert story.endswith("; later: client HTTP 429s (0:12), API Gateway 4xx (0:12) and Lambda Throttles (0:20).")
    without_cognito = [f for f in findings if f.layer != "Cognito"]
    assert throttle_story(without_cognito) == (
        "First throttling seen: client HTTP 429s at 0:12 into the run (00:16:52 UTC); "
        "in the same second: API Gateway 4xx (0:12); later: Lambda Throttles (0:20)."
    )


def test_cloudwatch_periods_overlap_the_client_second() -> None:
    results = small_run(first_429=12)
    metrics = frame(series("apigw", "4xx", START, [54.0], period=60))
    findings = who_throttled(Timeline.of(results), ServerMetrics(metrics))
    apigw = next(f for f in findings if f.layer == "API Gateway")
    client = next(f for f in findings if f.layer == "Client")
    assert apigw.resolution == 60 and apigw.until_unix == START + 60 and apigw.overlaps(client)
    assert "at about the same time" in throttle_story(findings) and "60 s CloudWatch periods" in throttle_story(findings)


def test_no_metrics_means_no_data_not_clear() -> None:
    findings = who_throttled(Timeline.of(small_run(first_429=None)), ServerMetrics(None))
    assert [(f.layer, f.state) for f in findings] == [("Client", "clear"), ("API Gateway", "no data"), ("Lambda", "no data"), ("Cognito", "no data")]
    assert all(f.note == "no CloudWatch data for this run" for f in findings[1:])
    assert throttle_story(findings) == "No layer rejected traffic as far as the data show (API Gateway, Lambda and Cognito: no data)."


def test_periods_without_datapoints_are_no_data_and_zeros_are_clear() -> None:
    nan = float("nan")
    metrics = frame(series("apigw", "4xx", START, [nan, nan]) + series("lambda", "throttles", START, [0.0, nan]))
    findings = {f.layer: f for f in who_throttled(Timeline.of(small_run(None)), ServerMetrics(metrics))}
    assert findings["API Gateway"].state == "no data"
    assert findings["Lambda"].state == "clear"
    assert findings["Cognito"].state == "no data"


def test_judging_changes() -> None:
    assert judge("latency", 100.0, 111.0) == "regression"
    assert judge("latency", 100.0, 109.0) is None
    assert judge("latency", 100.0, 85.0) == "improvement"
    assert judge("errors", 0.5, 0.7) == "regression"  # +0.2 pp
    assert judge("errors", 0.5, 0.55) is None
    assert judge("rate", 100.0, 85.0) == "regression"
    assert judge("rate", 100.0, 120.0) is None
    assert judge(None, 1.0, 100.0) is None and judge("latency", None, 3.0) is None
    d = Delta(40.0, 50.0)
    assert (d.absolute, d.percent) == (10.0, 25.0)
    assert Delta(0.0, 5.0).percent is None and Delta(None, 5.0).absolute is None


def test_baseline_comparison_marks_regressions() -> None:
    base = synthetic_results(Model(median_ms=18.0, seed=1))
    slower = synthetic_results(Model(median_ms=24.0, seed=1, server_error_rate=0.02))
    rows = compare(endpoint_rows(slower), endpoint_rows(base))
    assert [r.endpoint for r in rows] == ["list items", "get item", "my profile", "create order", "Total"]
    total = rows[-1]
    assert total.regressed
    assert total.cells["p95_ms"].flag == "regression" and total.cells["p95_ms"].percent > 10
    assert total.cells["error_rate"].flag == "regression"
    assert total.cells["requests"].flag is None and total.cells["max_ms"].flag is None
    same = compare(endpoint_rows(base), endpoint_rows(base))
    assert not any(r.regressed for r in same)
    assert all(c.absolute == 0 for r in same for c in r.cells.values() if c.absolute is not None)


def test_endpoints_missing_on_one_side() -> None:
    base = endpoint_rows(small_run())
    other = ResultSet()
    other.record("b", "ok", 200, start_time=START, response_time_ms=3)
    rows = compare(endpoint_rows(other), base)
    assert [(r.endpoint, r.only_in) for r in rows] == [("b", "current"), ("a", "baseline"), ("Total", None)]
    assert rows[0].cells["p95_ms"].baseline is None and rows[1].cells["p95_ms"].current is None


def test_server_comparison(results: ResultSet, metrics: pd.DataFrame) -> None:
    slower = metrics.copy()
    slower.loc[slower["key"] == "latency", "value"] *= 1.5
    rows = dict(compare_server(ServerMetrics(slower), ServerMetrics(metrics)))
    assert rows["API Gateway Latency p95 (ms)"].flag == "regression"
    assert rows["API Gateway requests"].absolute == 0
    assert "Step Functions" not in " ".join(rows)  # absent on both sides: left out
    assert math.isclose(rows["API Gateway Latency p95 (ms)"].percent, 50.0)
    assert compare_server(ServerMetrics(None), ServerMetrics(None)) == []
