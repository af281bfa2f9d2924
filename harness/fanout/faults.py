"""A distributed run's ``[[faults]]``, applied by ``harness fanout``: the one process that
follows the run. The workers only run the load (a shard leaves faults to its controller).

    faults = FanoutFaults(scenario, spec.windows, target=target, aws=aws, run_id=run_id)
    faults.check()                 # before the execution starts: one-line FaultError
    faults.follow(store)           # every poll: a newly planned segment gets its faults scheduled
    faults.end_all("interrupted")  # Ctrl-C, SIGTERM, a failed execution; idempotent
    faults.records()               # for results.meta["faults"], in the scenario's order

Every segment of a run starts at its own instant (``segments/<seg>/plan.json``: ``start_at``
and the plan ``window`` it runs), known only once the state machine has planned it; a fault
lies inside one segment (``spec.fault_segments``) and is scheduled against that segment's clock:
``t0 = start_at - window[0]``, so ``at`` keeps its meaning of seconds from the first planned
request, as in ``harness run``. Each segment's faults run on a ``FaultScheduler`` of their own.
"""

from __future__ import annotations

from typing import Any

from harness.errors import FaultError
from harness.fanout.spec import fault_segments
from harness.faults.kinds import build_actions
from harness.faults.scheduler import FaultScheduler, expiry_for

__all__ = ["FanoutFaults"]


class FanoutFaults:
    """The faults of a fan-out run, one ``FaultScheduler`` per segment that has any."""

    def __init__(self, scenario: Any, windows: list[tuple[float, float]], *, target: Any, aws: Any, run_id: str) -> None:
        actions = build_actions(scenario, target=target, aws=aws, run_id=run_id)
        expiry = expiry_for(actions, target=target, aws=aws, run_id=run_id)
        segments = fault_segments(scenario, windows)
        self._errors: list[str] = []
        self._segments: dict[int, tuple[list[int], FaultScheduler]] = {}
        for segment in sorted(set(segments)):
            mine = [a for a, s in zip(actions, segments) if s == segment]
            self._segments[segment] = ([a.index for a in mine], FaultScheduler(mine, on_error=self._errors.append, expiry=expiry))

    def __bool__(self) -> bool:
        return bool(self._segments)

    def check(self) -> None:
        """Check every fault can be applied (before any load); raises ``FaultError``."""
        for _, scheduler in self._segments.values():
            scheduler.check()

    def follow(self, store: Any) -> None:
        """Schedule the faults of every segment planned since the last call; raises
        ``FaultError`` once a fault could not start (the run then measures something else)."""
        for segment, (_, scheduler) in self._segments.items():
            if scheduler.t0 is None:
                plan = store.get_json_or_none(store.segment_key(segment))
                if plan is not None:
                    scheduler.start(float(plan["start_at"]) - float(plan["window"][0]))
        if self._errors:
            raise FaultError(self._errors[0])

    @property
    def error(self) -> str | None:
        """The first fault that could not start, if one could not."""
        return self._errors[0] if self._errors else None

    def end_all(self, reason: str) -> list[str]:
        """End every fault now; faults not started yet never will. The put-back problems."""
        problems: list[str] = []
        for _, scheduler in self._segments.values():
            problems += scheduler.end_all(reason)
        return problems

    def records(self) -> list[dict[str, Any]]:
        """Each fault's plan and what happened (``FaultScheduler.records``), in scenario order."""
        indexed = [pair for indexes, scheduler in self._segments.values() for pair in zip(indexes, scheduler.records())]
        return [record for _, record in sorted(indexed, key=lambda pair: pair[0])]
