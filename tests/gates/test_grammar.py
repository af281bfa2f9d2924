"""The gate grammar: every form parses, every bad one is refused in one line with an example, and
what a run could never evaluate is refused before any load (``harness.gates.grammar``)."""

from __future__ import annotations

import ast

import pytest

from harness.errors import ScenarioError, UsageError
from harness.gates import EXIT_USAGE, Gate, GateError, check_gates, parse_gates


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
        Gate.parse(300)


def test_parse_gates_names_file_and_index() -> None:
    assert [g.expression for g in parse_gates(["p95 < 1s", "rps > 1"])] == ["p95 < 1s", "rps > 1"]
    with pytest.raises(GateError) as caught:
        parse_gates(["p95 < 1s", "p95 < 1 parsec"], path="scenarios/ci.toml")
    assert str(caught.value).startswith("scenarios/ci.toml: gates[1]: gate 'p95 < 1 parsec': unknown latency unit")
    assert caught.value.field == "gates[1]"
    assert caught.value.path == "scenarios/ci.toml"


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
