"""Gates: pass/fail thresholds on a run, parsed once and checked against what it measured.

A gate is one readable comparison. ``Gate.parse`` turns its text into a small value object
(metric, aggregation, operator, threshold: what k6 makes of ``p(95)<200``); ``evaluate`` checks
gates against a ``ResultSet`` (plus, optionally, CloudWatch metrics and a baseline run) and
returns a ``Verdict``; ``Outcome`` says how the run ended, judged, and its exit code, which only
``harness.cli`` returns::

    gates = parse_gates(["p95 < 300ms", "error_rate < 1%", '"list items".p99 < 1s'])
    verdict = evaluate(gates, results=results, metrics=frame, baseline=last_week)
    print("\\n".join(verdict.summary_lines()))     # FAIL p95 < 300ms: 412.3 ms (limit 300 ms)
    Path("gates.xml").write_text(junit_xml(verdict, "steady"))   # harness.report.junit

Inside, one module per noun::

    grammar.py   Gate.parse and the parser, parse_gates, check_gates, check_measurable
    verdict.py   GateResult, Verdict, RunStatus, Outcome (the one decision) and the exit codes
    measure.py   evaluate: client-side and server-side (harness.metrics.RunValues) values

Grammar (whitespace anywhere between tokens; metric names, units and keywords are
case-insensitive; endpoint names are quoted and case-sensitive)::

    gate      := [endpoint "."] metric [selector] ["regression"] op value
    endpoint  := "list items" | 'list items'       quoted, case-sensitive, \" escapes a quote
    selector  := "{" key "=" "text" ("," key "=" "text")* "}"     keys: endpoint, outcome, resource
    op        := < | <= | > | >= | == | !=

    Per endpoint, the primary form is '"list items".p95 < 200ms'; 'p95{endpoint="list items"} < 200ms'
    means the same. Endpoints apply to client metrics except dropped_rate and achieved_rate;
    {resource="..."} picks one CloudWatch resource (API, function, user pool) for server gates.

    client latency (ms) from merged histograms of the whole run, "ok" requests unless
    {outcome="all"} or {outcome="<class>"} says otherwise:
        pNN (p50, p95, p99.9, k6's p(95)), median, avg (mean), min, max
        value: number + ms | s | us; a bare number is ms               p95 < 300ms, p99 < 1s
    client rates (%), shares of all requests of the slice, by outcome class as the client saw it:
        error_rate (everything not "ok"), throttle_rate (429), auth_error_rate (401/403),
        server_error_rate (5xx answers the client got; not CloudWatch's server.5xx_rate),
        client_error_rate (any other unexpected status), transport_error_rate (no response)
        value: with % (a bare number is refused as ambiguous; 0 may go without) error_rate < 1%
    open model (%, whole run only), from the pacer's planned (target) iterations:
        dropped_rate = dropped / planned                              dropped_rate < 1% (of target)
        achieved_rate = released / planned                            achieved_rate >= 95% of target
    throughput: rps (all requests / run duration), requests (count)   rps >= 100, requests >= 1000
    recovery (s; harness.faults.recovery), over the run's bursts and faults, never per endpoint:
        recovery_time (the median over events), max_recovery_time (the worst)  recovery_time < 30s
        value: number + s | ms | m (a bare number is refused, 0 excepted); an event that did not
        recover, or has no baseline, fails both; a scenario without bursts or faults is refused
    server side (whole-run CloudWatch values; never per endpoint):
        server.pNN | avg | min | max       API Gateway Latency (ms)   server.p95 < 250ms
        server.integration.pNN | ...       IntegrationLatency (ms)    server.integration.p95 < 200ms
        server.4xx, server.5xx, server.count   Sum                    server.4xx == 0
        server.4xx_rate, server.5xx_rate   Sum / Count Sum (%)        server.5xx_rate < 1%
        lambda.<key>                       Sum over all functions     lambda.throttles == 0
        lambda.<key>.<stat>                pNN, avg, min, max, sum    lambda.concurrent_executions.max < 900
        lambda.duration.<stat>             Duration (ms)              lambda.duration.p95 < 500ms
        cognito.throttles                  every *throttles key (sign-in, token refresh, ...)
        cognito.<key>                      Sum                        cognito.sign_in_throttles == 0
        states.<key>                       Sum (Step Functions)       states.executions_failed == 0
    regression against a baseline ResultSet (client latency and client rates):
        <latency> regression  relative change of this run's value     p95 regression <= 10%
        <rate> regression     change in percentage points (pp)        error_rate regression <= 0.5pp

A gate that cannot be evaluated (no requests in the slice, metric missing or NaN, no baseline,
nothing planned) fails, and its reason says why.
"""

from __future__ import annotations

from .grammar import RECOVERY_METRICS, Gate, GateError, check_gates, check_measurable, format_amount, parse_gates
from .measure import evaluate, measure_client
from .verdict import EXIT_GATE_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, GateResult, Outcome, RunStatus, Verdict

__all__ = [
    "Gate",
    "GateError",
    "GateResult",
    "Outcome",
    "RunStatus",
    "Verdict",
    "check_gates",
    "check_measurable",
    "evaluate",
    "format_amount",
    "measure_client",
    "parse_gates",
    "RECOVERY_METRICS",
    "EXIT_OK",
    "EXIT_GATE_FAILED",
    "EXIT_USAGE",
    "EXIT_RUN_FAILED",
    "EXIT_INTERRUPTED",
]
