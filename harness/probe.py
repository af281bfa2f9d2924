"""The sustainable-rate probe: a ramp that stops itself at the knee.

``harness probe SCENARIO`` runs the scenario's ``ramp`` profile step by step. At the end of each
step the scenario's client-side gates are judged on that step alone; the first step that breaches
one is the *knee*, and the run stops there. The *sustainable rate* is the planned rate of the last
step that held (None when even the first breached)::

    probe = Probe(build_plan(scenario.load_profile), knee_gates(scenario, gates=[]))
    knee = probe.judge_due(results, now=time.time(), started_at=t0)   # the breached step, or None
    results.meta["probe"] = probe.summary(stopped_at_knee=knee is not None)

What a step is judged on: the whole epoch seconds inside it, less its first (``SETTLE``): a rate
change is a transient (the token bucket's burst allowance, new connections), and the probe asks
what a rate sustains, not how its first second looks. The step is judged ``GRACE`` seconds after
its last whole second ends, so that requests started in it have been answered and recorded. A
gate with no data in a step (no "ok" requests for a p95, say) breaches it: no data never passes.

Only gates that mean something for one step can find a knee: client latency (``p95 < 300ms``),
client rates (``error_rate < 1%``, ``throttle_rate < 1%``, ...), ``dropped_rate`` and
``achieved_rate``. CloudWatch gates arrive minutes late, regression gates need the whole run and
a baseline, and ``rps``/``requests`` are whole-run totals that a low first step would always
breach: each is refused before any load (``check_probe``, which ``validation.validate`` calls for
``harness probe``), with one line.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.abort import window_of
from harness.errors import ScenarioError
from harness.gates import RECOVERY_METRICS, Gate, format_amount, measure_client, parse_gates
from harness.plan import Plan
from harness.profiles import Ramp
from harness.results import ResultSet

if TYPE_CHECKING:
    from harness.scenario import Scenario

__all__ = ["Probe", "ProbeStep", "check_probe", "knee_gates", "judged_part", "SETTLE", "GRACE", "MIN_STEP_DURATION"]

SETTLE = 1
"""Whole seconds at the start of each step that are not judged (the rate change's transient)."""

GRACE = 1.0
"""Seconds after a step's last judged second before it is judged (its requests get answered)."""

MIN_STEP_DURATION = 3.0
"""The shortest step the probe accepts: at least one whole second is left to judge after SETTLE."""

_GATES_EXAMPLE = 'gates = ["p95 < 300ms", "error_rate < 1%", "throttle_rate < 1%"]'
_PER_RUN = {"rps", "requests"}


@dataclass(frozen=True)
class ProbeStep:
    """One step of the ramp: ``number`` (1-based), planned ``rate``, ``start``..``end`` seconds from t0."""

    number: int
    rate: float
    start: float
    end: float

    def seconds(self, started_at: float) -> range:
        """The epoch seconds it is judged on: the whole seconds inside it, less the first SETTLE."""
        first = math.ceil(started_at + self.start - 1e-9) + SETTLE
        last = math.floor(started_at + self.end + 1e-9)
        return range(first, max(first, last))


def knee_gates(texts: Iterable[str], *, path: str) -> list[Gate]:
    """Parse gates and refuse, in one line, those that cannot be judged on one step."""
    gates = parse_gates(list(texts), path=path)
    for i, gate in enumerate(gates):
        where = f"gates.{i}" if path != "--gate" else None
        if gate.regression:
            why = "a regression needs the whole run and a baseline, so it cannot judge one step"
        elif "." in gate.metric:
            why = f"{gate.name} comes from CloudWatch, minutes after the fact, so it cannot judge a step while the probe runs"
        elif gate.metric in _PER_RUN:
            why = f"{gate.metric} is a whole-run total that a low first step would always breach; the probe measures each step's rate itself"
        elif gate.metric in RECOVERY_METRICS:
            why = "recovery is measured after bursts and faults, which a probe does not have"
        else:
            continue
        raise ScenarioError(
            f"{gate.expression!r}: {why}; probe with client-side gates only (replace the list with --set 'gates=[\"p95 < 300ms\", \"error_rate < 1%\"]')",
            path=path, field=where,
        )  # fmt: skip
    return gates


def check_probe(scenario: Scenario, *, gates: Sequence[str] = (), path: str) -> list[Gate]:
    """Everything the probe needs from a scenario, checked before any load: a ``ramp`` profile
    going up from a rate above 0 with steps of at least MIN_STEP_DURATION, and client-side gates
    (the scenario's plus ``gates``) to judge each step by. Returns those gates."""
    profile = scenario.load_profile
    if not isinstance(profile, Ramp):
        raise ScenarioError(
            f'is "{profile.profile}"; harness probe needs profile = "ramp" with from_rate, to_rate, step and step_duration '
            '(e.g. from_rate = 20, to_rate = 200, step = 20, step_duration = "5s")',
            path=path, field="load.profile",
        )  # fmt: skip
    if profile.to_rate < profile.from_rate:
        raise ScenarioError(
            f"{profile.to_rate:g} is below from_rate ({profile.from_rate:g}); the probe ramps up to find the knee: swap them", path=path, field="load.to_rate"
        )
    if profile.from_rate <= 0:
        raise ScenarioError(
            "is 0; the probe judges every step, and a step without requests has nothing to judge: start at 1 rps or more", path=path, field="load.from_rate"
        )
    if scenario.faults:
        raise ScenarioError(
            "a fault during a probe would move the knee to wherever it happens to fall; probe without faults "
            "and run them with harness run at the sustainable rate",
            path=path, field="faults",
        )  # fmt: skip
    if profile.step_duration < MIN_STEP_DURATION:
        raise ScenarioError(
            f"is {profile.step_duration:g} s; each step's first second is a transient the probe does not judge, so a step needs at least "
            f"{MIN_STEP_DURATION:g} s (5 s or more gives steadier figures)",
            path=path, field="load.step_duration",
        )  # fmt: skip
    parsed = knee_gates(scenario.gates, path=path) + knee_gates(gates, path="--gate")
    if not parsed:
        raise ScenarioError(
            f"the probe finds the knee by the scenario's gates and it has none; add client-side gates, e.g. {_GATES_EXAMPLE} (or pass --gate)",
            path=path,
            field="gates",
        )
    return parsed


def steps_of(plan: Plan) -> list[ProbeStep]:
    """The ramp's steps, from the plan's segments labelled ``step N``."""
    return [
        ProbeStep(number=int(seg.label.split()[1]), rate=seg.rate_from * plan.share, start=seg.start, end=seg.end)
        for seg in plan.segments
        if seg.label.startswith("step ")
    ]


def judge_step(step: ProbeStep, gates: Sequence[Gate], results: ResultSet, seconds: range) -> dict[str, Any]:
    """One step's figures and whether every gate held over ``seconds`` (epoch seconds)."""
    part = window_of(results, seconds)
    counts = part.outcome_counts()
    total = sum(counts.values())
    p95_us = part.select(outcomes=("ok",)).percentile(0.95)
    breached = []
    for gate in gates:
        value = measure_client(gate, part)
        if value is None:
            breached.append(f"{gate.expression}: no data")
        elif not gate.compare(value):
            breached.append(f"{gate.expression}: {format_amount(value, gate.unit)}")
    return {
        "step": step.number,
        "rate": step.rate,
        "achieved_rate": round(total / len(seconds), 3) if len(seconds) else 0.0,
        "p95_ms": None if p95_us is None else round(p95_us / 1000.0, 3),
        "error_rate": round(100.0 * (total - counts["ok"]) / total, 4) if total else None,
        "throttled_rate": round(100.0 * counts["throttled"] / total, 4) if total else None,
        "requests": total,
        "seconds": [seconds.start, seconds.stop] if len(seconds) else None,
        "held": not breached,
        "breached": breached,
    }


class Probe:
    """Judges the ramp's steps as they end; the first breached step is the knee."""

    def __init__(self, plan: Plan, gates: Sequence[Gate]) -> None:
        self.steps = steps_of(plan)
        self.gates = list(gates)
        self.judged: list[dict[str, Any]] = []
        self.knee: dict[str, Any] | None = None

    def judge_due(self, results: ResultSet, *, now: float, started_at: float) -> dict[str, Any] | None:
        """Judge every step whose judged seconds ended at least GRACE before ``now``, in order,
        until one breaches; returns that step (the knee) when it is found now, else None."""
        while self.knee is None and len(self.judged) < len(self.steps):
            step = self.steps[len(self.judged)]
            seconds = step.seconds(started_at)
            if now < seconds.stop + GRACE:
                return None
            verdict = judge_step(step, self.gates, results, seconds)
            self.judged.append(verdict)
            if not verdict["held"]:
                self.knee = verdict
                return verdict
        return None

    def summary(self, *, stopped_at_knee: bool) -> dict[str, Any]:
        """``results.meta["probe"]``: the steps judged, the knee and the sustainable rate."""
        held = [s for s in self.judged if s["held"]]
        return {
            "gates": [g.expression for g in self.gates],
            "settle_seconds": SETTLE,
            "planned_steps": [s.rate for s in self.steps],
            "steps": self.judged,
            "knee_rate": self.knee["rate"] if self.knee else None,
            "sustainable_rate": held[-1]["rate"] if held else None,  # every step before the knee held
            "top_held": self.knee is None and len(self.judged) == len(self.steps) and bool(self.steps),
            "stopped_at_knee": stopped_at_knee,
        }


def judged_part(results: ResultSet) -> ResultSet | None:
    """What a probe run's verdict is judged on: the judged seconds of the steps that held (or,
    when none held, of the first step, so the verdict names what broke); None for a run that
    is not a probe."""
    probe = results.meta.get("probe")
    if not probe:
        return None
    steps = [s for s in probe.get("steps", []) if s.get("held")] or probe.get("steps", [])[:1]
    seconds = {sec for s in steps if s.get("seconds") for sec in range(*s["seconds"])}
    return ResultSet(
        run_id=results.run_id,
        meta={**results.meta, "duration": float(len(seconds))},
        scenario=results.scenario,
        plan=results.plan,
        endpoints=results.endpoints,
        windows={key: hist for key, hist in results.windows.items() if key[2] in seconds},
        statuses=Counter({key: n for key, n in results.statuses.items() if key[2] in seconds}),
        pacer={sec: w for sec, w in results.pacer.items() if sec in seconds},
    )
