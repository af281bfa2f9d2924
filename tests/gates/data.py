"""Hand-made runs, baselines and metric frames for the gate tests."""

from __future__ import annotations

import pandas as pd

from harness.gates import Gate, GateResult, evaluate
from harness.results import ResultSet

T0 = 1_764_170_000


def make_results() -> ResultSet:
    """Two endpoints with known latencies, outcomes and pacer totals.

    - "list items": 100 ok requests at 1, 2, ..., 100 ms  -> p50 50, p95 95, avg 50.5, max 100
    - "get item": 50 ok at 10 ms, 30 throttled (1 ms), 10 server (300 ms), 6 auth (2 ms),
      3 client (3 ms), 1 transport (5000 ms)
    Whole run: 200 requests, 50 not ok; 10 s; 220 planned, 209 released, 11 dropped.
    """
    results = ResultSet(run_id="now", meta={"duration": 10})
    for i in range(1, 101):
        results.record("list items", "ok", 200, start_time=T0 + i % 10 + 0.5, response_time_ms=float(i))
    batches = [("ok", 200, 50, 10.0), ("throttled", 429, 30, 1.0), ("server", 500, 10, 300.0),
               ("auth", 401, 6, 2.0), ("client", 404, 3, 3.0), ("transport", 0, 1, 5000.0)]  # fmt: skip
    for outcome, status, n, ms in batches:
        for i in range(n):
            results.record("get item", outcome, status, start_time=T0 + i % 10 + 0.1, response_time_ms=ms)
    for s in range(10):
        results.record_pacer(T0 + s, target=22.0, released=21 if s < 9 else 20, dropped=1 if s < 9 else 2)
    return results


def make_baseline() -> ResultSet:
    """ "list items" 100 ok requests at 0.8, 1.6, ..., 80 ms (p95 76 ms); no errors."""
    results = ResultSet(run_id="before", meta={"duration": 10})
    for i in range(1, 101):
        results.record("list items", "ok", 200, start_time=T0 + i % 10, response_time_ms=i * 0.8)
    return results


def make_metrics() -> pd.DataFrame:
    rows = [
        ("apigw", "api1", "Count", "count", "Sum", 200.0),
        ("apigw", "api1", "4xx", "4xx", "Sum", 39.0),
        ("apigw", "api1", "5xx", "5xx", "Sum", 10.0),
        ("apigw", "api1", "Latency", "latency", "p95", 180.0),
        ("apigw", "api1", "Latency", "latency", "Average", 50.0),
        ("apigw", "api1", "Latency", "latency", "Maximum", 400.0),
        ("apigw", "api1", "IntegrationLatency", "integration_latency", "p95", float("nan")),
        ("apigw", "api1", "IntegrationLatency", "integration_latency", "p99", 150.0),
        ("lambda", "fn-a", "Throttles", "throttles", "Sum", 0.0),
        ("lambda", "fn-b", "Throttles", "throttles", "Sum", 2.0),
        ("lambda", "fn-a", "Errors", "errors", "Sum", float("nan")),
        ("lambda", "fn-b", "Errors", "errors", "Sum", 1.0),
        ("lambda", "fn-a", "Duration", "duration", "p95", 420.0),
        ("lambda", "fn-a", "ConcurrentExecutions", "concurrent_executions", "Maximum", 12.0),
        ("lambda", "fn-b", "ConcurrentExecutions", "concurrent_executions", "Maximum", 30.0),
        ("cognito", "pool", "SignInThrottles", "sign_in_throttles", "Sum", 3.0),
        ("cognito", "pool", "TokenRefreshThrottles", "token_refresh_throttles", "Sum", float("nan")),
    ]
    frame = pd.DataFrame(rows, columns=["layer", "resource", "metric", "key", "stat", "value"])
    frame["scope"] = "run"
    frame["timestamp"] = pd.Timestamp(T0, unit="s", tz="UTC")
    frame["period"] = 10
    # a per-period row that whole-run gates must ignore
    period = pd.DataFrame(
        [{"layer": "apigw", "resource": "api1", "metric": "Latency", "key": "latency", "stat": "p95",
          "value": 999.0, "scope": "period", "timestamp": pd.Timestamp(T0, unit="s", tz="UTC"), "period": 1}]
    )  # fmt: skip
    return pd.concat([frame, period], ignore_index=True)[["layer", "resource", "metric", "key", "stat", "scope", "timestamp", "period", "value"]]


def one(expression: str, results: ResultSet, **kwargs) -> GateResult:
    verdict = evaluate([Gate.parse(expression)], results=results, **kwargs)
    assert len(verdict.results) == 1
    return verdict.results[0]


def _recovery(*times: float | None) -> ResultSet:
    """A run whose recovery block holds events with these recovery times (None: not recovered)."""
    rows = [
        {"name": f"burst {i + 1}", "kind": "burst", "status": "recovered" if t is not None else "not recovered", "recovery_time": t,
         "note": "" if t is not None else "not recovered within the run (4 s observed after it)"}
        for i, t in enumerate(times)
    ]  # fmt: skip
    return ResultSet(run_id="r", recovery={"events": rows, "summary": {}})
