"""Plans: a load profile turned into a rate over time (requests per second), and shards of it.

A plan is a list of segments whose rate is constant or changes linearly. The pacer releases
request number ``k`` at the instant the planned cumulative count reaches ``k + 1``, so the
arrivals follow the plan exactly, including instant jumps into a burst::

    plan = build_plan(Steady(profile="steady", rate=100, duration=60))
    plan.rate_at(1.5), plan.count_until(10.0)     # (100.0, 1000.0)
    worker = plan.shard(0, 4)                       # a quarter of the rate, offset in phase

``plan.py`` never touches the network.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field

from harness.profiles import Burst, Calls, LoadProfile, Ramp, Spike, Steady

__all__ = ["Segment", "Plan", "build_plan", "planned_duration", "shard_vus"]

_EPSILON = 1e-9
"""Rounding allowance, in requests, when a planned count is compared with a whole number."""


@dataclass(frozen=True)
class Segment:
    """``start``..``end`` seconds from the plan's start, rate going ``rate_from`` -> ``rate_to``."""

    start: float
    end: float
    rate_from: float
    rate_to: float
    label: str = ""

    @property
    def duration(self) -> float:
        return self.end - self.start

    def rate_at(self, t: float) -> float:
        if self.duration <= 0:
            return self.rate_to
        return self.rate_from + (self.rate_to - self.rate_from) * (t - self.start) / self.duration

    def count(self, t: float) -> float:
        """Requests planned from the segment's start until ``t`` (clamped to the segment)."""
        x = min(max(t, self.start), self.end) - self.start
        slope = (self.rate_to - self.rate_from) / self.duration if self.duration > 0 else 0.0
        return self.rate_from * x + 0.5 * slope * x * x

    def time_of(self, n: float) -> float:
        """The instant at which ``n`` requests (0 <= n <= count(end)) have been planned in this segment."""
        a = 0.5 * ((self.rate_to - self.rate_from) / self.duration if self.duration > 0 else 0.0)
        b = self.rate_from
        if abs(a) < 1e-12:
            return self.start + (n / b if b > 0 else 0.0)
        disc = max(b * b + 4 * a * n, 0.0)
        # the numerically stable root of a x^2 + b x - n = 0
        x = (2 * n) / (b + math.sqrt(disc)) if b + math.sqrt(disc) > 0 else 0.0
        return self.start + min(max(x, 0.0), self.duration)


@dataclass(frozen=True)
class Plan:
    """A rate over time. ``share`` and ``phase`` describe a shard (see ``shard``)."""

    segments: tuple[Segment, ...]
    share: float = 1.0
    phase: float = 0.0
    profile: str = ""
    _starts: tuple[float, ...] = field(default=(), repr=False, compare=False)
    _cumulative: tuple[float, ...] = field(default=(), repr=False, compare=False)
    _counts: tuple[float, ...] = field(default=(), repr=False, compare=False)
    _total: int = field(default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts, cumulative, counts, total = [], [], [], 0.0
        for seg in self.segments:
            starts.append(seg.start)
            cumulative.append(total)
            counts.append(seg.count(seg.end))
            total += counts[-1]
        object.__setattr__(self, "_starts", tuple(starts))
        object.__setattr__(self, "_cumulative", tuple(cumulative))
        object.__setattr__(self, "_counts", tuple(counts))  # each segment's requests, per release
        # asked for every release: computed once
        object.__setattr__(self, "_total", self.released_by(self.duration))

    @property
    def duration(self) -> float:
        return self.segments[-1].end if self.segments else 0.0

    @property
    def peak_rate(self) -> float:
        return self.share * max((max(s.rate_from, s.rate_to) for s in self.segments), default=0.0)

    @property
    def total(self) -> int:
        """The number of requests this plan releases."""
        return self._total

    def _segment(self, t: float) -> int:
        return max(0, bisect.bisect_right(self._starts, t) - 1)

    def rate_at(self, t: float) -> float:
        """The planned rate at ``t`` seconds (0 outside the plan)."""
        if t < 0 or t >= self.duration:
            return 0.0
        return self.share * self.segments[self._segment(t)].rate_at(t)

    def count_until(self, t: float) -> float:
        """Planned requests (fractional) from the start until ``t`` seconds."""
        if not self.segments or t <= 0:
            return 0.0
        t = min(t, self.duration)
        i = self._segment(t)
        return self.share * (self._cumulative[i] + self.segments[i].count(t))

    def released_by(self, t: float) -> int:
        """Whole requests this shard releases by ``t``: ``floor(count + phase)``."""
        return int(math.floor(self.count_until(t) + self.phase + _EPSILON))

    def release_time(self, k: int) -> float | None:
        """The scheduled instant of request ``k`` (0-based), or None past the plan's end.

        The earliest instant at which ``released_by`` reaches ``k + 1``, so that exactly
        ``total`` requests have an instant and they agree with ``released_by`` at every edge."""
        if k >= self.total:
            return None
        # half the rounding allowance of released_by: lands just past its step, never before it
        target = (k + 1 - self.phase - _EPSILON / 2) / self.share
        if target <= 0:
            return 0.0
        # the last segment that starts below target: a count reached exactly at a segment's end
        # belongs to that segment, not to a later one after a zero-rate gap (a burst's last request)
        i = max(0, bisect.bisect_left(self._cumulative, target) - 1)
        while i < len(self.segments):
            inside = target - self._cumulative[i]
            if inside <= self._counts[i]:
                return self.segments[i].time_of(inside)
            i += 1
        return self.duration  # the last request, reached only up to float rounding

    def shard(self, index: int, count: int) -> Plan:
        """Shard ``index`` of ``count``: 1/count of the rate, offset by index/count of a
        request so that the shards' releases interleave instead of landing together."""
        if not 0 <= index < count:
            raise ValueError(f"shard index {index} is outside 0..{count - 1}")
        return Plan(self.segments, share=self.share / count, phase=index / count, profile=self.profile)

    def between(self, start: float, end: float) -> Plan:
        """The part of this plan from ``start`` to ``end`` seconds, as a plan of its own that
        starts at 0: a segment of a run longer than one Lambda may run. The parts of
        consecutive windows release exactly the requests of the whole, none twice::

            sum(plan.between(a, b).total for a, b in windows) == plan.total
        """
        start, end = max(start, 0.0), min(end, self.duration)
        segments = tuple(
            Segment(max(s.start, start) - start, min(s.end, end) - start, s.rate_at(max(s.start, start)), s.rate_at(min(s.end, end)), s.label)
            for s in self.segments
            if s.end > start and s.start < end
        )
        # floor(C(b) + p) - floor(C(a) + p) == floor(C(b) - C(a) + frac(C(a) + p))
        before = self.count_until(start) + self.phase
        return Plan(segments, share=self.share, phase=before - math.floor(before + _EPSILON), profile=self.profile)

    def series(self, step: float = 1.0) -> list[tuple[float, float]]:
        """(t, planned requests in [t, t+step)) for the whole plan, for charts and results."""
        out, t = [], 0.0
        while t < self.duration - 1e-9:
            out.append((t, self.count_until(t + step) - self.count_until(t)))
            t += step
        return out

    def describe(self) -> list[dict[str, float | str]]:
        return [
            {"start": s.start, "end": s.end, "rate_from": s.rate_from * self.share, "rate_to": s.rate_to * self.share, "label": s.label} for s in self.segments
        ]


def build_plan(profile: LoadProfile) -> Plan:
    """Turn a scenario's load profile into a ``Plan``."""
    segments: list[Segment] = []

    def add(length: float, rate_from: float, rate_to: float | None = None, label: str = "") -> None:
        start = segments[-1].end if segments else 0.0
        if length > 0:
            segments.append(Segment(start, start + length, rate_from, rate_from if rate_to is None else rate_to, label))

    if isinstance(profile, Steady):
        add(profile.duration, profile.rate, label="steady")
    elif isinstance(profile, Ramp):
        for i, rate in enumerate(profile.steps()):
            add(profile.step_duration, rate, label=f"step {i + 1}")
    elif isinstance(profile, Burst):
        rng = random.Random(profile.seed)
        for cycle in range(profile.cycles):
            add(rng.uniform(profile.idle_min, profile.idle_max), profile.base_rate, label=f"idle {cycle + 1}")
            add(profile.burst_length, profile.burst_rate, label=f"burst {cycle + 1}")
        add(rng.uniform(profile.idle_min, profile.idle_max), profile.base_rate, label="recovery")
    elif isinstance(profile, Spike):
        add(profile.at, profile.base_rate, label="base")
        add(profile.spike_duration, profile.spike_rate, label="spike")
        add(profile.duration - profile.at - profile.spike_duration, profile.base_rate, label="after")
    elif isinstance(profile, Calls):
        pass  # a closed model: no rate to plan; the iteration pacer counts calls per user
    else:  # pragma: no cover - the scenario model admits nothing else
        raise TypeError(f"unknown load profile {profile!r}")
    return Plan(tuple(segments), profile=profile.profile)


def planned_duration(profile: LoadProfile) -> float:
    """How long the profile runs: its plan's length, or for the closed ``calls`` profile, its
    ``max_duration`` (the most it may take)."""
    if isinstance(profile, Calls):
        return profile.max_duration
    return build_plan(profile).duration


def shard_vus(profile: LoadProfile, vus: int, index: int, count: int) -> int:
    """The virtual users shard ``index`` of ``count`` holds: for the calls profile its users
    (``index``, ``index + count``, ...), else its share of the run's ``vus``, rounded up (a
    shard never has fewer than its share)."""
    if isinstance(profile, Calls):
        return len(range(index, profile.users, count))
    return -(-vus // count)
