"""The gate grammar: ``Gate.parse`` turns one threshold's text into a small value object.

``parse_gates`` parses a scenario's list (an error names ``gates[i]``); ``check_gates`` and
``check_measurable`` refuse, before any load, a gate the run could never evaluate. The grammar
itself is drawn in ``harness.gates``' docstring::

    Gate.parse('"list items".p95 < 200ms')   # Gate(metric="latency", aggregation="p95", threshold=200.0, ...)
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from harness.errors import ScenarioError, UsageError
from harness.results import OUTCOMES

__all__ = [
    "Gate",
    "GateError",
    "RECOVERY_METRICS",
    "check_gates",
    "check_measurable",
    "format_amount",
    "parse_gates",
]


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
    def parse(cls, text: str) -> Gate:
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


def check_gates(gates: Iterable[Gate], *, endpoints: Iterable[str], baseline: bool, path: str | None = None, events: bool | None = None) -> None:
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
            raise UsageError(f"{where}gate {gate.expression!r} compares with a baseline run: pass --baseline reports/<earlier-run-id>, or drop the gate")


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
                f"{where}gate {gate.expression!r} reads {name}'s CloudWatch metrics, which this run cannot have: {unmeasured[layer]}; fix that or drop the gate"
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
                raise self.unknown(
                    name, f"{head} metrics: {', '.join(f'{head}.{k}' for k in keys)}", f"{head}.{keys[-1] if head == 'cognito' else keys[0]} == 0"
                )
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
                f"a bare {text} is ambiguous for {what}: write {number:g}{sign} (read as {reading}) or {_number(number * 100)}{sign} (read as a fraction)",
                example,
            )
        return 0.0


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
