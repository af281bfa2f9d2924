"""Everything the report shows, computed once; the HTML and Markdown renderers only lay it out.

content = ReportContent.build(results=results, metrics=frame, verdict=verdict)
content.verdict_state, content.endpoints[-1]["p95_ms"], content.throttling[0].layer
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from harness.gates.verdict import Outcome
from harness.results import ResultSet

from .analysis import BaselineComparison, ComparisonRow, Delta, ThrottleFinding, compare_runs, compare_server, throttle_story, who_throttled
from .charts import Chart, build_charts, probe_chart
from .quantiles import FlatHistograms
from .server import ServerMetrics
from .tables import (
    endpoint_rows,
    error_rows,
    late_starts,
    probe_line,
    probe_rows,
    reconcile,
    recovery_of,
    recovery_rows,
    recovery_summary,
    retry_rows,
    run_facts,
    server_rows,
    status_table,
)
from .timeline import Timeline

__all__ = ["ReportContent", "normalise_verdict", "outcome_of", "NO_GATES"]

NO_GATES: dict[str, Any] = {"passed": True, "gates": []}


def normalise_verdict(verdict: Any) -> dict[str, Any] | None:
    """The verdict as a plain dict (``verdict.json`` shape), failing gates first; None stays None.

    Accepts the dict itself or an object with ``to_dict()`` (``harness.gates.Verdict``).
    """
    if verdict is None:
        return None
    if not isinstance(verdict, dict):
        if not callable(getattr(verdict, "to_dict", None)):
            raise TypeError(f"a verdict must be a dict like verdict.json, got {type(verdict).__name__}")
        verdict = verdict.to_dict()
    gates = [dict(g) for g in verdict.get("gates", [])]
    gates.sort(key=lambda g: bool(g.get("passed")))  # stable: failing first, order kept otherwise
    passed = verdict.get("passed", all(g.get("passed") for g in gates))
    # with the run's outcome (``harness.gates.Outcome``), None means not judged: kept, not read as False
    return {**verdict, "passed": passed if passed is None and "outcome" in verdict else bool(passed), "gates": gates}


def outcome_of(verdict: dict[str, Any] | None, results: ResultSet) -> Outcome:
    """The run's outcome: the one ``verdict.json`` carries (``harness.runs.analyse_run`` wrote
    it), else decided the same way (``Outcome.decide``) from the run's status and the gates."""
    if verdict is not None and verdict.get("outcome"):
        return Outcome(verdict["outcome"])
    gates = verdict["gates"] if verdict else []
    return Outcome.decide(status=results.meta.get("status"), gates=len(gates), passed=all(g.get("passed") for g in gates), probe=results.meta.get("probe"))


@dataclass
class ReportContent:
    """What one report says, as plain values (see ``build``)."""

    title: str
    results: ResultSet
    verdict: dict[str, Any] | None
    outcome: Outcome  # the one decision (harness.gates.Outcome); verdict_state lays it out
    status: str
    error: str | None
    facts: list[tuple[str, str]]
    target: str
    started: str
    endpoints: list[dict[str, Any]]
    headline: dict[str, Any]
    throttling: list[ThrottleFinding]
    throttle_story: str
    charts: list[Chart]
    server_available: bool
    server_rows: list[tuple[str, str]]
    reconciliation: dict[str, Any] | None
    statuses: pd.DataFrame
    errors: list[dict[str, Any]]
    token_throttle_retries: int
    recovery: list[dict[str, str]] = field(default_factory=list)  # one row per burst and fault
    recovery_summary: str = ""
    retries: list[dict[str, Any]] = field(default_factory=list)  # per endpoint, then Total; empty: no retries
    comparison: list[ComparisonRow] | None = None
    baseline_comparison: BaselineComparison | None = None
    server_comparison: list[tuple[str, Delta]] | None = None
    baseline_facts: dict[str, Any] | None = None
    probe: dict[str, Any] | None = None  # results.meta["probe"] of a ``harness probe`` run
    probe_line: str = ""
    probe_rows: list[dict[str, Any]] = field(default_factory=list)
    probe_chart: Chart | None = None
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))

    @classmethod
    def build(
        cls,
        *,
        results: ResultSet,
        metrics: pd.DataFrame | None = None,
        verdict: Any = None,
        baseline: ResultSet | None = None,
        baseline_metrics: pd.DataFrame | None = None,
    ) -> ReportContent:
        verdict_dict = normalise_verdict(verdict)
        outcome = outcome_of(verdict_dict, results)
        names = results.endpoint_names()
        flat_ok = FlatHistograms.of(results, outcomes=("ok",), endpoints=names)
        timeline = Timeline.of(results, flat_ok=flat_ok)
        server = ServerMetrics(metrics)
        rows = endpoint_rows(results, flat_ok=flat_ok)
        meta = results.meta
        total = rows[-1]
        pacer = results.pacer_totals()
        facts = run_facts(results)
        fact = dict(facts)
        content = cls(
            title=str(meta.get("scenario") or results.scenario.get("name") or results.run_id or "load test"),
            results=results,
            verdict=verdict_dict,
            outcome=outcome,
            status=str(meta.get("status") or "unknown"),
            error=(str(meta["error"])[:300] if meta.get("error") else None),
            facts=facts,
            target=fact.get("Target", "–"),
            started=fact.get("Started (UTC)", "–"),
            endpoints=rows,
            headline={
                "requests": total["requests"],
                "rps": total["rps"],
                "p95_ms": total["p95_ms"],
                "p99_ms": total["p99_ms"],
                "error_rate": total["error_rate"],
                "dropped": pacer.dropped,
                "dropped_pct": 100.0 * pacer.dropped / (pacer.released + pacer.dropped) if pacer.released + pacer.dropped else None,
            },
            throttling=(throttling := who_throttled(timeline, server)),
            throttle_story=throttle_story(throttling),
            charts=build_charts(timeline, server, results.plan, flat_ok=flat_ok, late=late_starts(meta)),
            server_available=server.available,
            server_rows=server_rows(server),
            reconciliation=reconcile(results, server),
            statuses=status_table(results),
            errors=error_rows(results),
            token_throttle_retries=int((meta.get("token_stats") or {}).get("throttle_retries", 0) or 0),
            retries=retry_rows(results),
        )
        recovery = recovery_of(results)
        content.recovery, content.recovery_summary = recovery_rows(recovery), recovery_summary(recovery)
        if meta.get("probe"):
            content.probe = meta["probe"]
            content.probe_line = probe_line(meta["probe"])
            content.probe_rows = probe_rows(meta["probe"])
            content.probe_chart = probe_chart(meta["probe"])
        if baseline is not None:
            content.baseline_comparison = compare_runs(results, baseline, rows=rows)
            content.comparison = content.baseline_comparison.rows
            content.server_comparison = compare_server(server, ServerMetrics(baseline_metrics)) if metrics is not None or baseline_metrics is not None else None
            base_facts = dict(run_facts(baseline))
            content.baseline_facts = {
                "run_id": str(baseline.meta.get("run_id") or baseline.run_id or "–"),
                "started": base_facts.get("Started (UTC)", "–"),
                "scenario": base_facts.get("Scenario", "–"),
                "profile": base_facts.get("Load profile", "–"),
                "same_load": not content.baseline_comparison.warnings,
            }
        return content

    @property
    def verdict_state(self) -> str:
        """The verdict banner, from the outcome: ``passed``, ``failed``, ``no gates`` (also a probe's
        report without its gates) or ``not judged`` (interrupted, aborted or failed: gates on part
        of a run are shown, never as its verdict)."""
        if not self.outcome.judged:
            return "not judged"
        if not (self.verdict and self.verdict["gates"]):
            return Outcome.NO_GATES.value
        return self.outcome.value

    def fact(self, label: str) -> str:
        """One of ``facts`` by its label (``"–"`` when absent)."""
        return dict(self.facts).get(label, "–")

    @property
    def tool(self) -> str:
        return self.fact("Tool")

    @property
    def regressions(self) -> list[str]:
        """Endpoints (and ``Total``) with at least one regression against the baseline."""
        return [row.endpoint for row in self.comparison or [] if row.regressed]
