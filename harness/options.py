"""Command-line options, checked before anything starts: each problem is one line and exit 2.

    processes = check_processes(args.processes)          # None, -1 (one per core) or 1..
    count = check_number("--count", args.count, minimum=1, integer=True)
    baseline = check_baseline(args.baseline)              # None, or a run folder with results
    scenario = check_scenario(args.scenario, gates=args.gate, overrides=args.set, baseline=baseline)

Commands call these right after parsing, before a local stack, a test user or a request, so
that bad usage never costs a run (``UsageError``, exit 2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import UsageError

__all__ = ["check_processes", "check_number", "check_baseline", "check_scenario", "fault_warnings"]


def check_processes(value: int | None) -> int | None:
    """``--processes``: None (one process), ``-1`` (one per core) or a count of 1 or more."""
    if value is None or value == -1 or value >= 1:
        return value
    raise UsageError(f"--processes {value}: give the number of Locust processes (1 or more), or -1 for one per core")


def check_number(option: str, value: Any, *, minimum: float = 0.0, integer: bool = False, inclusive: bool = True) -> Any:
    """A number option at or above ``minimum`` (above it with ``inclusive=False``); None passes."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (integer and value != int(value)):
        raise UsageError(f"{option} {value}: give {'a whole number' if integer else 'a number'}")
    if value < minimum or (not inclusive and value == minimum):
        bound = f"{'at least' if inclusive else 'above'} {minimum:g}"
        raise UsageError(f"{option} {value:g}: must be {bound}")
    return int(value) if integer else value


def check_scenario(
    path: str | Path,
    *,
    gates: Sequence[str] = (),
    overrides: Sequence[str] = (),
    baseline: Path | None = None,
    override_limits: bool = False,
    metrics: bool = True,
    fanout: bool | None = None,
    probe: bool = False,
) -> Any:
    """The scenario at ``path`` (with ``--set`` ``overrides``), loaded and checked as a run needs
    it (``harness.validation.validate``: its gates and ``--gate`` ones, abort rules, region).
    ``metrics`` False is --no-metrics; ``fanout``: True for `harness fanout`, False for `harness
    run`, None when either may follow; ``probe`` for `harness probe`. Raises exit-2 errors."""
    from harness.scenario import Scenario
    from harness.validation import Command, validate

    scenario = Scenario.load(path, override_limits=override_limits, overrides=overrides)
    command: Command = "probe" if probe else "check" if fanout is None else "fanout" if fanout else "run"
    validate(scenario, source=str(path), command=command, gates=gates, baseline=baseline is not None, metrics=metrics)
    return scenario


def fault_warnings(scenario: Any) -> list[str]:
    """Faults the scenario allows but probably does not mean, said before any load: two of one
    local kind that overlap on the same route (or the whole API) apply at once, so their
    effects add up (two latencies, two error shares). Overlaps that change one setting and put
    it back are refused by the scenario itself."""
    from harness.faults.config import LOCAL_FAULT_KINDS

    found = []
    for i, a in enumerate(scenario.faults):
        for j, b in enumerate(scenario.faults[:i]):
            if a.kind != b.kind or a.kind not in LOCAL_FAULT_KINDS or not (a.at < b.end and b.at < a.end):
                continue
            routes = getattr(a, "route", None), getattr(b, "route", None)
            if None not in routes and routes[0] != routes[1]:
                continue  # different routes: each gets its own
            found.append(
                f"faults[{i}] ({a.label!r}) overlaps faults[{j}] ({b.label!r}) from {max(a.at, b.at):g} to {min(a.end, b.end):g} s: "
                f"both {a.kind} faults apply at once there, so their effects add up; move one if you meant them apart"
            )
    return found


def check_baseline(path: Path | str | None) -> Path | None:
    """``--baseline``: a run folder written by ``harness run``, with a readable ``results.json``."""
    if path is None or path == "":
        return None
    path = Path(path)
    from harness.runs import load_results

    try:
        load_results(path)
    except UsageError as exc:
        raise UsageError(f"--baseline {path}: {exc}") from None
    return path
