"""Tables and the timeline: the numbers match ResultSet's own queries."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.report.server import ServerMetrics
from harness.report.tables import endpoint_table, error_rows, reconcile, run_facts, server_rows, status_table
from harness.report.timeline import Timeline, run_origin
from harness.results import OUTCOMES, ResultSet

from .frames import frame, series


def test_endpoint_table_matches_resultset_summary(results: ResultSet) -> None:
    table = endpoint_table(results)
    summary = {row["endpoint"]: row for row in results.summary()}
    assert list(table["endpoint"]) == [*results.endpoint_names(), "Total"]
    for row in table.to_dict("records"):
        want = summary[row["endpoint"]]
        assert row["requests"] == want["requests"]
        assert row["rps"] == pytest.approx(want["rps"])
        for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
            assert row[key] == pytest.approx(want[key]), (row["endpoint"], key)
        for outcome in OUTCOMES:
            assert row[outcome] == want[outcome]
        assert row["error_rate"] == pytest.approx(100 * (want["requests"] - want["ok"]) / want["requests"])
    total = table.iloc[-1]
    assert total["requests"] == results.total
    assert total["mean_ms"] == pytest.approx(results.select().mean / 1000)
    assert table.iloc[0]["method"] == "GET" and table.iloc[0]["path"] == "/items"


def test_endpoint_without_ok_requests() -> None:
    results = ResultSet()
    results.record("down", "server", 503, start_time=10.0, response_time_ms=3.0)
    row = endpoint_table(results).iloc[0]
    assert row["requests"] == 1 and row["server"] == 1 and row["error_rate"] == 100.0
    assert math.isnan(row["p95_ms"]) and math.isnan(row["mean_ms"])


def test_timeline_counts_reconcile(results: ResultSet) -> None:
    timeline = Timeline.of(results)
    f = timeline.frame
    span = results.span()
    assert span is not None and (f.index[0], f.index[-1]) == span
    assert int(f["requests"].sum()) == results.total
    for outcome in OUTCOMES:
        assert int(f[outcome].sum()) == results.outcome_counts()[outcome]
    pacer = results.pacer_totals()
    assert int(f["released"].sum()) == pacer.released and int(f["dropped"].sum()) == pacer.dropped
    assert f["target"].sum() == pytest.approx(pacer.target)
    second = f.index[50]
    assert f.loc[second, "p95_ms"] == results.percentile(0.95, seconds=range(second, second + 1))
    assert timeline.origin == results.meta["started_at"]
    assert f["elapsed"].iloc[0] == pytest.approx(f.index[0] - timeline.origin)


def test_origin_without_started_at_is_estimated_from_the_pacer() -> None:
    results = ResultSet()
    results.plan = [{"start": 0.0, "end": 10.0, "rate_from": 100.0, "rate_to": 100.0, "label": ""}]
    results.record_pacer(500, target=30.0)  # the plan started 0.7 s into second 500
    results.record_pacer(501, target=100.0)
    assert run_origin(results) == pytest.approx(500.7)
    assert run_origin(ResultSet()) == 0.0


def test_empty_results_give_an_empty_timeline() -> None:
    timeline = Timeline.of(ResultSet())
    assert timeline.empty and not timeline.has_pacer and timeline.first("throttled") is None


def test_run_facts(results: ResultSet) -> None:
    facts = dict(run_facts(results))
    assert facts["Scenario"] == "spike"
    assert facts["Target"] == "https://abc123.execute-api.eu-west-1.amazonaws.com"
    assert facts["Status"] == "completed"
    assert facts["Started (UTC)"] == "2025-11-26 15:00:00 UTC"
    assert facts["Ended (UTC)"] == "2025-11-26 15:02:01 UTC"
    assert facts["Duration"].startswith("2:01")
    assert facts["Virtual users"] == "360" and facts["Workers"] == "1" and facts["Test users (Cognito)"] == "50"
    assert facts["Tool"] == "harness 0.1.0"
    assert "50 sign-ins" in facts["Cognito token calls"]
    assert facts["Load generator"] == "12 stalls (longest 9.5 ms), worst release lag 14.2 ms"


def test_status_and_error_tables(results: ResultSet) -> None:
    statuses = status_table(results)
    assert statuses.loc[429, "Total"] == results.outcome_counts()["throttled"]
    assert statuses.loc[201, "create order"] == statuses.loc[201, "Total"]
    assert int(statuses["Total"].sum()) == results.total
    errors = error_rows(results)
    assert errors and errors[0]["error"].startswith("ConnectionResetError")
    assert sum(e["count"] for e in errors) == results.outcome_counts()["transport"]
    assert status_table(ResultSet()).empty


def test_server_rows_and_reconciliation(results: ResultSet, metrics: pd.DataFrame) -> None:
    server = ServerMetrics(metrics)
    rows = dict(server_rows(server))
    assert rows["API Gateway requests (Count)"] == f"{results.total - results.outcome_counts()['transport']:,}"
    assert rows["API Gateway Latency p50 / p95 / p99"].endswith(" ms")
    assert "Step Functions ExecutionThrottled" not in rows  # no data: left out, not shown as 0
    gap = reconcile(results, server)
    assert gap is not None and gap["gap"] == 0 and gap["client"] == gap["server"]
    assert server_rows(ServerMetrics(None)) == [] and reconcile(results, ServerMetrics(None)) is None


def test_server_series_keep_gaps_and_sum_resources() -> None:
    nan = float("nan")
    metrics = frame(series("apigw", "count", 60, [5, nan, 7], period=60) + [("apigw", "count", "Sum", 300, 60, 9)])
    two = metrics.copy()
    two["resource"] = "other/$default"
    server = ServerMetrics(pd.concat([metrics, two]))
    got = server.series("apigw", "count", "Sum")
    assert got is not None and got.period == 60
    assert list(got.values.index) == [60, 120, 180, 240, 300]  # the missing period 240 is a row, NaN
    assert np.allclose(got.values.to_numpy(), [10, nan, 14, nan, 18], equal_nan=True)
    assert server.run_value("apigw", "count", "Sum") == 42  # no whole-run row: the series' sum
    assert server.series("lambda", "throttles") is None and server.run_value("lambda", "throttles", "Sum") is None


def test_reconciliation_counts_retry_attempts(results: ResultSet, metrics: pd.DataFrame) -> None:
    """The server saw the retries too: a retry attempt is a client request in the reconciliation."""
    gap = reconcile(results, ServerMetrics(metrics))
    assert gap is not None
    results.record_retry("list items", "ok", 200, start_time=next(iter(results.windows))[2], response_time_ms=3.0)
    again = reconcile(results, ServerMetrics(metrics))
    assert again is not None and again["client"] == gap["client"] + 1 and again["gap"] == gap["gap"] - 1
