"""What a scenario would do, without sending a request: ``harness check`` (like ``k6 inspect``).

    overview = Overview.of(Scenario.load("scenarios/burst.toml"), gates=parse_gates(["p95 < 1s"]))
    overview.total_requests, overview.peak_rate, overview.endpoints[0].share

Nothing here touches the network or the local stack: ``local`` stays ``local``, and the
region is the one the scenario names (or the environment's default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.plan import build_plan, planned_duration
from harness.scenario import LOCAL, Calls, Scenario

__all__ = ["Overview", "EndpointShare"]


@dataclass(frozen=True)
class EndpointShare:
    """One endpoint's share of the requests (by weight) and the requests that makes."""

    name: str
    method: str
    path: str
    weight: int
    share: float  # 0..1
    requests: float


@dataclass(frozen=True)
class Overview:
    """A scenario's plan in numbers (see the module)."""

    name: str
    profile: str
    duration: float  # seconds (for the calls profile: at most)
    total_requests: int
    peak_rate: float | None  # rps; None for the closed calls profile
    vus: int
    users: int
    target: str
    region: str
    region_source: str
    user_pool: str | None
    segments: int
    endpoints: list[EndpointShare] = field(default_factory=list)
    gates: list[str] = field(default_factory=list)
    abort_on: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    retries: dict[str, str] = field(default_factory=dict)  # endpoint -> its retry policy, described

    @classmethod
    def of(cls, scenario: Scenario, *, gates: Sequence[Any] = ()) -> Overview:
        from harness.target import default_region, scenario_region

        profile = scenario.load_profile
        plan = build_plan(profile)
        if isinstance(profile, Calls):
            total, peak = profile.total_calls, None
        else:
            total, peak = plan.total, plan.peak_rate
        region, source = scenario_region(scenario)
        if region is None:
            region, source = ("us-east-1", "the local stack") if scenario.target.base_url == LOCAL else default_region()
        weights = sum(ep.weight for ep in scenario.endpoints)
        return cls(
            name=scenario.name,
            profile=profile.profile,
            duration=planned_duration(profile),
            total_requests=int(total),
            peak_rate=peak,
            vus=scenario.vus,
            users=scenario.auth.users if scenario.auth else 0,
            target=scenario.target.base_url,
            region=region,
            region_source=source,
            user_pool=scenario.auth.user_pool_id if scenario.auth else None,
            segments=len(plan.segments),
            endpoints=[EndpointShare(ep.name, ep.method, ep.path, ep.weight, ep.weight / weights, total * ep.weight / weights) for ep in scenario.endpoints],
            gates=[*scenario.gates, *(str(g) for g in gates)],
            abort_on=list(scenario.abort_on),
            faults=[_fault_text(f) for f in scenario.faults],
            retries={ep.name: retry.describe() for ep in scenario.endpoints if (retry := scenario.retry_for(ep)) is not None},
        )

    def facts(self) -> list[tuple[str, str]]:
        """(label, text) pairs for printing."""
        mean = self.total_requests / self.duration if self.duration else 0.0
        rows = [
            ("scenario", self.name),
            ("target", self.target),
            ("region", f"{self.region} (from {self.region_source})"),
            (
                "profile",
                f"{self.profile}, {len(self.endpoints)} endpoint{'s' if len(self.endpoints) != 1 else ''}"
                + (f", {self.segments} plan segments" if self.segments > 1 else ""),
            ),
            ("duration", f"{_clock(self.duration)} ({self.duration:,.1f} s)" + (" at most" if self.profile == "calls" else "")),
            ("requests", f"{self.total_requests:,}" + ("" if self.peak_rate is None else f" (mean {mean:,.1f} rps)")),
            ("peak rate", "– (closed model: each user calls again when its last call returns)" if self.peak_rate is None else f"{self.peak_rate:,.1f} rps"),
            ("virtual users", f"{self.vus:,}"),
            ("test users", f"{self.users:,}" + (f" in pool {self.user_pool}" if self.user_pool else "") if self.users else "none (no [auth])"),
            ("gates", ", ".join(self.gates) if self.gates else "none: the run will be measured, not judged"),
        ]
        if self.abort_on:
            rows.append(("abort on", ", ".join(self.abort_on) + " (the run stops as soon as one holds)"))
        for i, text in enumerate(self.faults):
            rows.append(("faults" if i == 0 else "", text))
        if self.retries:
            policies = sorted(set(self.retries.values()))
            named = policies[0] if len(policies) == 1 else "; ".join(f"{name}: {text}" for name, text in self.retries.items())
            rows.append(("retries", f"{len(self.retries)} of {len(self.endpoints)} endpoints, {named} (may send more than the planned requests)"))
        return rows


def _fault_text(fault: Any) -> str:
    """``slow backend: latency 20-30 s (latency=0.2, route=GET /items)``."""
    params = ", ".join(f"{k}={v}" for k, v in fault.params().items())
    return f"{fault.label}: {fault.kind} {fault.at:g}-{fault.end:g} s" + (f" ({params})" if params else "")


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
