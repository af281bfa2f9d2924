"""Load profiles: the ``[load]`` table of a scenario, an open model in requests per second
(``steady``, ``ramp``, ``burst``, ``spike``) or the closed ``calls`` model. Plain data; ``plan.py``
turns a profile into a rate over time::

    profile = Steady(profile="steady", rate=100, duration=60)
    profile.peak_rate(), profile.total_duration()     # (100, 60)
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from harness.durations import Duration, PositiveDuration
from harness.fields import Float, Int, Model, Rate

__all__ = ["Steady", "Ramp", "Burst", "Spike", "Calls", "LoadProfile", "PROFILES", "LENGTH_FIELDS", "PLAN_FIELDS"]

#: the ``[load]`` field that sets how long each profile runs
LENGTH_FIELDS = {"steady": "duration", "spike": "duration", "ramp": "step_duration", "calls": "max_duration"}

#: the fields besides the rates that size an open profile's plan (named when it plans nothing)
PLAN_FIELDS = {"steady": ("duration",), "ramp": ("step_duration",), "burst": ("burst_length", "cycles"), "spike": ("duration", "spike_duration")}


class _Profile(Model):
    vus: Int | None = Field(default=None, ge=1)
    """Virtual users in the pool (k6's preAllocatedVUs). Default: enough for the peak rate."""

    def peak_rate(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def total_duration(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def rate_fields(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in type(self).model_fields if name.endswith("_rate") or name == "rate"}


class Steady(_Profile):
    """A sustained rate for a duration."""

    profile: Literal["steady"]
    rate: Rate = Field(gt=0)
    duration: PositiveDuration

    def peak_rate(self) -> float:
        return self.rate

    def total_duration(self) -> float:
        return self.duration


class Ramp(_Profile):
    """Steps from ``from_rate`` to ``to_rate`` by ``step``, each held ``step_duration``."""

    profile: Literal["ramp"]
    from_rate: Rate
    to_rate: Rate
    step: Float = Field(gt=0)
    step_duration: PositiveDuration

    @field_validator("to_rate")
    @classmethod
    def _direction(cls, value: float, info: ValidationInfo) -> float:
        # a field validator (not a model validator) so that the error names load.to_rate
        if info.data.get("from_rate") == value:
            raise ValueError('equals from_rate; use profile = "steady" for a constant rate')
        return value

    def steps(self) -> list[float]:
        sign = 1 if self.to_rate > self.from_rate else -1
        rates, rate = [], self.from_rate
        while (rate - self.to_rate) * sign < 1e-9:
            rates.append(round(rate, 9))
            rate += sign * self.step
        if abs(rates[-1] - self.to_rate) > 1e-9:
            rates.append(self.to_rate)
        return rates

    def peak_rate(self) -> float:
        return max(self.from_rate, self.to_rate)

    def total_duration(self) -> float:
        return len(self.steps()) * self.step_duration


class Burst(_Profile):
    """Bursts at ``burst_rate`` with no ramp-up, separated by random idle intervals at
    ``base_rate`` drawn uniformly from [``idle_min``, ``idle_max``] with ``seed``.
    The run starts idle and ends with a last idle interval to show recovery."""

    profile: Literal["burst"]
    base_rate: Rate = 0.0
    burst_rate: Rate = Field(gt=0)
    burst_length: PositiveDuration
    idle_min: PositiveDuration
    idle_max: PositiveDuration
    cycles: Int = Field(default=3, ge=1)
    seed: Int = 0

    @field_validator("burst_rate")
    @classmethod
    def _above_base(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("base_rate")
        if base is not None and value <= base:
            raise ValueError(f"must be above base_rate ({base:g}); raise burst_rate or lower base_rate")
        return value

    @field_validator("idle_max")
    @classmethod
    def _idle(cls, value: float, info: ValidationInfo) -> float:
        idle_min = info.data.get("idle_min")
        if idle_min is not None and value < idle_min:
            raise ValueError(f"is below idle_min ({idle_min:g} s); set idle_max >= idle_min")
        return value

    def peak_rate(self) -> float:
        return self.burst_rate

    def total_duration(self) -> float:
        # The exact total depends on the seed; the plan computes it. This bound is for limits.
        return (self.cycles + 1) * self.idle_max + self.cycles * self.burst_length


class Spike(_Profile):
    """``base_rate`` for ``duration``, jumping to ``spike_rate`` at ``at`` for ``spike_duration``."""

    profile: Literal["spike"]
    base_rate: Rate
    spike_rate: Rate = Field(gt=0)
    at: Duration = Field(ge=0)
    spike_duration: PositiveDuration
    duration: PositiveDuration

    @field_validator("duration")
    @classmethod
    def _inside(cls, value: float, info: ValidationInfo) -> float:
        at, length = info.data.get("at"), info.data.get("spike_duration")
        if at is not None and length is not None and at + length > value:
            raise ValueError(f"is shorter than the spike's end (at + spike_duration = {at + length:g} s); lengthen duration or move the spike earlier")
        return value

    def peak_rate(self) -> float:
        return max(self.base_rate, self.spike_rate)

    def total_duration(self) -> float:
        return self.duration


class Calls(_Profile):
    """A closed model, like k6's per-vu-iterations: ``users`` virtual users each make
    ``calls_per_user`` calls back to back (the AWS reference design's NumberOfUsers x
    NumberOfCallsPerUser). Virtual user ``i`` signs in as test user ``i``. The run ends when
    every user is done, or at ``max_duration`` (calls not made by then are counted as dropped)."""

    profile: Literal["calls"]
    users: Int = Field(ge=1)
    calls_per_user: Int = Field(ge=1)
    max_duration: PositiveDuration = 600.0

    def peak_rate(self) -> float:
        return 0.0  # no planned rate: each user calls again as soon as its last call returns

    def total_duration(self) -> float:
        return self.max_duration

    @property
    def total_calls(self) -> int:
        return self.users * self.calls_per_user


LoadProfile = Annotated[Steady | Ramp | Burst | Spike | Calls, Field(discriminator="profile")]
PROFILES: dict[str, type[_Profile]] = {"steady": Steady, "ramp": Ramp, "burst": Burst, "spike": Spike, "calls": Calls}
