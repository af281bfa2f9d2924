"""``RunMeta``: what results.json's ``meta`` says about every run, built in one place.

``harness run`` (``load/session.py``) and the fan-out merge (``fanout/aggregate.py``) both
write it; each adds its own keys after (a probe's steps, the shards)::

    meta = RunMeta.of(scenario, run_id="r1", target=target.as_dict(), started_at=t0, ended_at=t1,
                      planned_duration=60.0, workers=1, status="completed").as_dict()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RunMeta"]


@dataclass(frozen=True, kw_only=True)
class RunMeta:
    """The keys every run's ``meta`` holds, typed; ``as_dict()`` is what results.json stores."""

    run_id: str
    scenario: str
    profile: str
    target: dict[str, Any]
    started_at: float
    ended_at: float
    planned_duration: float
    vus: int
    users: int
    workers: int
    status: str
    error: str | None = None
    token_stats: dict[str, int] = field(default_factory=dict)
    generator: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, scenario: Any, **facts: Any) -> RunMeta:
        """The meta of a run of ``scenario`` (a ``Scenario``): its name, profile, virtual users
        and test users from it, the rest (run id, target, times, workers, status...) given."""
        return cls(scenario=scenario.name, profile=scenario.load_profile.profile, vus=scenario.vus,
                   users=scenario.auth.users if scenario.auth else 0, **facts)  # fmt: skip

    @property
    def duration(self) -> float:
        return round(max(self.ended_at - self.started_at, 0.0), 3)

    def as_dict(self) -> dict[str, Any]:
        import harness

        return {
            "run_id": self.run_id,
            "scenario": self.scenario,
            "profile": self.profile,
            "target": self.target,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration": self.duration,
            "planned_duration": self.planned_duration,
            "vus": self.vus,
            "users": self.users,
            "workers": self.workers,
            "status": self.status,
            "error": self.error,
            "tool": f"harness {harness.__version__}",
            "token_stats": self.token_stats,
            "generator": self.generator,
        }
