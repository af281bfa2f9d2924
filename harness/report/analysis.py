"""Conclusions drawn from the numbers: which layer throttled first, and what changed since a baseline.

findings = who_throttled(timeline, ServerMetrics(frame))
findings[0].layer, findings[0].first_elapsed          # ("API Gateway", 12.0)
rows = compare(endpoint_rows(results), endpoint_rows(baseline))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.gates.verdict import RunStatus

from . import formatting as fmt
from .server import THROTTLE_SIGNALS, ServerMetrics
from .timeline import Timeline

__all__ = [
    "ThrottleFinding",
    "who_throttled",
    "when",
    "throttle_story",
    "Delta",
    "ComparisonRow",
    "compare",
    "compare_server",
    "Regression",
    "BaselineComparison",
    "compare_runs",
    "comparability",
    "LATENCY_REGRESSION",
    "ERROR_RATE_REGRESSION_PP",
    "RATE_REGRESSION",
]

#: a latency percentile that rises by more than this fraction is a regression
LATENCY_REGRESSION = 0.10
#: an error rate that rises by more than this many percentage points is a regression
ERROR_RATE_REGRESSION_PP = 0.1
#: an achieved rate that falls by more than this fraction is a regression
RATE_REGRESSION = 0.10

THROTTLED, CLEAR, NO_DATA = "throttled", "clear", "no data"


@dataclass(frozen=True)
class ThrottleFinding:
    """One layer's answer to "did you reject traffic, and from when?".

    The first rejection happened in ``[first_unix, first_unix + resolution)``: one second on
    the client, one CloudWatch period on the server (clamped to the run's first request for
    API Gateway and Lambda, which only see traffic once it is sent).
    """

    layer: str
    signal: str
    state: str  # "throttled", "clear" or "no data"
    first_unix: float | None = None
    first_elapsed: float | None = None
    resolution: int | None = None  # seconds: 1 on the client, the period on CloudWatch
    count: float = 0.0
    note: str = ""
    until_unix: float | None = None
    label: str = ""  # what was seen, for sentences: "API Gateway 4xx"

    @property
    def until_elapsed(self) -> float | None:
        if self.first_elapsed is None or self.first_unix is None or self.until_unix is None:
            return None
        return self.first_elapsed + (self.until_unix - self.first_unix)

    @property
    def exact(self) -> bool:
        return self.resolution == 1

    def overlaps(self, other: ThrottleFinding) -> bool:
        """Whether the two first rejections may have happened at the same time."""
        if None in (self.first_unix, self.until_unix, other.first_unix, other.until_unix):
            return False
        return self.first_unix < other.until_unix and other.first_unix < self.until_unix  # type: ignore[operator]


_CLIENT = ("Client", "HTTP 429 responses")
_CLIENT_LABEL = "client HTTP 429s"


def who_throttled(timeline: Timeline, server: ServerMetrics) -> list[ThrottleFinding]:
    """Every layer's first rejection, ordered by the earliest time it can have happened; then
    layers that stayed clear; then layers without data. Client times are exact seconds;
    CloudWatch times are periods (see ``ThrottleFinding``): findings that ``overlap`` cannot be
    ordered more finely than that."""
    findings: list[ThrottleFinding] = []
    client = timeline.first("throttled")
    first_request = timeline.first("requests")
    if timeline.empty:
        findings.append(ThrottleFinding(*_CLIENT, NO_DATA, label=_CLIENT_LABEL))
    elif client is None:
        findings.append(ThrottleFinding(*_CLIENT, CLEAR, resolution=1, label=_CLIENT_LABEL))
    else:
        unix, count = client
        findings.append(ThrottleFinding(*_CLIENT, THROTTLED, unix, timeline.elapsed(unix), 1, float(count), until_unix=unix + 1, label=_CLIENT_LABEL))

    for layer, key, keys, signal, label, note, driven in THROTTLE_SIGNALS:
        found = server.first_nonzero(key, keys, "Sum")
        if found is None:
            if key != "states":  # Step Functions only matters when the target uses it
                findings.append(ThrottleFinding(layer, signal, NO_DATA, note=server.why_no_data(key), label=label))
            continue
        start, period, total = found
        if math.isnan(start):
            findings.append(ThrottleFinding(layer, signal, CLEAR, resolution=period, note=note, label=label))
            continue
        until = start + period
        if driven and first_request is not None and start < first_request[0] < until:
            start = first_request[0]
        findings.append(ThrottleFinding(layer, signal, THROTTLED, start, timeline.elapsed(start), period, total, note, until_unix=until, label=label))

    order = {THROTTLED: 0, CLEAR: 1, NO_DATA: 2}
    return sorted(findings, key=lambda f: (order[f.state], f.first_unix if f.first_unix is not None else math.inf, f.resolution or 0))


def when(finding: ThrottleFinding, *, clock: bool = False) -> str:
    """``"0:40"`` for an exact second, ``"0:00–1:00"`` for a CloudWatch period (UTC clock times
    with ``clock=True``); ``"–"`` when the layer did not throttle."""
    if finding.state != THROTTLED:
        return "–"
    if clock:
        start, end = fmt.clock(finding.first_unix), fmt.clock(finding.until_unix)
    else:
        start, end = fmt.elapsed(finding.first_elapsed), fmt.elapsed(finding.until_elapsed)
    return start if finding.exact else f"{start}–{end}"


def throttle_story(findings: Sequence[ThrottleFinding]) -> str:
    """One sentence: what was seen first, what at about the same time, what later."""
    hit = [f for f in findings if f.state == THROTTLED]
    missing = [f.layer for f in findings if f.state == NO_DATA]
    if not hit:
        return "No layer rejected traffic" + (f" as far as the data show ({_join(missing)}: no data)." if missing else ".")
    first = hit[0]
    same = [f for f in hit[1:] if f.overlaps(first)]
    later = [f for f in hit[1:] if f not in same]
    text = f"First throttling seen: {first.label} {'at' if first.exact else 'within'} {when(first)} into the run ({when(first, clock=True)} UTC)"
    if same:
        coarsest = max(f.resolution or 1 for f in [first, *same])
        listed = _join([f"{f.label} ({when(f)})" for f in same])
        if coarsest == 1:
            text += f"; in the same second: {listed}"
        else:
            text += f"; at about the same time: {listed}, which {coarsest} s CloudWatch periods cannot order more finely"
    if later:
        text += f"; later: {_join([f'{f.label} ({when(f)})' for f in later])}"
    return text + "."


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class Delta:
    """One metric in this run against the baseline."""

    baseline: float | None
    current: float | None
    flag: str | None = None  # "regression", "improvement" or None

    @property
    def absolute(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    @property
    def percent(self) -> float | None:
        if self.absolute is None or not self.baseline:
            return None
        return 100.0 * self.absolute / self.baseline


@dataclass(frozen=True)
class ComparisonRow:
    endpoint: str
    cells: dict[str, Delta] = field(default_factory=dict)
    only_in: str | None = None  # "baseline" or "current" when the endpoint is missing on one side

    @property
    def regressed(self) -> bool:
        return any(c.flag == "regression" for c in self.cells.values())


#: metric -> how to judge a change: ("latency" | "errors" | "rate" | None)
COMPARED: dict[str, str | None] = {
    "requests": None,
    "rps": "rate",
    "p50_ms": "latency",
    "p95_ms": "latency",
    "p99_ms": "latency",
    "max_ms": None,
    "error_rate": "errors",
}


def judge(kind: str | None, baseline: float | None, current: float | None) -> str | None:
    """The flag of one change (see the thresholds at the top of this module)."""
    if kind is None or baseline is None or current is None:
        return None
    if kind == "latency":
        if baseline <= 0:
            return None
        change = (current - baseline) / baseline
        return "regression" if change > LATENCY_REGRESSION else "improvement" if change < -LATENCY_REGRESSION else None
    if kind == "errors":  # percentages
        change = current - baseline
        return "regression" if change > ERROR_RATE_REGRESSION_PP else "improvement" if change < -ERROR_RATE_REGRESSION_PP else None
    if kind == "rate":
        if baseline <= 0:
            return None
        change = (current - baseline) / baseline
        return "regression" if change < -RATE_REGRESSION else None
    return None


def compare(current: Sequence[dict[str, Any]], baseline: Sequence[dict[str, Any]]) -> list[ComparisonRow]:
    """Endpoint rows (``tables.endpoint_rows``) side by side, matched by endpoint name; the
    ``Total`` row last."""
    base = {r["endpoint"]: r for r in baseline}
    cur = {r["endpoint"]: r for r in current}
    names = [r["endpoint"] for r in current if r["endpoint"] != "Total"]
    names += [n for n in base if n not in cur and n != "Total"]
    names.append("Total")
    rows = []
    for name in names:
        b, c = base.get(name), cur.get(name)
        cells = {m: Delta(_num(b, m), _num(c, m), judge(kind, _num(b, m), _num(c, m)) if b and c else None) for m, kind in COMPARED.items()}
        rows.append(ComparisonRow(name, cells, only_in="baseline" if c is None else "current" if b is None else None))
    return rows


#: what a regression in each judged kind is called, in the order headlines name them
KIND_NAMES = {"latency": "latency", "errors": "errors", "rate": "achieved rate"}
_METRIC_NAMES = {"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99", "error_rate": "not ok", "rps": "achieved rate"}


@dataclass(frozen=True)
class Regression:
    """One metric of one endpoint (or ``Total``) that got worse than the baseline allows."""

    endpoint: str
    metric: str  # a COMPARED key: "p95_ms", "error_rate", "rps"
    kind: str  # "latency", "errors" or "rate"
    delta: Delta

    def text(self) -> str:
        """``Total p95: 25.0 ms → 46.2 ms (+84.8 %)``."""
        d, name = self.delta, _METRIC_NAMES.get(self.metric, self.metric)
        if self.kind == "errors":
            return f"{self.endpoint} {name}: {fmt.pct(d.baseline)} → {fmt.pct(d.current)} ({fmt.signed(d.absolute, 'pp')})"
        show = fmt.ms if self.kind == "latency" else (lambda v: f"{fmt.rate(v)} rps")
        return f"{self.endpoint} {name}: {show(d.baseline)} → {show(d.current)} ({fmt.signed_pct(d.percent)})"


@dataclass(frozen=True)
class BaselineComparison:
    """This run against a baseline: the rows, what regressed, and why the two may not compare."""

    rows: list[ComparisonRow]
    regressions: list[Regression]
    warnings: list[str]  # reasons the runs are not like for like; empty when they are

    @property
    def kinds(self) -> list[str]:
        """The kinds that regressed, in headline order: ``["latency", "errors"]``."""
        found = {r.kind for r in self.regressions}
        return [k for k in KIND_NAMES if k in found]

    @property
    def improved(self) -> list[str]:
        """The kinds that improved (on the Total row) and did not also regress anywhere."""
        total = self.rows[-1] if self.rows else None
        kinds = {COMPARED[m] for m, d in (total.cells.items() if total else []) if d.flag == "improvement" and COMPARED.get(m)}
        return [k for k in KIND_NAMES if k in kinds and k not in self.kinds]

    def headline(self) -> str:
        """``Regressed against the baseline: latency and errors`` (or that nothing did)."""
        if not self.kinds:
            return "No regressions against the baseline"
        text = "Regressed against the baseline: " + _join([KIND_NAMES[k] for k in self.kinds])
        if self.improved:
            text += "; improved: " + _join([KIND_NAMES[k] for k in self.improved])
        return text


def compare_runs(
    results: Any, baseline: Any, *, rows: Sequence[dict[str, Any]] | None = None, baseline_rows: Sequence[dict[str, Any]] | None = None
) -> BaselineComparison:
    """Compare two ``ResultSet``s: the endpoint rows side by side, every regression, and the
    reasons they are not comparable (``comparability``). ``rows`` saves recomputing them."""
    from .tables import endpoint_rows

    table = compare(rows if rows is not None else endpoint_rows(results), baseline_rows if baseline_rows is not None else endpoint_rows(baseline))
    found = [
        Regression(row.endpoint, metric, str(COMPARED[metric]), delta) for row in table for metric, delta in row.cells.items() if delta.flag == "regression"
    ]
    found.sort(key=lambda r: (list(KIND_NAMES).index(r.kind), r.endpoint != "Total"))
    return BaselineComparison(rows=table, regressions=found, warnings=comparability(results, baseline))


def comparability(results: Any, baseline: Any) -> list[str]:
    """Why two runs are not like for like: another scenario, profile, planned load or set of
    endpoints, or a run that did not complete. Empty when they compare."""
    out: list[str] = []
    mine, theirs = results.meta, baseline.meta
    for key, label in (("scenario", "scenario"), ("profile", "load profile")):
        if mine.get(key) and theirs.get(key) and mine.get(key) != theirs.get(key):
            out.append(f"the baseline ran {label} {theirs[key]!r}, this run {mine[key]!r}")
    if results.plan and baseline.plan and _plan_summary(results.plan) != _plan_summary(baseline.plan):
        out.append(f"the planned load differs ({_plan_text(baseline.plan)} in the baseline, {_plan_text(results.plan)} now)")
    names, base_names = set(results.endpoint_names()), set(baseline.endpoint_names())
    if names and base_names and names != base_names:
        out.append("the endpoints differ (" + ", ".join(sorted(names ^ base_names)) + " in only one run)")
    for which, meta in (("the baseline", theirs), ("this run", mine)):
        status = meta.get("status")
        if status and RunStatus.of(status) is not RunStatus.COMPLETED:
            out.append(f"{which} was {status}")
    return out


def _plan_summary(plan: Sequence[dict[str, Any]]) -> tuple[float, float, float]:
    duration = max(float(s["end"]) for s in plan)
    peak = max(max(float(s["rate_from"]), float(s["rate_to"])) for s in plan)
    total = sum((float(s["rate_from"]) + float(s["rate_to"])) / 2 * (float(s["end"]) - float(s["start"])) for s in plan)
    return round(duration, 1), round(peak, 1), round(total)


def _plan_text(plan: Sequence[dict[str, Any]]) -> str:
    duration, peak, total = _plan_summary(plan)
    return f"{total:,.0f} requests over {duration:g} s, peak {peak:g} rps"


#: (label, layer, key, stat, judged as)
SERVER_COMPARED: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("API Gateway requests", "apigw", "count", "Sum", None),
    ("API Gateway 4XX", "apigw", "4xx", "Sum", None),
    ("API Gateway 5XX", "apigw", "5xx", "Sum", None),
    ("API Gateway Latency p50 (ms)", "apigw", "latency", "p50", "latency"),
    ("API Gateway Latency p95 (ms)", "apigw", "latency", "p95", "latency"),
    ("API Gateway Latency p99 (ms)", "apigw", "latency", "p99", "latency"),
    ("API Gateway IntegrationLatency p95 (ms)", "apigw", "integration_latency", "p95", "latency"),
    ("Lambda Duration average (ms)", "lambda", "duration", "Average", "latency"),
    ("Lambda Errors", "lambda", "errors", "Sum", None),
    ("Lambda Throttles", "lambda", "throttles", "Sum", None),
    ("Lambda ConcurrentExecutions max", "lambda", "concurrent_executions", "Maximum", None),
    ("Cognito SignInThrottles", "cognito", "sign_in_throttles", "Sum", None),
    ("Cognito TokenRefreshThrottles", "cognito", "token_refresh_throttles", "Sum", None),
)


def compare_server(current: ServerMetrics, baseline: ServerMetrics) -> list[tuple[str, Delta]]:
    """Whole-run CloudWatch values side by side (rows where both sides lack data are left out)."""
    out = []
    for label, layer, key, stat, kind in SERVER_COMPARED:
        b, c = baseline.run_value(layer, key, stat), current.run_value(layer, key, stat)
        if b is None and c is None:
            continue
        out.append((label, Delta(b, c, judge(kind, b, c))))
    return out


def _num(row: dict[str, Any] | None, key: str) -> float | None:
    if row is None:
        return None
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)
