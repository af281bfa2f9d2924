"""Gates: parsing every form, evaluating against real ResultSets and metric frames, the Verdict."""

from __future__ import annotations

import ast
import json
import math
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from harness.errors import ScenarioError, UsageError
from harness.gates import (
    EXIT_GATE_FAILED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    Gate,
    GateError,
    GateResult,
    Verdict,
    check_gates,
    evaluate,
    parse_gates,
)
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
    """"list items" 100 ok requests at 0.8, 1.6, ..., 80 ms (p95 76 ms); no errors."""
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
    return pd.concat([frame, period], ignore_index=True)[
        ["layer", "resource", "metric", "key", "stat", "scope", "timestamp", "period", "value"]
    ]


@pytest.fixture(scope="module")
def results() -> ResultSet:
    return make_results()


def one(expression: str, results: ResultSet, **kwargs) -> GateResult:
    verdict = evaluate([Gate.parse(expression)], results=results, **kwargs)
    assert len(verdict.results) == 1
    return verdict.results[0]


# ---- parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, metric, aggregation, op, threshold, unit",
    [
        ("p95 < 300ms", "latency", "p95", "<", 300.0, "ms"),
        ("p99 < 1s", "latency", "p99", "<", 1000.0, "ms"),
        ("p50 <= 120 ms", "latency", "p50", "<=", 120.0, "ms"),
        ("p99.9 < 2s", "latency", "p99.9", "<", 2000.0, "ms"),
        ("p(95) < 200", "latency", "p95", "<", 200.0, "ms"),
        ("p95 < 250us", "latency", "p95", "<", 0.25, "ms"),
        ("median < 80", "latency", "p50", "<", 80.0, "ms"),
        ("avg < 100ms", "latency", "avg", "<", 100.0, "ms"),
        ("mean < 100ms", "latency", "avg", "<", 100.0, "ms"),
        ("max < 5s", "latency", "max", "<", 5000.0, "ms"),
        ("min > 0.5ms", "latency", "min", ">", 0.5, "ms"),
        ("error_rate < 1%", "error_rate", None, "<", 1.0, "%"),
        ("throttle_rate == 0", "throttle_rate", None, "==", 0.0, "%"),
        ("auth_error_rate <= 0.5%", "auth_error_rate", None, "<=", 0.5, "%"),
        ("server_error_rate != 0", "server_error_rate", None, "!=", 0.0, "%"),
        ("client_error_rate < 2%", "client_error_rate", None, "<", 2.0, "%"),
        ("transport_error_rate < 2%", "transport_error_rate", None, "<", 2.0, "%"),
        ("dropped_rate < 1%", "dropped_rate", None, "<", 1.0, "%"),
        ("dropped_rate < 1% of target", "dropped_rate", None, "<", 1.0, "%"),
        ("achieved_rate >= 95% of target", "achieved_rate", None, ">=", 95.0, "%"),
        ("achieved_rate >= 0 of target", "achieved_rate", None, ">=", 0.0, "%"),
        ("error_rate regression <= 0", "error_rate", None, "<=", 0.0, "pp"),
        ("rps >= 100", "rps", None, ">=", 100.0, "rps"),
        ("rps > 100 rps", "rps", None, ">", 100.0, "rps"),
        ("requests >= 1000", "requests", None, ">=", 1000.0, ""),
        ("server.p95 < 250ms", "server.latency", "p95", "<", 250.0, "ms"),
        ("server.latency.avg < 50", "server.latency", "avg", "<", 50.0, "ms"),
        ("server.integration.p95 < 200ms", "server.integration_latency", "p95", "<", 200.0, "ms"),
        ("server.4xx == 0", "server.4xx", None, "==", 0.0, ""),
        ("server.5xx == 0", "server.5xx", None, "==", 0.0, ""),
        ("server.count >= 100", "server.count", None, ">=", 100.0, ""),
        ("server.5xx_rate < 1%", "server.5xx_rate", None, "<", 1.0, "%"),
        ("lambda.throttles == 0", "lambda.throttles", None, "==", 0.0, ""),
        ("cognito.throttles == 0", "cognito.throttles", None, "==", 0.0, ""),
        ("states.executions_failed == 0", "states.executions_failed", None, "==", 0.0, ""),
        ("lambda.duration.p95 < 0.5s", "lambda.duration", "p95", "<", 500.0, "ms"),
        ("lambda.concurrent_executions.max < 900", "lambda.concurrent_executions", "max", "<", 900.0, ""),
        ("lambda.throttles.sum == 0", "lambda.throttles", None, "==", 0.0, ""),
        ("p95 regression <= 10%", "latency", "p95", "<=", 10.0, "%"),
        ("error_rate regression <= 0.5pp", "error_rate", None, "<=", 0.5, "pp"),
    ],
)
def test_parse_forms(text: str, metric: str, aggregation: str | None, op: str, threshold: float, unit: str) -> None:
    gate = Gate.parse(text)
    assert (gate.metric, gate.aggregation, gate.op, gate.unit) == (metric, aggregation, op, unit)
    assert gate.threshold == pytest.approx(threshold)
    assert gate.expression == text
    assert str(gate) == text
    assert gate.regression == ("regression" in text)


def test_parse_is_whitespace_tolerant_and_case_insensitive() -> None:
    assert Gate.parse("  P95<300MS ") == Gate.parse("  P95<300MS ")  # a frozen, hashable value
    tight, loose = Gate.parse("P95<300MS"), Gate.parse("  p95   <   300 ms  ")
    assert (tight.metric, tight.aggregation, tight.op, tight.threshold) == (loose.metric, loose.aggregation, loose.op, loose.threshold)
    assert Gate.parse("Error_Rate<1 %").threshold == 1.0
    assert Gate.parse("SERVER.Integration.P99 < 1S").threshold == 1000.0
    assert Gate.parse("P95 REGRESSION <= 10%").regression
    assert Gate.parse("Achieved_Rate >= 95 % Of Target").threshold == 95.0
    assert Gate.parse("p95 < 300ms").quantile == 0.95
    assert Gate.parse("p99.9 < 1s").quantile == pytest.approx(0.999)
    assert Gate.parse("avg < 1s").quantile is None
    assert {Gate.parse("p95 < 1s")} == {Gate.parse("p95 < 1s")}


def test_parse_per_endpoint_both_forms() -> None:
    dotted = Gate.parse('"list items".p95 < 200ms')
    braces = Gate.parse('p95{endpoint="list items"} < 200ms')
    single = Gate.parse("'list items' . p95 < 200ms")
    for gate in (dotted, braces, single):
        assert (gate.endpoint, gate.metric, gate.aggregation, gate.threshold) == ("list items", "latency", "p95", 200.0)
    assert Gate.parse('"a \\"quoted\\" < name".error_rate < 1%').endpoint == 'a "quoted" < name'
    assert Gate.parse('"list items".p95 regression <= 10%').endpoint == "list items"
    assert Gate.parse('"list items".requests >= 1').endpoint == "list items"
    assert Gate.parse('p95 { endpoint = "x" , outcome = "all" } < 1s').outcomes is None
    assert Gate.parse('p95{outcome="server"} < 1s').outcomes == ("server",)
    assert Gate.parse("p95 < 1s").outcomes == ("ok",)
    assert Gate.parse('server.p95{resource="api1"} < 1s').resource == "api1"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("p95", "no comparison"),
        ("p95 <", "threshold is missing"),
        ("p95 < abc", "not a number"),
        ("p95 < 300 apples", "unknown latency unit 'apples'"),
        ("p95 = 300", "use == for equality"),
        ("p95 => 300", "not an operator"),
        ("p95 300ms", "expected an operator"),
        ("p96x < 3", "unknown metric 'p96x'"),
        ("eror_rate < 1%", "did you mean error_rate?"),
        ("p0 < 3", "out of range"),
        ("p101 < 3", "out of range"),
        ("p95 < -3", "negative"),
        ("error_rate < 5", "ambiguous"),
        ("error_rate < 1ms", "unknown unit 'ms'"),
        ("achieved_rate >= 95 of target", "ambiguous"),
        ("error_rate < 1% of target", "unknown unit '% of target'"),
        ("rps > 3 ms", "unknown unit"),
        ("requests > 3ms", "takes no unit"),
        ('"x.p95 < 3', "not closed"),
        ('"x" p95 < 3', "followed by a dot"),
        ('"".p95 < 3', "endpoint name is empty"),
        ('"a".p95{endpoint="b"} < 3', "endpoint is given twice"),
        ('p95{colour="red"} < 3', "unknown selector key 'colour'"),
        ("p95{endpoint=x} < 3", "must be quoted"),
        ('p95{endpoint:"x"} < 3', "needs = and a quoted value"),
        ('p95{endpoint="x" outcome="all"} < 3', "closed with }"),
        ('p95{endpoint="x", endpoint="y"} < 3', "given twice"),
        ("p95\n<\n3 parsec", "unknown latency unit"),
        ('p95{outcome="weird"} < 3', "unknown outcome"),
        ('error_rate{outcome="all"} < 3%', "outcome selector applies to client latency"),
        ('p95{resource="api1"} < 3', "resource selector applies to server-side"),
        ('server.p95{endpoint="x"} < 3', "cannot be per endpoint"),
        ('"x".lambda.throttles == 0', "cannot be per endpoint"),
        ('"x".dropped_rate < 1%', "not per endpoint"),
        ("rps regression < 3%", "regression applies to client latency and client rates"),
        ("server.p95 regression < 3%", "regression applies"),
        ("error_rate regression < 1%", "percentage points (pp)"),
        ("p95 regression < 10", "ambiguous"),
        ("server.foo < 3", "unknown metric 'server.foo'"),
        ("lambda.duration.p95.x < 3", "lambda metrics are <key>"),
        ("lambda.duration.p95 < 3 apples", "unknown latency unit"),
        ("lambda.errors.avg < 3ms", "takes no unit"),
    ],
)
def test_bad_expressions_say_what_and_show_an_example(text: str, fragment: str) -> None:
    with pytest.raises(GateError) as caught:
        Gate.parse(text)
    message = str(caught.value)
    assert isinstance(caught.value, ScenarioError)
    assert caught.value.exit_code == EXIT_USAGE
    assert fragment in message
    assert message.startswith(f"gate {' '.join(text.split())!r}: ")
    assert "; e.g. '" in message
    assert "\n" not in message
    Gate.parse(ast.literal_eval(message.rsplit("; e.g. ", 1)[1]))  # the example itself is valid


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(GateError, match="a gate is a string"):
        Gate.parse(300)  # type: ignore[arg-type]


def test_parse_gates_names_file_and_index() -> None:
    assert [g.expression for g in parse_gates(["p95 < 1s", "rps > 1"])] == ["p95 < 1s", "rps > 1"]
    with pytest.raises(GateError) as caught:
        parse_gates(["p95 < 1s", "p95 < 1 parsec"], path="scenarios/ci.toml")
    assert str(caught.value).startswith("scenarios/ci.toml: gates[1]: gate 'p95 < 1 parsec': unknown latency unit")
    assert caught.value.field == "gates[1]"
    assert caught.value.path == "scenarios/ci.toml"


def test_exit_code_constants() -> None:
    assert (EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_RUN_FAILED) == (0, 1, 2, 3)


# ---- client latency -------------------------------------------------------------------------------


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


# ---- client rates and throughput ------------------------------------------------------------------


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


@pytest.mark.parametrize(
    "text, readings",
    [
        ("error_rate < 1", "write 1% (read as a percentage) or 100% (read as a fraction)"),
        ("error_rate < 0.01", "write 0.01% (read as a percentage) or 1% (read as a fraction)"),
        ("throttle_rate <= 5", "write 5% (read as a percentage) or 500% (read as a fraction)"),
        ("achieved_rate >= 0.95", "write 0.95% (read as a percentage) or 95% (read as a fraction)"),
        ("achieved_rate >= 0.95 of target", "write 0.95% (read as a percentage) or 95% (read as a fraction)"),
        ("error_rate regression <= 0.5", "write 0.5pp (read as percentage points) or 50pp (read as a fraction)"),
    ],
)
def test_a_bare_number_on_a_rate_is_refused_with_both_readings(text: str, readings: str) -> None:
    """``error_rate < 1`` used to read as the fraction 1, i.e. 100 %: a gate that never fails."""
    with pytest.raises(GateError) as caught:
        Gate.parse(text)
    message = str(caught.value)
    assert "ambiguous" in message and readings in message and "\n" not in message
    assert Gate.parse("throttle_rate == 0").threshold == 0.0  # 0 reads the same either way


def test_check_gates_refuses_before_any_load_what_could_never_be_evaluated() -> None:
    endpoints = ["list items", "get item"]
    check_gates(parse_gates(['"list items".p95 < 200ms', "p95 regression <= 10%"]), endpoints=endpoints, baseline=True)
    with pytest.raises(GateError) as caught:
        check_gates(parse_gates(['"list itemz".p95 < 200ms']), endpoints=endpoints, baseline=False, path="s.toml")
    message = str(caught.value)
    assert message.startswith("s.toml: gate '\"list itemz\".p95 < 200ms': the scenario has no endpoint 'list itemz'")
    assert "did you mean 'list items'?" in message and caught.value.exit_code == EXIT_USAGE
    with pytest.raises(UsageError, match="compares with a baseline run: pass --baseline") as caught_usage:
        check_gates(parse_gates(["p95 regression <= 10%"]), endpoints=endpoints, baseline=False)
    assert caught_usage.value.exit_code == EXIT_USAGE


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


# ---- server side ----------------------------------------------------------------------------------


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
        [
            {"layer": "apigw", "resource": r, "key": "latency", "stat": "p95", "scope": "run", "value": v}
            for r, v in (("api1", 100.0), ("api2", 300.0))
        ]
    )
    result = one("server.p95 < 1s", results, metrics=frame)
    assert not result.passed and result.actual is None
    assert "several resources (api1, api2)" in result.reason
    assert one('server.p95{resource="api2"} < 1s', results, metrics=frame).actual == 300.0


# ---- gates that cannot be evaluated fail, with a reason -------------------------------------------


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


# ---- baseline -------------------------------------------------------------------------------------


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


# ---- verdict --------------------------------------------------------------------------------------


def test_zero_gates_pass(results: ResultSet) -> None:
    verdict = evaluate([], results=results)
    assert verdict.passed and verdict.results == () and verdict.summary_lines() == []
    assert verdict.to_dict() == {"passed": True, "total": 0, "failed": 0, "gates": []}


def test_verdict_orders_failing_first_and_keeps_gate_order(results: ResultSet) -> None:
    texts = ["requests >= 1", "p95 < 1ms", "rps >= 1", "server.p95 < 1s", "error_rate < 1%"]
    verdict = evaluate(texts, results=results)  # strings are parsed
    assert not verdict.passed
    assert [r.expression for r in verdict.results] == ["p95 < 1ms", "server.p95 < 1s", "error_rate < 1%", "requests >= 1", "rps >= 1"]
    assert [r.expression for r in verdict.failures] == ["p95 < 1ms", "server.p95 < 1s", "error_rate < 1%"]
    assert evaluate(["requests >= 1", "rps >= 1"], results=results).passed


def test_summary_lines(results: ResultSet) -> None:
    results = make_results()
    for _ in range(100):
        results.record("slow", "ok", 200, start_time=T0, response_time_ms=412.3)
    verdict = evaluate(['"slow".p95 < 300ms', "requests >= 1000", "throttle_rate == 0", "max < 5s"], results=results)
    assert verdict.summary_lines() == [
        'FAIL "slow".p95 < 300ms: 412.3 ms (limit 300 ms)',
        "FAIL requests >= 1000: 300 (limit 1000)",
        "FAIL throttle_rate == 0: 10% (limit 0%); 30 of 300 requests were throttled (HTTP 429)",
        "PASS max < 5s: 412.3 ms (limit 5000 ms)",
    ]


def test_verdict_dict_round_trip(results: ResultSet) -> None:
    verdict = evaluate(
        ['"list items".p95 < 1s', "p95 regression <= 10%", "error_rate < 1%", "server.5xx_rate < 1%"],
        results=results,
        metrics=make_metrics(),
    )
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["passed"] is False and data["total"] == 4 and data["failed"] == 3
    first = data["gates"][0]
    assert set(first) >= {"expression", "passed", "actual", "threshold", "unit", "reason", "endpoint"}
    assert first == {
        "expression": "p95 regression <= 10%",
        "passed": False,
        "actual": None,
        "threshold": 10.0,
        "unit": "%",
        "reason": "no baseline run was given to compare with (pass the baseline results file)",
        "endpoint": None,
        "metric": "p95",
    }
    assert data["gates"][-1]["endpoint"] == "list items"
    again = Verdict.from_dict(data)
    assert again == verdict
    assert again.to_dict() == verdict.to_dict()
    assert again.summary_lines() == verdict.summary_lines()


def test_junit_xml(results: ResultSet) -> None:
    verdict = evaluate(
        ['"list items".p95 < 1s', "requests >= 1", "error_rate < 1%", "server.p95 < 1s"],
        results=results,
    )
    xml = verdict.to_junit("steady & <ci>")
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(xml.split("\n", 1)[1])
    assert root.tag == "testsuites" and root.get("tests") == "4" and root.get("failures") == "2"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "steady & <ci>"
    cases = suite.findall("testcase")
    assert len(cases) == 4
    assert {c.get("classname") for c in cases} == {"harness.gates"}
    assert [c.get("name") for c in cases] == ["error_rate < 1%", "server.p95 < 1s", '"list items".p95 < 1s', "requests >= 1"]
    failures = [c.find("failure") for c in cases]
    assert [f is not None for f in failures] == [True, True, False, False]
    assert failures[0].get("type") == "GateFailed"
    assert failures[0].get("message") == "FAIL error_rate < 1%: 25% (limit 1%); 50 of 200 requests did not get an expected status"
    assert failures[1].get("type") == "GateNotEvaluated"
    assert "no CloudWatch metrics were given" in failures[1].text
    assert cases[2].find("system-out").text.startswith("PASS ")
    empty = ET.fromstring(Verdict().to_junit("none").split("\n", 1)[1])
    assert empty.get("tests") == "0" and empty.get("failures") == "0"


def test_number_formatting_in_lines(results: ResultSet) -> None:
    line = one('"list items".avg < 1s', results).line()
    assert line == 'PASS "list items".avg < 1s: 50.5 ms (limit 1000 ms)'
    assert math.isclose(one("p99.9 < 250us", results).threshold, 0.25)
    assert one("p99.9 < 250us", results).line().startswith("FAIL p99.9 < 250us: 100 ms (limit 0.25 ms)")


# ---- recovery time -------------------------------------------------------------------------------


def _recovery(*times: float | None) -> ResultSet:
    """A run whose recovery block holds events with these recovery times (None: not recovered)."""
    rows = [
        {"name": f"burst {i + 1}", "kind": "burst", "status": "recovered" if t is not None else "not recovered", "recovery_time": t,
         "note": "" if t is not None else "not recovered within the run (4 s observed after it)"}
        for i, t in enumerate(times)
    ]  # fmt: skip
    return ResultSet(run_id="r", recovery={"events": rows, "summary": {}})


@pytest.mark.parametrize(
    "text, metric, threshold",
    [("recovery_time < 30s", "recovery_time", 30.0), ("max_recovery_time < 1m", "max_recovery_time", 60.0),
     ("recovery_time <= 1500ms", "recovery_time", 1.5), ("MAX_RECOVERY_TIME < 0", "max_recovery_time", 0.0)],
)  # fmt: skip
def test_recovery_gates_parse_in_seconds(text: str, metric: str, threshold: float) -> None:
    gate = Gate.parse(text)
    assert (gate.metric, gate.threshold, gate.unit, gate.endpoint) == (metric, threshold, "s", None)


@pytest.mark.parametrize(
    "text, fragment",
    [("recovery_time < 30", "a bare 30 is ambiguous for a recovery time: write it with s, ms or m"),
     ("recovery_time < 30%", "unknown unit '%' for a recovery time"),
     ('"list items".recovery_time < 30s', "not per endpoint"),
     ("recovery_time regression <= 10%", "regression applies to client latency and client rates")],
)  # fmt: skip
def test_bad_recovery_gates_are_refused_in_one_line(text: str, fragment: str) -> None:
    with pytest.raises(GateError) as caught:
        Gate.parse(text)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


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


def test_check_gates_refuses_recovery_gates_without_events() -> None:
    gates = parse_gates(["max_recovery_time < 1m"])
    with pytest.raises(UsageError, match="needs a burst or a fault to recover from, and the scenario has neither") as caught:
        check_gates(gates, endpoints=["list items"], baseline=False, path="s.toml", events=False)
    assert caught.value.exit_code == EXIT_USAGE and "\n" not in str(caught.value)
    check_gates(gates, endpoints=["list items"], baseline=False, events=True)
    check_gates(gates, endpoints=["list items"], baseline=False)  # unknown (a finished run): judged on its results


def test_check_scenario_refuses_a_recovery_gate_on_a_steady_run(tmp_path) -> None:
    from harness.options import check_scenario

    path = tmp_path / "s.toml"
    path.write_text(
        'gates = ["recovery_time < 30s"]\n[target]\nbase_url = "http://127.0.0.1:1"\n'
        '[[endpoints]]\nname = "a"\npath = "/a"\n[load]\nprofile = "steady"\nrate = 5\nduration = 10\n'
    )
    with pytest.raises(UsageError, match="s.toml: gate 'recovery_time < 30s' needs a burst or a fault"):
        check_scenario(path)
    with pytest.raises(UsageError, match="--gate: gate 'max_recovery_time < 1m' needs a burst or a fault"):
        check_scenario(path, overrides=['gates=["p95 < 1s"]'], gates=["max_recovery_time < 1m"])
    spike = tmp_path / "spike.toml"
    spike.write_text(path.read_text().replace('profile = "steady"\nrate = 5', 'profile = "spike"\nbase_rate = 5\nspike_rate = 20\nat = 3\nspike_duration = 2'))
    assert check_scenario(spike).load_profile.profile == "spike"


def test_faults_count_as_events_once_the_scenario_has_them() -> None:
    from types import SimpleNamespace

    from harness.validation import has_events

    steady = SimpleNamespace(load_profile=SimpleNamespace(profile="steady"))
    assert not has_events(steady)
    assert has_events(SimpleNamespace(load_profile=steady.load_profile, faults=[{"kind": "latency"}]))
    assert has_events(SimpleNamespace(load_profile=SimpleNamespace(profile="burst")))
