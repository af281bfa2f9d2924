"""The gates and the report read CloudWatch's whole-run values through one reader
(``harness.metrics.RunValues``): they never disagree on a number."""

from __future__ import annotations

import pandas as pd

from harness.gates import evaluate
from harness.report.server import ServerMetrics
from harness.report.tables import server_rows
from harness.results import ResultSet

from .frames import frame


def two_apis() -> pd.DataFrame:
    """Whole-run rows of two API stages: their p95s (100 and 300 ms) and their request counts."""
    run = frame([("apigw", "latency", "p95", 0, 3600, 100.0), ("apigw", "count", "Sum", 0, 3600, 40.0)], scope="run")
    other = run.assign(resource="xyz789/$default", value=[300.0, 60.0])
    return pd.concat([run, other], ignore_index=True)


def gate(expression: str, metrics: pd.DataFrame) -> tuple[float | None, str]:
    result = evaluate([expression], results=ResultSet(), metrics=metrics).results[0]
    return result.actual, result.reason


def test_a_percentile_of_several_resources_is_refused_by_the_gate_and_shown_per_resource_by_the_report() -> None:
    metrics = two_apis()
    actual, reason = gate("server.p95 < 1s", metrics)
    assert actual is None and "several resources (abc123/$default, xyz789/$default)" in reason
    rows = dict(server_rows(ServerMetrics(metrics)))
    latency = [label for label in rows if label.startswith("API Gateway Latency")]
    # no row with one number for both (the largest, 300 ms, was printed while the gate said "no data")
    assert latency == ["API Gateway Latency p50 / p95 / p99 (abc123/$default)", "API Gateway Latency p50 / p95 / p99 (xyz789/$default)"]
    for resource, label in zip(("abc123/$default", "xyz789/$default"), latency):
        picked, _ = gate(f'server.p95{{resource="{resource}"}} < 1s', metrics)
        assert rows[label] == f"– / {picked:,.1f} / – ms"
        assert ServerMetrics(metrics).run_value("apigw", "latency", "p95", resource=resource) == picked


def test_a_sum_over_several_resources_is_the_same_number_for_the_gate_and_the_report() -> None:
    metrics = two_apis()
    actual, _ = gate("server.count == 100", metrics)
    assert actual == 100.0
    assert dict(server_rows(ServerMetrics(metrics)))["API Gateway requests (Count)"] == "100"
    assert ServerMetrics(metrics).run_value("apigw", "count", "Sum") == actual


def test_a_sum_without_a_whole_run_datapoint_is_the_sum_of_its_periods_for_both() -> None:
    metrics = frame([("apigw", "count", "Sum", 60, 60, 10.0), ("apigw", "count", "Sum", 120, 60, float("nan")), ("apigw", "count", "Sum", 180, 60, 14.0)])
    actual, reason = gate("server.count == 24", metrics)
    assert actual == 24.0 and "sum of the periods" in reason
    assert ServerMetrics(metrics).run_value("apigw", "count", "Sum") == actual
