"""The verdict: each gate's result, and how the run ended, judged, with its exit code.

``Outcome`` is the one decision every reader shares (``verdict.json``, JUnit, the CLI's exit
code and lines, the HTML report, the Markdown summary, the web UI's report state)::

    outcome = Outcome.of(verdict, status=results.meta.get("status"), probe=results.meta.get("probe"))
    outcome.judged, outcome.passed, outcome.exit_code()

    RunStatus (meta.status)   gates      Outcome       exit
    completed                 none       no gates      0
    completed                 all pass   passed        0
    completed                 one fails  failed        1     (a probe: passed when a step held)
    interrupted               any        not judged    130
    aborted                   any        aborted       1     (an abort_on rule held: a failed gate)
    failed                    any        run failed    3
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from .grammar import Gate, format_amount

__all__ = [
    "EXIT_GATE_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_RUN_FAILED",
    "EXIT_USAGE",
    "GateResult",
    "Outcome",
    "RunStatus",
    "Verdict",
]

EXIT_OK = 0
"""Every gate passed (or there were none)."""
EXIT_GATE_FAILED = 1
"""The run completed but at least one gate failed or could not be evaluated (or an abort_on rule held)."""
EXIT_USAGE = 2
"""Bad command-line use or an invalid scenario (including a gate that does not parse)."""
EXIT_RUN_FAILED = 3
"""The run itself failed (stack, auth, load, metrics)."""
EXIT_INTERRUPTED = 130
"""The run was interrupted (Ctrl-C, SIGTERM): what it measured is kept, and not judged."""


class RunStatus(str, Enum):
    """How a run ended, as ``results.json``'s ``meta.status`` says it (``running`` while it is on)."""

    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    ABORTED = "aborted"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, status: Any) -> RunStatus | str:
        """``meta.status`` as the enum (a missing one is ``completed``, as results written before
        the status existed); an unknown text is kept as it is, and is never judged."""
        text = str(status or cls.COMPLETED.value)
        try:
            return cls(text)
        except ValueError:
            return text


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
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
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
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(tuple(GateResult.from_dict(row) for row in data.get("gates", [])))


class Outcome(str, Enum):
    """How a run ended, judged: the one decision ``verdict.json``, JUnit, the exit code, the
    CLI, the report, the summary and the web UI share (the table in the module docstring)."""

    PASSED = "passed"
    FAILED = "failed"  # a gate failed (or a probe's first step breached)
    NO_GATES = "no gates"  # measured, not judged
    NOT_JUDGED = "not judged"  # interrupted: its gates cover part of a run
    ABORTED = "aborted"  # an abort_on rule stopped it: a failed gate
    RUN_FAILED = "run failed"

    def __str__(self) -> str:
        return self.value

    @property
    def judged(self) -> bool:
        """Whether the gates are the verdict (else they were evaluated on what ran, for reading)."""
        return self in (Outcome.PASSED, Outcome.FAILED, Outcome.NO_GATES)

    @property
    def passed(self) -> bool | None:
        """For ``verdict.json``: True or False when the run was judged or aborted, None when not."""
        return {Outcome.PASSED: True, Outcome.NO_GATES: True, Outcome.FAILED: False, Outcome.ABORTED: False}.get(self)

    def exit_code(self, *, interrupted: bool = False) -> int:
        """The CLI's exit code: a failed run 3, an abort 1, an interrupted run 130 (also when
        Locust was stopped after the run completed: ``interrupted``), else the verdict's 0 or 1."""
        if self is Outcome.RUN_FAILED:
            return EXIT_RUN_FAILED
        if self is Outcome.ABORTED:
            return EXIT_GATE_FAILED
        if interrupted or self is Outcome.NOT_JUDGED:
            return EXIT_INTERRUPTED
        return EXIT_GATE_FAILED if self is Outcome.FAILED else EXIT_OK

    def headline(self, *, failed: int, total: int, status: Any) -> str:
        """One line for the run's verdict: ``PASSED``, ``FAILED (1 of 3 gates)``, ``no gates:
        measured, not judged``, ``not judged: the run was interrupted (all gates passed on the
        part that ran)``."""
        if self is Outcome.PASSED:
            return "PASSED"
        if self is Outcome.FAILED:
            return f"FAILED ({failed} of {total} gates)" if total else "FAILED"
        if self is Outcome.NO_GATES:
            return "no gates: measured, not judged"
        if not total:
            return f"not judged: the run was {status}"
        gates = "all gates passed" if not failed else f"{failed} of {total} gates failed"
        return f"not judged: the run was {status} ({gates} on the part that ran)"

    @classmethod
    def decide(cls, *, status: Any, gates: int, passed: bool, probe: dict[str, Any] | None = None) -> Outcome:
        """The outcome from the run's ``status`` (``meta.status``), how many gates it has and
        whether they all passed and, for a probe, its knee: a probe passes when a step held."""
        status = RunStatus.of(status)
        if status is RunStatus.FAILED:
            return cls.RUN_FAILED
        if status is RunStatus.ABORTED:
            return cls.ABORTED
        if status is not RunStatus.COMPLETED:
            return cls.NOT_JUDGED
        if probe:
            return cls.PASSED if probe.get("sustainable_rate") is not None else cls.FAILED
        if not gates:
            return cls.NO_GATES
        return cls.PASSED if passed else cls.FAILED

    @classmethod
    def of(cls, verdict: Verdict, *, status: Any, probe: dict[str, Any] | None = None) -> Outcome:
        """A run's outcome from its ``status``, its verdict and, for a probe, its knee."""
        return cls.decide(status=status, gates=len(verdict.results), passed=verdict.passed, probe=probe)
