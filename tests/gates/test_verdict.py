"""The Verdict: failing gates first, its lines, its dict round trip, and the exit codes (``harness.gates.verdict``)."""

from __future__ import annotations

import json
import math

from harness.gates import EXIT_GATE_FAILED, EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, Verdict, evaluate
from harness.results import ResultSet

from .data import T0, make_metrics, make_results, one


def test_exit_code_constants() -> None:
    assert (EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_RUN_FAILED) == (0, 1, 2, 3)


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


def test_number_formatting_in_lines(results: ResultSet) -> None:
    line = one('"list items".avg < 1s', results).line()
    assert line == 'PASS "list items".avg < 1s: 50.5 ms (limit 1000 ms)'
    assert math.isclose(one("p99.9 < 250us", results).threshold, 0.25)
    assert one("p99.9 < 250us", results).line().startswith("FAIL p99.9 < 250us: 100 ms (limit 0.25 ms)")
