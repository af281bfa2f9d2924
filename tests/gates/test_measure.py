"""Measuring gates on real ResultSets and metric frames: client latency and rates, the open model,
server side, baselines, recovery; a gate without data fails (``harness.gates.measure``)."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.results import ResultSet

from .data import T0, _recovery, make_baseline, make_metrics, make_results, one


@pytest.mark.parametrize(
    "expression, actual",
    [
        ('"list items".p50 < 1s', 50.0),
        ('"list items".p95 < 1s', 95.0),
        ('"list items".p99.9 < 1s', 100.0),
        ('"list items".avg < 1s', 50.5),
        ('"list items".min < 1s', 1.0),
        ('"list items".max < 1s', 100.0),
        ('"get item".max < 1s', 10.0),  # ok requests only by default
        ("max < 1s", 100.0),
        ("p50 < 1s", 25.0),  # 150 ok requests: 1..100 ms and 50 x 10 ms; rank 75 is 25 ms
    ],
)
def test_latency_values(results: ResultSet, expression: str, actual: float) -> None:
    result = one(expression, results)
    assert result.passed and result.actual == pytest.approx(actual)
    assert result.unit == "ms"


def test_latency_outcome_selector(results: ResultSet) -> None:
    assert one('"get item".max{outcome="all"} < 1s', results).actual == 5000.0
    assert one('"get item".max{outcome="server"} < 1s', results).actual == 300.0
    assert one('p95{endpoint="get item", outcome="throttled"} < 1s', results).actual == 1.0


@pytest.mark.parametrize(
    "op, threshold, passed",
    [
        ("<", "96ms", True), ("<", "95ms", False),
        ("<=", "95ms", True), ("<=", "94ms", False),
        (">", "94ms", True), (">", "95ms", False),
        (">=", "95ms", True), (">=", "96ms", False),
        ("==", "95ms", True), ("==", "0.095s", True), ("==", "95001us", False),
        ("!=", "94ms", True), ("!=", "95ms", False),
    ],
)  # fmt: skip
def test_operators(results: ResultSet, op: str, threshold: str, passed: bool) -> None:
    result = one(f'"list items".p95 {op} {threshold}', results)
    assert result.actual == 95.0
    assert result.passed is passed


def test_per_endpoint_forms_agree(results: ResultSet) -> None:
    dotted = one('"list items".p95 < 90ms', results)
    braces = one('p95{endpoint="list items"} < 90ms', results)
    assert (dotted.actual, dotted.passed) == (braces.actual, braces.passed) == (95.0, False)
    assert dotted.to_dict()["endpoint"] == "list items"


def test_percentiles_come_from_merged_histograms_not_averages() -> None:
    results = ResultSet()
    for _ in range(100):
        results.record("e", "ok", 200, start_time=T0, response_time_ms=10.0)
    for _ in range(10):
        results.record("e", "ok", 200, start_time=T0 + 1, response_time_ms=1000.0)
    # per-second p95s are 10 and 1000 (mean 505); over the run, rank 105 of 110 is 1000 ms
    assert one("p95 < 2s", results).actual == 1000.0
    assert one("avg < 2s", results).actual == pytest.approx((100 * 10 + 10 * 1000) / 110)


@pytest.mark.parametrize(
    "expression, actual, passed",
    [
        ("error_rate < 1%", 25.0, False),
        ("error_rate <= 25%", 25.0, True),
        ("error_rate == 25%", 25.0, True),
        ("throttle_rate == 0", 15.0, False),
        ("throttle_rate < 20%", 15.0, True),
        ("auth_error_rate < 3%", 3.0, False),
        ("server_error_rate <= 5%", 5.0, True),
        ("client_error_rate < 2%", 1.5, True),
        ("transport_error_rate < 1%", 0.5, True),
        ('"list items".error_rate == 0', 0.0, True),
        ('"get item".error_rate < 50%', 50.0, False),
        ('"get item".throttle_rate == 30%', 30.0, True),
    ],
)
def test_rates(results: ResultSet, expression: str, actual: float, passed: bool) -> None:
    result = one(expression, results)
    assert result.actual == pytest.approx(actual)
    assert result.passed is passed
    assert result.unit == "%"


def test_rate_reason_is_a_sentence_with_the_counts(results: ResultSet) -> None:
    assert one("error_rate < 1%", results).reason == "50 of 200 requests did not get an expected status"
    assert one("throttle_rate < 1%", results).reason == "30 of 200 requests were throttled (HTTP 429)"
    assert one("server_error_rate < 1%", results).reason == "10 of 200 requests got a server error (HTTP 5xx)"
    assert one("auth_error_rate < 1%", results).reason == "6 of 200 requests were refused by auth (HTTP 401/403)"
    assert one("transport_error_rate < 1%", results).reason == "1 of 200 requests got no response (transport errors)"


def test_achieved_and_dropped_rate(results: ResultSet) -> None:
    achieved = one("achieved_rate >= 95% of target", results)
    assert achieved.passed and achieved.actual == pytest.approx(95.0)
    assert achieved.reason == "209 of 220 planned iterations released"
    assert not one("achieved_rate >= 96%", results).passed
    dropped = one("dropped_rate < 5%", results)
    assert dropped.actual == pytest.approx(5.0) and not dropped.passed
    assert one("dropped_rate <= 5%", results).passed


def test_a_gate_reason_writes_its_counts_as_the_terminal_does_with_thousands_separators() -> None:
    big = ResultSet(run_id="big")
    for i in range(1503):
        big.record("list items", "ok", 200, start_time=1_700_000_000 + i / 100, response_time_ms=5.0)
    big.record_pacer(1_700_000_000, target=2215.6, released=1503, dropped=712)
    assert one("dropped_rate < 1%", big).reason == "712 of 2,216 planned iterations dropped"
    assert one("error_rate < 1%", big).reason == "0 of 1,503 requests did not get an expected status"
    assert one("rps > 1", big).reason.startswith("1,503 requests in ")


def test_throughput(results: ResultSet) -> None:
    rps = one("rps >= 20", results)
    assert rps.passed and rps.actual == 20.0 and rps.unit == "rps"
    assert not one("rps > 20", results).passed
    assert one("requests >= 200", results).passed
    assert not one("requests > 200", results).passed
    assert one('"get item".requests == 100', results).passed
    assert one('"list items".rps == 10', results).passed


@pytest.mark.parametrize(
    "expression, actual, passed",
    [
        ("server.p95 < 250ms", 180.0, True),
        ("server.p95 < 0.15s", 180.0, False),
        ("server.avg <= 50", 50.0, True),
        ("server.max < 300ms", 400.0, False),
        ("server.integration.p99 < 200ms", 150.0, True),
        ("server.4xx == 0", 39.0, False),
        ("server.5xx <= 10", 10.0, True),
        ("server.count == 200", 200.0, True),
        ("server.5xx_rate < 1%", 5.0, False),
        ("server.5xx_rate <= 5%", 5.0, True),
        ("server.4xx_rate < 20%", 19.5, True),
        ("lambda.throttles == 0", 2.0, False),
        ('lambda.throttles{resource="fn-a"} == 0', 0.0, True),
        ("lambda.duration.p95 < 500ms", 420.0, True),
        ("lambda.concurrent_executions.max < 25", 30.0, False),
        ("cognito.throttles == 0", 3.0, False),
        ("cognito.sign_in_throttles <= 3", 3.0, True),
    ],
)
def test_server_side(results: ResultSet, expression: str, actual: float, passed: bool) -> None:
    result = one(expression, results, metrics=make_metrics())
    assert result.actual == pytest.approx(actual), result.reason
    assert result.passed is passed


def test_server_side_notes_resources_without_data(results: ResultSet) -> None:
    errors = one("lambda.errors <= 1", results, metrics=make_metrics())
    assert errors.passed and errors.actual == 1.0 and "no data for fn-a" in errors.reason
    cognito = one("cognito.throttles < 5", results, metrics=make_metrics())
    assert cognito.reason == "sign_in_throttles; no data for token_refresh_throttles"


def test_cognito_throttles_without_a_datum_are_zero_only_when_cognito_saw_attempts(results: ResultSet) -> None:
    # Cognito publishes SignInThrottles only for a throttled request; SignInSuccesses (1 or 0)
    # for every attempt. Attempts and no throttles datum: 0. No attempts either: no data, fails.
    frame = make_metrics()
    frame = frame[~frame["key"].str.endswith("throttles") | (frame["layer"] != "cognito")]
    attempts = frame.iloc[[0]].assign(layer="cognito", resource="pool", metric="SignInSuccesses", key="sign_in_successes", value=40.0)
    quiet = pd.concat([frame, attempts, attempts.assign(metric="SignInThrottles", key="sign_in_throttles", value=float("nan"))])
    passed = one("cognito.sign_in_throttles == 0", results, metrics=quiet)
    assert passed.passed and passed.actual == 0.0 and "none throttled" in passed.reason
    assert one("cognito.throttles == 0", results, metrics=quiet).passed
    silent = quiet[quiet["key"] != "sign_in_successes"]
    failed = one("cognito.sign_in_throttles == 0", results, metrics=silent)
    assert not failed.passed and failed.actual is None and "no data" in failed.reason


def test_server_percentiles_are_not_combined_across_resources(results: ResultSet) -> None:
    frame = pd.DataFrame(
        [{"layer": "apigw", "resource": r, "key": "latency", "stat": "p95", "scope": "run", "value": v} for r, v in (("api1", 100.0), ("api2", 300.0))]
    )
    result = one("server.p95 < 1s", results, metrics=frame)
    assert not result.passed and result.actual is None
    assert "several resources (api1, api2)" in result.reason
    assert one('server.p95{resource="api2"} < 1s', results, metrics=frame).actual == 300.0


@pytest.mark.parametrize(
    "expression, fragment",
    [
        ('"nope".p95 < 1s', "endpoint 'nope' is not in the run (endpoints: 'list items', 'get item', 'broken')"),
        ('"nope".error_rate < 1%', "endpoint 'nope' is not in the run"),
        ('"nope".requests == 0', "endpoint 'nope' is not in the run"),
        ('"broken".p95 < 1s', "no ok requests for endpoint 'broken' (4 requests in all)"),
        ('p95{endpoint="broken", outcome="throttled"} < 1s', "no throttled requests"),
    ],
)
def test_no_client_data_fails(expression: str, fragment: str) -> None:
    results = make_results()
    for _ in range(4):
        results.record("broken", "server", 503, start_time=T0, response_time_ms=5.0)
    result = one(expression, results)
    assert not result.passed and result.actual is None
    assert fragment in result.reason
    assert result.line() == f"FAIL {expression}: no value ({result.reason})"


def test_empty_run_fails_every_client_gate() -> None:
    empty = ResultSet()
    for expression in ("p95 < 1s", "error_rate < 1%", "throttle_rate == 0", "rps >= 0", "dropped_rate < 1%", "achieved_rate >= 0"):
        result = one(expression, empty)
        assert not result.passed and result.actual is None and result.reason, expression
    assert one("error_rate < 1%", empty).reason == "no requests"
    assert "planned no iterations" in one("achieved_rate >= 95% of target", empty).reason
    assert "no duration" in one("rps >= 0", empty).reason
    # a count of zero is a value, not missing data
    assert one("requests == 0", empty).passed


def test_zero_target_fails_pacer_gates(results: ResultSet) -> None:
    closed = ResultSet()
    closed.merge(results)
    closed.pacer.clear()
    for expression in ("achieved_rate >= 95% of target", "dropped_rate < 1%"):
        result = one(expression, closed)
        assert not result.passed and "pacer target is 0" in result.reason


@pytest.mark.parametrize(
    "expression, fragment",
    [
        ("server.integration.p95 < 1s", "CloudWatch returned no data for apigw integration_latency p95"),
        ("server.integration.p50 < 1s", "no whole-run apigw integration_latency p50 (stats present for apigw integration_latency: p95, p99)"),
        ("lambda.invocations > 0", "no whole-run lambda invocations sum (lambda keys present: concurrent_executions, duration, errors, throttles)"),
        ("lambda.duration.avg < 1s", "no whole-run lambda duration avg (stats present for lambda duration: p95)"),
        ('server.p95{resource="other"} < 1s', "no whole-run apigw latency p95 of 'other'"),
    ],
)
def test_missing_server_metrics_fail(results: ResultSet, expression: str, fragment: str) -> None:
    result = one(expression, results, metrics=make_metrics())
    assert not result.passed and result.actual is None
    assert fragment in result.reason


def test_server_gates_without_metrics_fail(results: ResultSet) -> None:
    for expression in ("server.p95 < 1s", "lambda.throttles == 0", "cognito.throttles == 0", "server.5xx_rate < 1%"):
        result = one(expression, results)
        assert not result.passed and "no CloudWatch metrics were given" in result.reason
    assert "lacks the columns key" in one("server.p95 < 1s", results, metrics=pd.DataFrame({"layer": [], "stat": [], "value": []})).reason
    empty = pd.DataFrame(columns=["layer", "resource", "metric", "key", "stat", "scope", "timestamp", "period", "value"])
    assert "no whole-run apigw rows at all" in one("server.p95 < 1s", results, metrics=empty).reason
    no_cognito = make_metrics()
    no_cognito = no_cognito[no_cognito["layer"] != "cognito"]
    assert "no whole-run cognito *throttles keys" in one("cognito.throttles == 0", results, metrics=no_cognito).reason
    all_nan = make_metrics()
    all_nan.loc[all_nan["layer"] == "cognito", "value"] = float("nan")
    assert "no data for cognito" in one("cognito.throttles == 0", results, metrics=all_nan).reason
    zero_count = make_metrics()
    zero_count.loc[zero_count["key"] == "count", "value"] = 0.0
    assert "counted no requests" in one("server.5xx_rate < 1%", results, metrics=zero_count).reason


def test_latency_regression(results: ResultSet) -> None:
    baseline = make_baseline()
    failed = one('"list items".p95 regression <= 10%', results, baseline=baseline)
    assert failed.actual == pytest.approx(25.0) and not failed.passed
    assert failed.reason == "95 ms vs baseline 76 ms"
    assert failed.line() == 'FAIL "list items".p95 regression <= 10%: +25% (limit 10%); 95 ms vs baseline 76 ms'
    assert one('"list items".p95 regression <= 25%', results, baseline=baseline).passed
    assert one('"list items".avg regression <= 30%', results, baseline=baseline).passed
    # faster than before is a negative regression
    improved = one('"list items".p95 regression <= 0%', baseline, baseline=results)
    assert improved.passed and improved.actual == pytest.approx(-20.0)


def test_rate_regression(results: ResultSet) -> None:
    baseline = make_baseline()
    failed = one("error_rate regression <= 0.5pp", results, baseline=baseline)
    assert failed.actual == pytest.approx(25.0) and failed.unit == "pp" and not failed.passed
    assert one('"list items".error_rate regression <= 0.5pp', results, baseline=baseline).passed


def test_regression_without_baseline_fails(results: ResultSet) -> None:
    result = one("p95 regression <= 10%", results)
    assert not result.passed and result.actual is None
    assert "no baseline run was given" in result.reason
    missing = one('"get item".p95 regression <= 10%', results, baseline=make_baseline())
    assert not missing.passed and missing.reason.startswith("the baseline run: endpoint 'get item' is not in the run")


def test_recovery_time_is_the_median_and_max_the_worst() -> None:
    results = _recovery(1.0, 2.0, 12.0)
    median = one("recovery_time < 3s", results)
    assert median.passed and median.actual == 2.0 and median.reason == "median of 3 events (worst 12 s)"
    worst = one("max_recovery_time < 10s", results)
    assert not worst.passed and worst.actual == 12.0
    assert worst.line() == "FAIL max_recovery_time < 10s: 12 s (limit 10 s); worst: burst 3, of 3 events"


def test_an_unrecovered_event_fails_both_recovery_gates() -> None:
    results = _recovery(1.0, None)
    for text in ("recovery_time < 30s", "max_recovery_time < 1m"):
        result = one(text, results)
        assert not result.passed and "not recovered" in result.line()
        assert "burst 2: not recovered within the run (4 s observed after it)" in result.line()


def test_recovery_gates_without_events_fail_and_are_computed_when_absent() -> None:
    result = one("recovery_time < 30s", ResultSet(run_id="r", meta={"started_at": T0}))
    assert not result.passed and "no burst or fault to recover from" in result.reason
