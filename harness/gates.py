"""Gates: pass/fail thresholds on a run, parsed once and checked against what it measured.

A gate is one readable comparison. ``Gate.parse`` turns its text into a small value object
(metric, aggregation, operator, threshold: what k6 makes of ``p(95)<200``); ``evaluate`` checks
gates against a ``ResultSet`` (plus, optionally, CloudWatch metrics and a baseline run) and
returns a ``Verdict``. Only ``harness.cli`` turns a verdict into an exit code::

    gates = parse_gates(["p95 < 300ms", "error_rate < 1%", '"list items".p99 < 1s'])
    verdict = evaluate(gates, results=results, metrics=frame, baseline=last_week)
    print("\\n".join(verdict.summary_lines()))     # FAIL p95 < 300ms: 412.3 ms (limit 300 ms)
    Path("gates.xml").write_text(verdict.to_junit("steady"))

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

import difflib
import math
import operator
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Iterable

from harness.errors import ScenarioError, UsageError
from harness.results import OUTCOMES, ResultSet

if TYPE_CHECKING:  # pandas only where CloudWatch rows are read: a fan-out worker has no pandas
    import pandas as pd

__all__ = [
    "Gate",
    "GateError",
    "GateResult",
    "Outcome",
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
]

EXIT_OK = 0
"""Every gate passed (or there were none)."""
EXIT_GATE_FAILED = 1
"""The run completed but at least one gate failed or could not be evaluated."""
EXIT_USAGE = 2
"""Bad command-line use or an invalid scenario (including a gate that does not parse)."""
EXIT_RUN_FAILED = 3
"""The run itself failed (stack, auth, load, metrics)."""


class GateError(ScenarioError):
    """A gate expression does not parse: quotes it, says what is wrong, shows a valid example."""

    def __init__(self, expression: str, problem: str, example: str, *, path: str | None = None, field: str | None = None) -> None:
        super().__init__(f"gate {expression!r}: {problem}; e.g. {example!r}", path=path, field=field)
        self.expression = expression
        self.problem = problem
        self.example = example


# ---- the value object ----------------------------------------------------------------------------

# kinds: what a metric measures, which fixes its unit and which values it accepts
LATENCY, RATE, RATIO, RPS, COUNT, RECOVERY = "latency", "rate", "ratio", "rps", "count", "recovery"

RECOVERY_METRICS = ("recovery_time", "max_recovery_time")
"""Gates on recovery time: the median over the run's bursts and faults, and the worst."""
_RECOVERY_UNITS = {"s": 1.0, "ms": 0.001, "m": 60.0}

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}

_RATE_OUTCOMES: dict[str, str | None] = {
    "error_rate": None,  # everything except "ok"
    "throttle_rate": "throttled",
    "auth_error_rate": "auth",
    "server_error_rate": "server",
    "client_error_rate": "client",
    "transport_error_rate": "transport",
}

_EXAMPLES = {
    LATENCY: "p95 < 300ms",
    RATE: "error_rate < 1%",
    RATIO: "achieved_rate >= 95% of target",
    RPS: "rps >= 100",
    COUNT: "requests >= 1000",
    RECOVERY: "recovery_time < 30s",
    "server": "server.p95 < 250ms",
    "endpoint": '"list items".p95 < 200ms',
    "regression": "p95 regression <= 10%",
    "rate_regression": "error_rate regression <= 0.5pp",
}

_KNOWN_NAMES = [
    "p50", "p90", "p95", "p99", "p99.9", "median", "avg", "mean", "min", "max",
    *_RATE_OUTCOMES, "dropped_rate", "achieved_rate", "rps", "requests",
    "server.p95", "server.avg", "server.max", "server.integration.p95", "server.4xx", "server.5xx",
    "server.count", "server.4xx_rate", "server.5xx_rate", "lambda.throttles", "lambda.errors",
    "cognito.throttles", *RECOVERY_METRICS,
]  # fmt: skip


@dataclass(frozen=True)
class Gate:
    """One parsed threshold. ``Gate.parse("p95 < 300ms")``; see the module docstring for the grammar.

    ``threshold`` is in ``unit`` (ms, %, pp, rps or "" for counts), exactly as results report it.
    """

    expression: str
    metric: str  # "latency", "error_rate", ..., "server.latency", "server.5xx_rate", "lambda.throttles"
    op: str
    threshold: float
    unit: str
    kind: str
    aggregation: str | None = None  # latency metrics: "p95", "p99.9", "avg", "min", "max"
    endpoint: str | None = None
    outcomes: tuple[str, ...] | None = ("ok",)  # client latency slice; None = all outcomes
    resource: str | None = None  # server-side: one CloudWatch resource (default: all)
    regression: bool = False

    def __str__(self) -> str:
        return self.expression

    @property
    def name(self) -> str:
        """The metric as written in canonical form: ``p95``, ``server.integration.p95``, ``error_rate``."""
        if self.metric == "latency":
            return str(self.aggregation)
        if self.metric == "server.latency":
            return f"server.{self.aggregation}"
        if self.metric == "server.integration_latency":
            return f"server.integration.{self.aggregation}"
        if self.aggregation:
            return f"{self.metric}.{self.aggregation}"
        return self.metric

    @property
    def quantile(self) -> float | None:
        """0..1 for percentile aggregations (``p95`` -> 0.95), else None."""
        if self.aggregation and self.aggregation.startswith("p"):
            return float(self.aggregation[1:]) / 100.0
        return None

    def compare(self, actual: float) -> bool:
        """``actual <op> threshold``; values within 1e-9 (relative) of the threshold count as equal."""
        if math.isclose(actual, self.threshold, rel_tol=1e-9, abs_tol=1e-12):
            actual = self.threshold
        return _OPS[self.op](actual, self.threshold)

    @classmethod
    def parse(cls, text: str) -> "Gate":
        """Parse one gate expression; raises ``GateError`` (a ``ScenarioError``) when it is invalid.

        >>> Gate.parse("p99 < 1s").threshold
        1000.0
        """
        if not isinstance(text, str):
            raise GateError(repr(text), "a gate is a string", _EXAMPLES[LATENCY])
        return _Parser(text).parse()


def parse_gates(texts: Iterable[str], *, path: str | None = None) -> list[Gate]:
    """Parse a scenario's ``gates`` list; an error names the file and ``gates[i]``."""
    gates = []
    for i, text in enumerate(texts):
        try:
            gates.append(Gate.parse(text))
        except GateError as exc:
            raise GateError(exc.expression, exc.problem, exc.example, path=path, field=f"gates[{i}]") from None
    return gates


def check_gates(
    gates: Iterable[Gate], *, endpoints: Iterable[str], baseline: bool, path: str | None = None, events: bool | None = None
) -> None:
    """Refuse, before any load, a gate this run could never evaluate (it would only fail at the
    end): an endpoint the scenario does not have, a regression gate without a baseline run, or a
    recovery gate when ``events`` is False (no burst or spike, no faults: nothing to recover from).
    Raises ``GateError``/``UsageError`` (exit 2)::

        check_gates(parse_gates(scenario.gates), endpoints=[e.name for e in scenario.endpoints], baseline=False)
    """
    names = list(endpoints)
    for gate in gates:
        if gate.endpoint is not None and gate.endpoint not in names:
            close = difflib.get_close_matches(gate.endpoint, names, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            known = ", ".join(repr(n) for n in names) or "none"
            example = f"{_quote(close[0] if close else names[0] if names else 'list items')}.p95 < 200ms"
            raise GateError(gate.expression, f"the scenario has no endpoint {gate.endpoint!r} ({hint}its endpoints: {known})", example, path=path)
        if gate.kind == RECOVERY and events is False:
            where = f"{path}: " if path else ""
            raise UsageError(
                f"{where}gate {gate.expression!r} needs a burst or a fault to recover from, and the scenario has neither: "
                'use profile = "burst" or "spike", add [[faults]], or drop the gate'
            )
        if gate.regression and not baseline:
            where = f"{path}: " if path else ""
            raise UsageError(
                f"{where}gate {gate.expression!r} compares with a baseline run: pass --baseline reports/<earlier-run-id>, or drop the gate"
            )


#: the CloudWatch layer a server-side gate reads (``harness.metrics``' frame) and its name in messages
_GATE_LAYERS = {"server": ("apigw", "API Gateway"), "lambda": ("lambda", "Lambda"), "cognito": ("cognito", "Cognito"), "states": ("states", "Step Functions")}


def check_measurable(gates: Iterable[Gate], *, unmeasured: dict[str, str], path: str | None = None) -> None:
    """Refuse, before any load, a server-side gate whose CloudWatch layer this run reads nothing
    from: ``unmeasured`` maps a layer (``apigw``, ``lambda``, ``cognito``, ``states``) to why
    (``harness.target.unmeasured_layers``, or --no-metrics). Raises ``UsageError`` (exit 2)."""
    for gate in gates:
        head = gate.metric.partition(".")[0]
        if head not in _GATE_LAYERS:
            continue
        layer, name = _GATE_LAYERS[head]
        if layer in unmeasured:
            where = f"{path}: " if path else ""
            raise UsageError(
                f"{where}gate {gate.expression!r} reads {name}'s CloudWatch metrics, which this run cannot have: "
                f"{unmeasured[layer]}; fix that or drop the gate"
            )


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _layer_keys(head: str) -> list[str]:
    """The keys ``harness.metrics`` reads for a layer (``cognito`` also has ``throttles``, the sum of
    its *throttles keys)."""
    from harness import metrics

    specs = {"lambda": metrics.LAMBDA, "cognito": metrics.COGNITO, "states": metrics.STATES}[head]
    return [s.key for s in specs] + (["throttles"] if head == "cognito" else [])


_AGGREGATION = re.compile(r"^(?:p\(?(\d+(?:\.\d+)?)\)?|avg|mean|min|max|median)$")
_NUMBER = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*(.*?)$", re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z0-9_.()]+")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_SELECTOR_KEY = re.compile(r"[A-Za-z_]+")
_OPERATOR = re.compile(r"[<>=!]+")
_REGRESSION = re.compile(r"regression\b", re.IGNORECASE)
_SELECTOR_EXAMPLE = 'p95{endpoint="list items"} < 200ms'
_SERVER_PREFIXES = (("latency.", "latency"), ("integration.", "integration_latency"), ("integration_latency.", "integration_latency"))
_LATENCY_UNITS = {"": 1.0, "ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}


class _Parser:
    """A hand-written scanner: quoted names may hold any character, operators included."""

    def __init__(self, text: str) -> None:
        self.raw = text
        self.text = text.strip()
        self.pos = 0

    def fail(self, problem: str, example: str = _EXAMPLES[LATENCY]) -> GateError:
        return GateError(" ".join(self.text.split()), problem, example)  # one line, always

    # ---- scanning -------------------------------------------------------------------------

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def quoted(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == quote:
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise self.fail(f"the quoted name {quote}{''.join(out)} is not closed", _EXAMPLES["endpoint"])

    def selector(self) -> dict[str, str]:
        self.pos += 1  # "{"
        pairs: dict[str, str] = {}
        while True:
            self.skip()
            if self.peek() == "}":
                self.pos += 1
                return pairs
            match = _SELECTOR_KEY.match(self.text, self.pos)
            if not match:
                raise self.fail('a selector is {key="value", ...} with keys endpoint, outcome or resource', _SELECTOR_EXAMPLE)
            key = match.group(0).lower()
            self.pos = match.end()
            self.skip()
            if self.peek() != "=":
                raise self.fail(f"selector key {key!r} needs = and a quoted value", _SELECTOR_EXAMPLE)
            self.pos += 1
            self.skip()
            if self.peek() not in ('"', "'"):
                raise self.fail(f"the value of selector key {key!r} must be quoted", _SELECTOR_EXAMPLE)
            if key in pairs:
                raise self.fail(f"selector key {key!r} is given twice", _SELECTOR_EXAMPLE)
            pairs[key] = self.quoted()
            self.skip()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "}":
                raise self.fail("a selector is closed with }", _SELECTOR_EXAMPLE)

    # ---- the grammar ----------------------------------------------------------------------

    def parse(self) -> Gate:
        if not self.text:
            raise self.fail("the gate is empty")
        endpoint: str | None = None
        if self.peek() in ('"', "'"):
            endpoint = self.quoted()
            self.skip()
            if self.peek() != ".":
                raise self.fail("an endpoint name is followed by a dot and a metric", _EXAMPLES["endpoint"])
            self.pos += 1
            self.skip()
        match = _NAME.match(self.text, self.pos)
        if not match:
            raise self.fail("it does not start with a metric name")
        name = match.group(0)
        self.pos = match.end()
        self.skip()
        selector: dict[str, str] = {}
        if self.peek() == "{":
            selector = self.selector()
            self.skip()
        regression = False
        word = _REGRESSION.match(self.text, self.pos)
        if word:
            regression = True
            self.pos = word.end()
            self.skip()
        op_match = _OPERATOR.match(self.text, self.pos)
        if not op_match:
            rest = self.text[self.pos :]
            if not rest:
                raise self.fail("it has no comparison; add an operator and a threshold")
            raise self.fail(f"expected an operator (<, <=, >, >=, ==, !=) before {rest!r}")
        op = op_match.group(0)
        if op not in _OPS:
            hint = "; use == for equality" if op == "=" else ""
            raise self.fail(f"{op!r} is not an operator (use <, <=, >, >=, == or !=){hint}")
        self.pos = op_match.end()
        value_text = self.text[self.pos :].strip()

        # selectors
        unknown = set(selector) - {"endpoint", "outcome", "resource"}
        if unknown:
            raise self.fail(f"unknown selector key {sorted(unknown)[0]!r} (known: endpoint, outcome, resource)", _SELECTOR_EXAMPLE)
        if "endpoint" in selector:
            if endpoint is not None:
                raise self.fail("the endpoint is given twice", _EXAMPLES["endpoint"])
            endpoint = selector["endpoint"]
        if endpoint is not None and not endpoint:
            raise self.fail("the endpoint name is empty", _EXAMPLES["endpoint"])

        metric, aggregation, kind = self.metric(name)
        client = "." not in metric
        if endpoint is not None and not client:
            raise self.fail(f"{name} is a server-side metric and cannot be per endpoint", _EXAMPLES["server"])
        if endpoint is not None and metric in ("dropped_rate", "achieved_rate"):
            raise self.fail(f"{metric} is measured for the whole run, not per endpoint", "dropped_rate < 1%")
        if endpoint is not None and kind == RECOVERY:
            raise self.fail(f"{metric} is measured on the whole run's client view, not per endpoint", _EXAMPLES[RECOVERY])
        outcomes: tuple[str, ...] | None = ("ok",)
        if "outcome" in selector:
            if metric != "latency":
                raise self.fail("the outcome selector applies to client latency metrics only", 'p95{outcome="all"} < 1s')
            wanted = selector["outcome"].lower()
            if wanted == "all":
                outcomes = None
            elif wanted in OUTCOMES:
                outcomes = (wanted,)
            else:
                raise self.fail(f"unknown outcome {selector['outcome']!r} (known: all, {', '.join(OUTCOMES)})", 'p95{outcome="all"} < 1s')
        resource = selector.get("resource")
        if resource is not None and client:
            raise self.fail("the resource selector applies to server-side metrics only", 'server.p95{resource="abc123"} < 250ms')
        if regression and not (metric == "latency" or metric in _RATE_OUTCOMES):
            raise self.fail(f"regression applies to client latency and client rates, not {name}", _EXAMPLES["regression"])

        threshold, unit = self.value(value_text, kind, regression, metric)
        return Gate(
            expression=self.text,
            metric=metric,
            op=op,
            threshold=threshold,
            unit=unit,
            kind=kind,
            aggregation=aggregation,
            endpoint=endpoint,
            outcomes=outcomes if metric == "latency" else None,
            resource=resource,
            regression=regression,
        )

    def metric(self, name: str) -> tuple[str, str | None, str]:
        lower = name.lower()
        agg = self.aggregation(lower)
        if agg:
            return "latency", agg, LATENCY
        if lower in _RATE_OUTCOMES:
            return lower, None, RATE
        if lower in ("dropped_rate", "achieved_rate"):
            return lower, None, RATE if lower == "dropped_rate" else RATIO
        if lower == "rps":
            return "rps", None, RPS
        if lower == "requests":
            return "requests", None, COUNT
        if lower in RECOVERY_METRICS:
            return lower, None, RECOVERY
        head, _, rest = lower.partition(".")
        if head == "server" and rest:
            if rest in ("4xx", "5xx", "count", "requests"):
                return f"server.{'count' if rest == 'requests' else rest}", None, COUNT
            if rest in ("4xx_rate", "5xx_rate"):
                return f"server.{rest}", None, RATE
            key = "latency"
            for prefix, prefix_key in _SERVER_PREFIXES:
                if rest.startswith(prefix):
                    key, rest = prefix_key, rest[len(prefix) :]
                    break
            agg = self.aggregation(rest)
            if agg:
                return f"server.{key}", agg, LATENCY
            known = "server-side metrics: server.p95, server.integration.p95, server.4xx, server.5xx_rate"
            raise self.unknown(name, known, _EXAMPLES["server"])
        if head in ("lambda", "cognito", "states"):
            key, _, stat = rest.partition(".")
            agg = self.aggregation(stat) if stat else None
            keys = _layer_keys(head)
            if _KEY.match(key) and key not in keys:
                raise self.unknown(name, f"{head} metrics: {', '.join(f'{head}.{k}' for k in keys)}", f"{head}.{keys[-1] if head == 'cognito' else keys[0]} == 0")
            if _KEY.match(key) and (not stat or agg or stat == "sum"):
                # a key alone is its whole-run Sum; lambda.duration.<stat> is a latency in ms
                kind = LATENCY if (head, key) == ("lambda", "duration") and agg else COUNT
                return f"{head}.{key}", agg, kind
            raise self.unknown(
                name,
                f"{head} metrics are <key> (its Sum over the run) or <key>.<stat>, like {head}.throttles or lambda.duration.p95",
                f"{head}.throttles == 0",
            )
        raise self.unknown(name, "", _EXAMPLES[LATENCY])

    def unknown(self, name: str, known: str, example: str) -> GateError:
        close = difflib.get_close_matches(name.lower(), _KNOWN_NAMES, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        known = known or "latency: p95, avg, max; rates: error_rate, throttle_rate; rps, requests; server.p95, lambda.throttles, ..."
        more = f" ({known})"
        return self.fail(f"unknown metric {name!r}{hint}{more}", example)

    def aggregation(self, lower: str) -> str | None:
        match = _AGGREGATION.match(lower)
        if not match:
            return None
        if match.group(1) is not None:
            q = float(match.group(1))
            if not 0 < q <= 100:
                raise self.fail(f"percentile {lower} is out of range (above p0, at most p100)", "p99.9 < 2s")
            return f"p{q:g}"
        return {"mean": "avg", "median": "p50"}.get(lower, lower)

    def value(self, text: str, kind: str, regression: bool, metric: str) -> tuple[float, str]:
        example = _EXAMPLES["rate_regression" if regression and kind == RATE else "regression" if regression else kind]
        if not text:
            raise self.fail("the threshold is missing after the operator", example)
        match = _NUMBER.match(text)
        if not match:
            raise self.fail(f"the threshold {text!r} is not a number", example)
        number = float(match.group(1))
        unit = " ".join(match.group(2).lower().split())
        if not math.isfinite(number):
            raise self.fail(f"the threshold {text!r} is not a finite number", example)
        if number < 0 and not regression:
            raise self.fail(f"the threshold {text!r} is negative", example)
        if regression:
            if kind == LATENCY:
                return self.fraction_or_percent(number, unit, text, example, what="a relative change"), "%"
            if unit == "%":
                raise self.fail("a change in a rate is written in percentage points (pp), not %", example)
            return self.fraction_or_percent(number, unit, text, example, what="a change in a rate", sign="pp"), "pp"
        if kind == LATENCY:
            if unit not in _LATENCY_UNITS:
                raise self.fail(f"unknown latency unit {unit!r} (use ms, s or us; a bare number is ms)", example)
            return number * _LATENCY_UNITS[unit], "ms"
        if kind == RATIO or metric == "dropped_rate":  # both are shares of the planned (target) iterations
            if unit.endswith("of target"):
                unit = unit[: -len("of target")].strip()
            return self.fraction_or_percent(number, unit, text, example, what="a share of the target"), "%"
        if kind == RATE:
            return self.fraction_or_percent(number, unit, text, example, what="a rate"), "%"
        if kind == RECOVERY:
            if unit in _RECOVERY_UNITS:
                return number * _RECOVERY_UNITS[unit], "s"
            if not unit and number == 0:
                return 0.0, "s"
            problem = f"unknown unit {unit!r} for a recovery time" if unit else f"a bare {text} is ambiguous for a recovery time"
            raise self.fail(f"{problem}: write it with s, ms or m, like 30s", example)
        if kind == RPS:
            if unit not in ("", "rps", "/s"):
                raise self.fail(f"unknown unit {unit!r} for requests per second (write a bare number or rps)", example)
            return number, "rps"
        if unit:
            raise self.fail(f"{metric} is a count and takes no unit (got {unit!r})", example if metric == "requests" else f"{metric} == 0")
        return number, ""

    def fraction_or_percent(self, number: float, unit: str, text: str, example: str, *, what: str, sign: str = "%") -> float:
        """The value in percent (or pp), written with its unit: ``5%``. A bare number is refused
        (is ``1`` one percent, or the fraction 1, i.e. 100 %?), except 0, which reads the same."""
        if unit == sign:
            return number
        if unit:
            raise self.fail(f"unknown unit {unit!r} for {what} (write it with {sign}, like 5{sign})", example)
        if number != 0:
            reading = "a percentage" if sign == "%" else "percentage points"
            raise self.fail(
                f"a bare {text} is ambiguous for {what}: write {number:g}{sign} (read as {reading}) "
                f"or {_number(number * 100)}{sign} (read as a fraction)",
                example,
            )
        return 0.0


# ---- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome. ``actual`` and ``threshold`` are in ``unit``; ``actual`` is None when the
    gate could not be evaluated, and then ``passed`` is False and ``reason`` says why."""

    gate: Gate
    passed: bool
    actual: float | None
    threshold: float
    unit: str
    reason: str = ""

    @property
    def expression(self) -> str:
        return self.gate.expression

    @property
    def evaluated(self) -> bool:
        return self.actual is not None

    def line(self) -> str:
        """``FAIL p95 < 300ms: 412.3 ms (limit 300 ms)``; unevaluable: ``FAIL ...: no value (reason)``."""
        status = "PASS" if self.passed else "FAIL"
        if self.actual is None:
            return f"{status} {self.expression}: no value ({self.reason})"
        sign = "+" if self.gate.regression and self.actual > 0 else ""
        text = f"{status} {self.expression}: {sign}{format_amount(self.actual, self.unit)} (limit {format_amount(self.threshold, self.unit)})"
        return f"{text}; {self.reason}" if self.reason else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "passed": self.passed,
            "actual": self.actual,
            "threshold": self.threshold,
            "unit": self.unit,
            "reason": self.reason,
            "endpoint": self.gate.endpoint,
            "metric": self.gate.name,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GateResult":
        actual = data.get("actual")
        return cls(
            gate=Gate.parse(data["expression"]),
            passed=bool(data["passed"]),
            actual=None if actual is None else float(actual),
            threshold=float(data["threshold"]),
            unit=str(data.get("unit", "")),
            reason=str(data.get("reason", "")),
        )


@dataclass(frozen=True)
class Verdict:
    """All gates of a run, failing ones first. ``passed`` is True when every gate passed (or none exist)."""

    results: tuple[GateResult, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.results, key=lambda r: r.passed))  # stable: gate order kept
        object.__setattr__(self, "results", ordered)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]

    def summary_lines(self) -> list[str]:
        """One human line per gate, failing first."""
        return [r.line() for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "total": len(self.results),
            "failed": len(self.failures),
            "gates": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Verdict":
        return cls(tuple(GateResult.from_dict(row) for row in data.get("gates", [])))

    def to_junit(self, suite_name: str, *, outcome: "Outcome | None" = None, reason: str = "", time: float = 0.0) -> str:
        """JUnit XML: one ``<testcase classname="harness.gates" name=expression>`` per gate, each
        taking the run's ``time`` (seconds: the gates judge the whole run). Judged (``outcome``
        passed or failed, the default): failing and unevaluable gates carry a ``<failure>``. Not
        judged (interrupted, aborted, the run failed): every gate is ``<skipped>`` with ``reason``,
        and an aborted run adds a failing ``abort_on`` case, a failed run an ``<error>`` case, as
        their exit codes (1 and 3) say."""
        outcome = outcome or (Outcome.PASSED if self.passed else Outcome.FAILED)
        seconds = f"{max(time, 0.0):.3f}"
        judged = outcome.judged
        cases: list[tuple[str, str, dict[str, str], str]] = []  # (name, element, attributes, text)
        for result in self.results:
            if not judged:
                cases.append((result.expression, "skipped", {"message": f"{reason}: {result.line()}" if reason else result.line()}, ""))
            elif result.passed:
                cases.append((result.expression, "system-out", {}, result.line()))
            else:
                kind = "GateFailed" if result.evaluated else "GateNotEvaluated"
                cases.append((result.expression, "failure", {"message": result.line(), "type": kind}, result.reason or result.line()))
        if outcome is Outcome.ABORTED:
            cases.append(("abort_on", "failure", {"message": reason, "type": "RunAborted"}, reason))
        elif outcome is Outcome.RUN_FAILED:
            cases.append(("run", "error", {"message": reason, "type": "RunFailed"}, reason))
        counts = {kind: str(sum(1 for c in cases if c[1] == kind)) for kind in ("failure", "error", "skipped")}
        tests = str(len(cases))
        root = ET.Element("testsuites", {"name": suite_name, "tests": tests, "failures": counts["failure"], "errors": counts["error"], "time": seconds})
        suite = ET.SubElement(
            root,
            "testsuite",
            {"name": suite_name, "tests": tests, "failures": counts["failure"], "errors": counts["error"], "skipped": counts["skipped"], "time": seconds},
        )
        for name, element, attributes, text in cases:
            case = ET.SubElement(suite, "testcase", {"classname": "harness.gates" if name not in ("abort_on", "run") else "harness.run", "name": name, "time": seconds})
            ET.SubElement(case, element, attributes).text = text or None
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


class Outcome(str, Enum):
    """How a run ended, judged: the one decision ``verdict.json``, JUnit and the exit code share."""

    PASSED = "passed"
    FAILED = "failed"  # a gate failed (or a probe's first step breached)
    NO_GATES = "no gates"  # measured, not judged
    NOT_JUDGED = "not judged"  # interrupted: its gates cover part of a run
    ABORTED = "aborted"  # an abort_on rule stopped it: a failed gate
    RUN_FAILED = "run failed"

    @property
    def judged(self) -> bool:
        """Whether the gates are the verdict (else they were evaluated on what ran, for reading)."""
        return self in (Outcome.PASSED, Outcome.FAILED, Outcome.NO_GATES)

    @property
    def passed(self) -> bool | None:
        """For ``verdict.json``: True or False when the run was judged or aborted, None when not."""
        return {Outcome.PASSED: True, Outcome.NO_GATES: True, Outcome.FAILED: False, Outcome.ABORTED: False}.get(self)

    @classmethod
    def of(cls, verdict: Verdict, *, status: str, probe: dict[str, Any] | None = None) -> "Outcome":
        """A run's outcome from its ``status`` (``meta.status``), its verdict and, for a probe, its
        knee: a probe passes when a step held."""
        if status == "failed":
            return cls.RUN_FAILED
        if status == "aborted":
            return cls.ABORTED
        if status != "completed":
            return cls.NOT_JUDGED
        if probe:
            return cls.PASSED if probe.get("sustainable_rate") is not None else cls.FAILED
        if not verdict.results:
            return cls.NO_GATES
        return cls.PASSED if verdict.passed else cls.FAILED


def format_amount(value: float, unit: str) -> str:
    """``value`` in ``unit`` as the gates' reasons write it: ``4.77 ms``, ``12%``, ``3 pp``, ``250``."""
    text = _number(value)
    if not unit:
        return text
    if unit == "%":
        return text + "%"
    return f"{text} {unit}"


def _number(value: float) -> str:
    """Four significant digits, never fewer than the integer digits: 412.3, 0.01234, 12346."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    digits = max(0, 3 - math.floor(math.log10(abs(value))))
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---- evaluation ---------------------------------------------------------------------------------


class _NoValue(Exception):
    """The gate cannot be evaluated; the message is the reason."""


@dataclass
class _Value:
    value: float  # in the gate's unit
    note: str = ""


def evaluate(
    gates: Iterable[Gate | str],
    *,
    results: ResultSet,
    metrics: pd.DataFrame | None = None,
    baseline: ResultSet | None = None,
) -> Verdict:
    """Check every gate against the run; strings are parsed first.

    Latencies come from the run's merged histograms (never averages of per-second values) and use
    "ok" requests unless the gate selects other outcomes. Server-side gates read the whole-run
    (``scope == "run"``) rows of ``harness.metrics``' frame. A gate without data fails.
    """
    server = _ServerMetrics(metrics)
    out = []
    for gate in gates:
        if isinstance(gate, str):
            gate = Gate.parse(gate)
        try:
            found = _measure(gate, results, server, baseline)
        except _NoValue as exc:
            out.append(GateResult(gate, False, None, gate.threshold, gate.unit, str(exc)))
            continue
        out.append(GateResult(gate, gate.compare(found.value), found.value, gate.threshold, gate.unit, found.note))
    return Verdict(tuple(out))


def measure_client(gate: Gate, results: ResultSet) -> float | None:
    """A client-side gate's value on ``results`` in its unit, or None when they hold no data for
    it (the live checks of ``harness.abort`` use this on a window of the run)."""
    try:
        return _client(gate, results, "").value
    except _NoValue:
        return None


def _measure(gate: Gate, results: ResultSet, server: "_ServerMetrics", baseline: ResultSet | None) -> _Value:
    if gate.metric.startswith(("server.", "lambda.", "cognito.", "states.")):
        return server.measure(gate)
    if gate.kind == RECOVERY:
        return _recovery(gate, results)
    if not gate.regression:
        return _client(gate, results, "")
    if baseline is None:
        raise _NoValue("no baseline run was given to compare with (pass the baseline results file)")
    current = _client(gate, results, "")
    before = _client(gate, baseline, "the baseline run: ")
    if gate.kind == LATENCY:
        if before.value == 0:
            if current.value == 0:
                return _Value(0.0, "0 ms in both runs")
            raise _NoValue(f"the baseline {gate.aggregation} is 0 ms, so a relative change is undefined")
        change = (current.value - before.value) / before.value * 100.0
        return _Value(change, f"{format_amount(current.value, 'ms')} vs baseline {format_amount(before.value, 'ms')}")
    return _Value(current.value - before.value, f"{format_amount(current.value, '%')} vs baseline {format_amount(before.value, '%')}")


def _client(gate: Gate, results: ResultSet, which: str) -> _Value:
    """A client-side value of ``results`` in the gate's unit (ms, %, rps, count)."""
    endpoint = gate.endpoint
    where = f" for endpoint {endpoint!r}" if endpoint is not None else ""
    if endpoint is not None and endpoint not in results.endpoint_names():
        known = ", ".join(repr(n) for n in results.endpoint_names()) or "none"
        raise _NoValue(f"{which}endpoint {endpoint!r} is not in the run (endpoints: {known})")
    if gate.metric == "latency":
        hist = results.select(endpoint=endpoint, outcomes=gate.outcomes)
        if hist.count == 0:
            slice_ = "requests" if gate.outcomes is None else f"{'/'.join(gate.outcomes)} requests"
            total = sum(results.outcome_counts(endpoint).values())
            raise _NoValue(f"{which}no {slice_}{where} ({total:,} requests in all)")
        agg = gate.aggregation
        if gate.quantile is not None:
            us = hist.percentile(gate.quantile)
        else:
            us = {"avg": hist.mean, "min": float(hist.min), "max": float(hist.max)}[str(agg)]
        assert us is not None
        return _Value(us / 1000.0)
    if gate.metric in ("dropped_rate", "achieved_rate"):
        pacer = results.pacer_totals()
        if pacer.target <= 0:
            raise _NoValue(f"{which}the run planned no iterations (pacer target is 0); {gate.metric} needs an open-model run")
        part = pacer.dropped if gate.metric == "dropped_rate" else pacer.released
        verb = "dropped" if gate.metric == "dropped_rate" else "released"
        return _Value(part / pacer.target * 100.0, f"{part:,} of {pacer.target:,.0f} planned iterations {verb}")
    counts = results.outcome_counts(endpoint)
    total = sum(counts.values())
    if gate.metric == "requests":
        return _Value(float(total))
    if gate.metric == "rps":
        duration = results.duration()
        if duration <= 0:
            raise _NoValue(f"{which}the run has no duration, so no rate")
        return _Value(total / duration, f"{total:,} requests in {_number(duration)} s")
    # rates
    if total == 0:
        raise _NoValue(f"{which}no requests{where}")
    outcome = _RATE_OUTCOMES[gate.metric]
    part = total - counts["ok"] if outcome is None else counts[outcome]
    return _Value(part / total * 100.0, f"{part:,} of {total:,} requests {_RATE_SENTENCES[outcome]}")


def _recovery(gate: Gate, results: ResultSet) -> _Value:
    """The median (``recovery_time``) or worst (``max_recovery_time``) recovery time in seconds."""
    from harness.faults.recovery import measure

    recovery = results.recovery if results.recovery is not None else measure(results)
    rows = recovery.get("events") or []
    if not rows:
        raise _NoValue("the run had no burst or fault to recover from")
    lost = [r for r in rows if r.get("status") == "not recovered"]
    if lost:
        named = "; ".join(f"{r['name']}: {r.get('note') or 'not recovered'}" for r in lost[:3])
        raise _NoValue(f"{len(lost)} of {len(rows)} events not recovered ({named})")
    blind = [r for r in rows if r.get("status") != "recovered"]
    if blind:
        named = "; ".join(f"{r['name']}: {r.get('note') or 'no baseline'}" for r in blind[:3])
        raise _NoValue(f"{len(blind)} of {len(rows)} events cannot be judged ({named})")
    times = sorted(float(r["recovery_time"]) for r in rows)
    if gate.metric == "max_recovery_time":
        worst = max(rows, key=lambda r: float(r["recovery_time"]))
        return _Value(times[-1], f"worst: {worst['name']}, of {len(rows)} events")
    import statistics

    return _Value(float(statistics.median(times)), f"median of {len(rows)} events (worst {_number(times[-1])} s)")


#: how a rate gate's reason ends: "12 of 6,808 requests got a server error (HTTP 5xx)"
_RATE_SENTENCES: dict[str | None, str] = {
    None: "did not get an expected status",
    "throttled": "were throttled (HTTP 429)",
    "auth": "were refused by auth (HTTP 401/403)",
    "server": "got a server error (HTTP 5xx)",
    "client": "got another unexpected status (not 429, 401/403 or 5xx)",
    "transport": "got no response (transport errors)",
}


# ---- the metrics frame --------------------------------------------------------------------------

_STAT_ALIASES = {"average": "avg", "mean": "avg", "maximum": "max", "minimum": "min", "samplecount": "samplecount", "sum": "sum"}
_ADDITIVE = {"sum", "samplecount"}


def _stat_name(stat: Any) -> str:
    text = str(stat).strip().lower()
    match = re.fullmatch(r"p(\d+(?:\.\d+)?)", text)
    if match:
        return f"p{float(match.group(1)):g}"
    return _STAT_ALIASES.get(text, text)


class _ServerMetrics:
    """Whole-run values from ``harness.metrics``' long frame.

    Columns ``layer, resource, metric, key, stat, scope, timestamp, period, value``; only rows with
    ``scope == "run"`` are read. Layers: ``apigw`` (keys count, 4xx, 5xx, latency,
    integration_latency), ``lambda``, ``cognito``. Names and stats compare case-insensitively
    (``Sum``/``sum``, ``Average``/``avg``, ``p95``). Only the percentiles ``harness.metrics`` asked
    CloudWatch for exist (p50, p95, p99 by default); any other fails as missing. Across resources, sums add up and max/min
    combine; a percentile or average reported by several resources needs ``{resource="..."}``.
    """

    def __init__(self, frame: pd.DataFrame | None) -> None:
        self.problem = ""
        self.rows: pd.DataFrame | None = None
        if frame is None:
            self.problem = "no CloudWatch metrics were given (collect them for the run's time window)"
            return
        import pandas as pd
        missing = {"layer", "key", "stat", "value"} - set(frame.columns)
        if missing:
            self.problem = f"the metrics frame lacks the columns {', '.join(sorted(missing))}"
            return
        rows = frame
        if "scope" in frame.columns:
            rows = rows[rows["scope"].astype(str).str.lower() == "run"]
        self.rows = pd.DataFrame(
            {
                "layer": rows["layer"].astype(str).str.lower(),
                "resource": rows["resource"].astype(str) if "resource" in rows.columns else "",
                "key": rows["key"].astype(str).str.lower(),
                "stat": rows["stat"].map(_stat_name),
                "value": pd.to_numeric(rows["value"], errors="coerce"),
            }
        )

    def value(self, layer: str, key: str, stat: str, resource: str | None = None) -> tuple[float, str]:
        """One whole-run value and a note (resources without data); raises ``_NoValue``."""
        if self.rows is None:
            raise _NoValue(self.problem)
        rows = self.rows
        rows = rows[(rows["layer"] == layer) & (rows["key"] == key) & (rows["stat"] == stat)]
        if resource is not None:
            rows = rows[rows["resource"] == resource]
        what = f"{layer} {key} {stat}" + (f" of {resource!r}" if resource is not None else "")
        if rows.empty:
            mine = self.rows[self.rows["layer"] == layer]
            stats = sorted(set(mine.loc[mine["key"] == key, "stat"]))
            keys = sorted(set(mine["key"]))
            if stats:
                have = f"stats present for {layer} {key}: {', '.join(stats)}"
            else:
                have = f"{layer} keys present: {', '.join(keys)}" if keys else f"no whole-run {layer} rows at all"
            raise _NoValue(f"the metrics have no whole-run {what} ({have})")
        present = rows.dropna(subset=["value"])
        if present.empty:
            raise _NoValue(f"CloudWatch returned no data for {what}")
        empty = sorted(set(rows["resource"]) - set(present["resource"]))
        note = f"no data for {', '.join(empty)}" if empty else ""
        values = present["value"]
        if stat in _ADDITIVE:
            return float(values.sum()), note
        if stat == "max":
            return float(values.max()), note
        if stat == "min":
            return float(values.min()), note
        if len(present) > 1:
            names = ", ".join(sorted(set(present["resource"])))
            raise _NoValue(f"{what} is reported by several resources ({names}); pick one with {{resource=\"...\"}}")
        return float(values.iloc[0]), note

    def measure(self, gate: Gate) -> _Value:
        metric, resource = gate.metric, gate.resource
        if metric in ("server.latency", "server.integration_latency"):
            value, note = self.value("apigw", metric.split(".", 1)[1], str(gate.aggregation), resource)
            return _Value(value, note)
        if metric in ("server.count", "server.4xx", "server.5xx"):
            value, note = self.value("apigw", metric.split(".", 1)[1], "sum", resource)
            return _Value(value, note)
        if metric in ("server.4xx_rate", "server.5xx_rate"):
            key = metric.split(".", 1)[1].removesuffix("_rate")
            errors, note = self.value("apigw", key, "sum", resource)
            count, _ = self.value("apigw", "count", "sum", resource)
            if count <= 0:
                raise _NoValue("API Gateway counted no requests (Count Sum is 0)")
            return _Value(errors / count * 100.0, f"{_number(errors)} of {_number(count)} requests" + (f"; {note}" if note else ""))
        layer, key = metric.split(".", 1)
        if layer == "cognito" and key == "throttles" and gate.aggregation is None:
            return self.cognito_throttles(resource)
        if layer == "cognito" and key.endswith("_throttles") and gate.aggregation in (None, "sum"):
            value, note = self.cognito_throttle_key(key, resource)
            return _Value(value, note)
        value, note = self.value(layer, key, gate.aggregation or "sum", resource)
        return _Value(value, note)

    def cognito_throttle_key(self, key: str, resource: str | None) -> tuple[float, str]:
        """One Cognito ``*_throttles`` Sum. Cognito publishes a throttles datum only for a request
        it throttled ("When a user authentication request is throttled, a count of 1 is
        published", AWS docs, "User pool metrics in CloudWatch"), while its ``*_successes``
        metric has a datum (1 or 0) for every attempt: with attempts and no throttles datum, the
        run had no throttled request (0); with neither, Cognito saw nothing and there is no data."""
        try:
            return self.value("cognito", key, "sum", resource)
        except _NoValue:
            successes = key.removesuffix("_throttles") + "_successes"
            try:
                self.value("cognito", successes, "sum", resource)
            except _NoValue:
                raise _NoValue(f"CloudWatch returned no data for cognito {key} nor {successes}") from None
            return 0.0, f"no {key} datum while {successes} has data: none throttled"

    def cognito_throttles(self, resource: str | None) -> _Value:
        """Every Cognito ``*throttles`` key (sign-in, token refresh, sign-up, ...) summed."""
        if self.rows is None:
            raise _NoValue(self.problem)
        keys = sorted(k for k in set(self.rows.loc[self.rows["layer"] == "cognito", "key"]) if k.endswith("throttles"))
        if not keys:
            raise _NoValue("the metrics have no whole-run cognito *throttles keys (sign_in_throttles, token_refresh_throttles)")
        total, found, missing = 0.0, [], []
        for key in keys:
            try:
                value, _ = self.cognito_throttle_key(key, resource)
            except _NoValue:
                missing.append(key)
                continue
            total += value
            found.append(key)
        if not found:
            raise _NoValue(f"CloudWatch returned no data for cognito {', '.join(keys)}")
        note = f"{' + '.join(found)}" + (f"; no data for {', '.join(missing)}" if missing else "")
        return _Value(total, note)
