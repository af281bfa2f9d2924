"""Plans: each profile's planned rate over time, the count/release-time pair the pacer relies on,
and shards for many workers. Pure functions, no network."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.plan import Plan, Segment, build_plan
from harness.scenario import Burst, Ramp, Spike, Steady

STEADY = Steady(profile="steady", rate=100, duration=10)
RAMP_UP = Ramp(profile="ramp", from_rate=20, to_rate=200, step=30, step_duration="2s")
RAMP_DOWN = Ramp(profile="ramp", from_rate=200, to_rate=20, step=30, step_duration="1500ms")
RAMP_UNEVEN = Ramp(profile="ramp", from_rate=0, to_rate=10, step=3, step_duration=2)
BURST = Burst(profile="burst", base_rate=20, burst_rate=300, burst_length="1s", idle_min="2s", idle_max="4s", cycles=4, seed=7)
# Bursts out of silence: every request belongs to a burst, so the edges show clearly.
BURST_SILENT = Burst(profile="burst", base_rate=0, burst_rate=10, burst_length=1, idle_min=1, idle_max=2, cycles=3, seed=1)
SPIKE = Spike(profile="spike", base_rate=10, spike_rate=100, at=20, spike_duration=5, duration=40)
# Rates whose products are not exact in binary floating point.
ODD = Steady(profile="steady", rate=33.3, duration=7.7)
# A linear segment: build_plan makes only constant segments, but Plan supports ramps of rate.
LINEAR = Plan((Segment(0.0, 10.0, 0.0, 100.0), Segment(10.0, 12.0, 100.0, 20.0)))

PROFILES = {
    "steady": STEADY,
    "ramp-up": RAMP_UP,
    "ramp-down": RAMP_DOWN,
    "ramp-uneven": RAMP_UNEVEN,
    "burst": BURST,
    "burst-silent": BURST_SILENT,
    "spike": SPIKE,
    "odd": ODD,
}


def plan_of(name: str) -> Plan:
    return LINEAR if name == "linear" else build_plan(PROFILES[name])


ALL_PLANS = [*PROFILES, "linear"]


# ---- shapes ----------------------------------------------------------------------------------


def test_steady_is_constant_for_its_duration() -> None:
    plan = build_plan(STEADY)
    assert plan.duration == 10.0
    assert plan.peak_rate == 100.0
    for t in np.linspace(0, 9.999, 257):
        assert plan.rate_at(float(t)) == 100.0
    assert plan.rate_at(-0.001) == 0.0
    assert plan.rate_at(10.0) == 0.0
    assert plan.total == 1000


@pytest.mark.parametrize(
    "profile, steps",
    [
        (RAMP_UP, [20, 50, 80, 110, 140, 170, 200]),
        (RAMP_DOWN, [200, 170, 140, 110, 80, 50, 20]),
        (RAMP_UNEVEN, [0, 3, 6, 9, 10]),
    ],
    ids=["up", "down", "uneven"],
)
def test_ramp_is_a_staircase_of_its_steps(profile: Ramp, steps: list[float]) -> None:
    assert profile.steps() == steps
    plan = build_plan(profile)
    hold = profile.step_duration
    assert plan.duration == pytest.approx(len(steps) * hold)
    for i, rate in enumerate(steps):
        start = i * hold
        # each step starts exactly at i * step_duration and holds its rate until the next
        assert plan.rate_at(start) == rate
        assert plan.rate_at(start + hold / 2) == rate
        assert plan.rate_at(start + hold - 1e-6) == rate
        if i:
            assert plan.rate_at(start - 1e-6) == steps[i - 1]
    assert plan.count_until(plan.duration) == pytest.approx(sum(steps) * hold)


def test_ramp_steps_do_not_accumulate_float_error() -> None:
    ramp = Ramp(profile="ramp", from_rate=0, to_rate=1, step=0.1, step_duration=1)
    assert ramp.steps() == pytest.approx([i / 10 for i in range(11)], abs=1e-9)
    assert len(ramp.steps()) == 11  # no extra 0.9999999 step, no missing last step


def test_burst_shape() -> None:
    profile = BURST
    plan = build_plan(profile)
    segs = plan.segments
    # idle, burst, idle, burst, ..., burst, recovery: contiguous from 0
    assert segs[0].start == 0.0
    for a, b in zip(segs, segs[1:]):
        assert a.end == b.start
    bursts = [s for s in segs if s.rate_from == profile.burst_rate]
    idles = [s for s in segs if s.rate_from == profile.base_rate]
    assert len(bursts) == profile.cycles
    assert len(idles) == profile.cycles + 1
    assert [s.rate_from for s in segs] == [profile.base_rate, profile.burst_rate] * profile.cycles + [profile.base_rate]
    assert segs[-1].label == "recovery"
    for burst in bursts:
        assert burst.rate_to == burst.rate_from  # flat, no ramp inside
        assert burst.duration == pytest.approx(profile.burst_length)
        # no ramp-up: full rate from the very first instant, base rate just before
        assert plan.rate_at(burst.start) == profile.burst_rate
        assert plan.rate_at(burst.start - 1e-6) == profile.base_rate
        assert plan.rate_at(burst.end - 1e-6) == profile.burst_rate
        assert plan.rate_at(burst.end) == profile.base_rate
    for idle in idles:
        assert profile.idle_min <= idle.duration <= profile.idle_max
    # the limits bound really bounds the plan
    assert plan.duration <= profile.total_duration()
    # the idle intervals are random, not all the same
    assert len({round(s.duration, 6) for s in idles}) > 1


def test_burst_idle_intervals_are_reproducible_from_the_seed() -> None:
    same_a = build_plan(BURST.model_copy(update={"seed": 42}))
    same_b = build_plan(BURST.model_copy(update={"seed": 42}))
    other = build_plan(BURST.model_copy(update={"seed": 43}))
    assert same_a.segments == same_b.segments
    assert same_a.segments != other.segments
    # only the idle lengths differ: the bursts themselves are the same
    assert [s.duration for s in other.segments[1::2]] == pytest.approx([s.duration for s in same_a.segments[1::2]])


def test_burst_with_fixed_idle_is_deterministic() -> None:
    profile = Burst(profile="burst", burst_rate=50, burst_length=2, idle_min=3, idle_max=3, cycles=2, seed=99)
    plan = build_plan(profile)
    assert [(s.start, s.end, s.rate_from) for s in plan.segments] == [
        (0.0, 3.0, 0.0),
        (3.0, 5.0, 50.0),
        (5.0, 8.0, 0.0),
        (8.0, 10.0, 50.0),
        (10.0, 13.0, 0.0),
    ]
    assert plan.total == 200


def test_spike_shape() -> None:
    plan = build_plan(SPIKE)
    assert plan.duration == 40.0
    assert plan.rate_at(0.0) == 10.0
    assert plan.rate_at(20.0 - 1e-6) == 10.0
    assert plan.rate_at(20.0) == 100.0
    assert plan.rate_at(25.0 - 1e-6) == 100.0
    assert plan.rate_at(25.0) == 10.0
    assert plan.rate_at(39.999) == 10.0
    assert plan.total == 10 * 35 + 100 * 5


def test_spike_at_the_edges_leaves_no_empty_segments() -> None:
    first = build_plan(Spike(profile="spike", base_rate=5, spike_rate=50, at=0, spike_duration=2, duration=10))
    assert [s.label for s in first.segments] == ["spike", "after"]
    assert first.rate_at(0.0) == 50.0
    last = build_plan(Spike(profile="spike", base_rate=5, spike_rate=50, at=8, spike_duration=2, duration=10))
    assert [s.label for s in last.segments] == ["base", "spike"]
    assert last.duration == 10.0
    assert last.rate_at(9.999) == 50.0


# ---- count_until and release_time -----------------------------------------------------------


@pytest.mark.parametrize("name", ALL_PLANS)
def test_count_until_integrates_the_rate(name: str) -> None:
    plan = plan_of(name)
    dt = plan.duration / 8_000
    mids = (np.arange(8_000) + 0.5) * dt
    rates = np.array([plan.rate_at(float(t)) for t in mids])
    integral = np.concatenate([[0.0], np.cumsum(rates) * dt])  # integral up to i * dt
    # each rate jump costs the midpoint rule at most half a step of the jump
    jumps = sum(abs(a.rate_to - b.rate_from) for a, b in zip(plan.segments, plan.segments[1:]))
    tolerance = jumps * dt + 1e-6 * plan.count_until(plan.duration) + 1e-9
    for i in range(0, 8_001, 197):
        assert plan.count_until(i * dt) == pytest.approx(integral[i], abs=tolerance), f"t={i * dt}"
    assert plan.count_until(-1.0) == 0.0
    assert plan.count_until(plan.duration + 100) == plan.count_until(plan.duration)


def test_linear_segment_counts_exactly() -> None:
    # rate 10 t over [0, 10]: count 5 t^2; then 100 -> 20 over [10, 12]
    assert LINEAR.count_until(4.0) == pytest.approx(80.0)
    assert LINEAR.count_until(10.0) == pytest.approx(500.0)
    assert LINEAR.count_until(12.0) == pytest.approx(500.0 + 120.0)
    assert LINEAR.release_time(79) == pytest.approx(4.0)
    assert LINEAR.rate_at(5.0) == pytest.approx(50.0)
    assert LINEAR.rate_at(11.0) == pytest.approx(60.0)


def release_times(plan: Plan) -> list[float]:
    times = [plan.release_time(k) for k in range(plan.total)]
    assert all(t is not None for t in times)
    return times


@pytest.mark.parametrize("name", ALL_PLANS)
@pytest.mark.parametrize("shard", [(0, 1), (0, 3), (2, 3)], ids=["whole", "shard0of3", "shard2of3"])
def test_release_time_inverts_count_until(name: str, shard: tuple[int, int]) -> None:
    plan = plan_of(name).shard(*shard)
    times = release_times(plan)
    assert plan.release_time(plan.total) is None
    assert plan.released_by(plan.duration) == plan.total
    assert times[-1] <= plan.duration + 1e-9
    assert all(b > a for a, b in zip(times, times[1:])), "release instants must increase strictly"
    for k, t in enumerate(times):
        # request k goes out when the shard's count (+ phase) reaches k + 1 ...
        assert plan.count_until(t) == pytest.approx(k + 1 - plan.phase, abs=1e-6)
        assert plan.released_by(t) == k + 1
        # ... and not a moment earlier (the earliest such instant, even across zero-rate gaps)
        assert plan.released_by(t - 1e-6) == k, f"request {k} at {t} could have gone earlier"


def test_release_times_of_a_steady_plan_are_evenly_spaced() -> None:
    times = np.array(release_times(build_plan(Steady(profile="steady", rate=200, duration=2))))
    assert len(times) == 400
    assert np.diff(times) == pytest.approx(np.full(399, 1 / 200))
    assert times[0] == pytest.approx(1 / 200)
    assert times[-1] == pytest.approx(2.0)


@pytest.mark.parametrize("profile", [BURST, BURST_SILENT], ids=["base-rate", "silent"])
def test_releases_at_burst_edges(profile: Burst) -> None:
    plan = build_plan(profile)
    times = np.array(release_times(plan))
    gap = 1 / profile.burst_rate
    for burst in (s for s in plan.segments if s.rate_from == profile.burst_rate):
        inside = times[(times > burst.start) & (times <= burst.end + 1e-9)]
        # the burst is all there: burst_rate * burst_length requests, no more, no fewer (+-1 for phase)
        assert abs(len(inside) - profile.burst_rate * profile.burst_length) <= 1
        first = inside[0]
        assert first - burst.start <= gap + 1e-9, "the first release of a burst comes within one inter-arrival"
        # inside the burst the spacing is the burst's, from the first request on
        assert np.diff(inside) == pytest.approx(np.full(len(inside) - 1, gap))
    if profile.base_rate == 0:
        # out of silence: every request is inside a burst and each burst holds exactly its share
        bursts = [s for s in plan.segments if s.rate_from > 0]
        assert sum(((times > b.start) & (times <= b.end + 1e-9)).sum() for b in bursts) == len(times)
        for b in bursts:
            n = ((times > b.start) & (times <= b.end + 1e-9)).sum()
            assert n == round(profile.burst_rate * profile.burst_length)


@pytest.mark.parametrize("name", ALL_PLANS)
def test_released_by_the_end_is_the_total(name: str) -> None:
    plan = plan_of(name)
    count = plan.count_until(plan.duration)
    assert plan.total == math.floor(count + 1e-9)
    assert plan.released_by(plan.duration) == plan.total
    assert plan.released_by(plan.duration + 5) == plan.total
    assert plan.released_by(0.0) == 0


# ---- shards ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_PLANS)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 16])
def test_shards_add_up_to_the_whole(name: str, n: int) -> None:
    plan = plan_of(name)
    shards = [plan.shard(i, n) for i in range(n)]
    # floor((T + i) / n) summed over i is exactly floor(T) (Hermite): no request lost or doubled
    assert sum(s.total for s in shards) == plan.total
    for s in shards:
        assert s.peak_rate == pytest.approx(plan.peak_rate / n)
        assert s.duration == plan.duration
        assert s.rate_at(plan.duration / 3) == pytest.approx(plan.rate_at(plan.duration / 3) / n)


@pytest.mark.parametrize("name", ["steady", "ramp-up", "burst", "spike", "odd", "linear"])
@pytest.mark.parametrize("n", [2, 3, 5])
def test_shards_interleave_into_the_whole_plan(name: str, n: int) -> None:
    plan = plan_of(name)
    union = sorted(t for i in range(n) for t in release_times(plan.shard(i, n)))
    # the phase offsets make the workers' releases together exactly the single-process schedule
    assert union == pytest.approx(release_times(plan), abs=1e-6)


def test_shard_phases_offset_the_first_release() -> None:
    plan = build_plan(Steady(profile="steady", rate=100, duration=10))
    firsts = [plan.shard(i, 4).release_time(0) for i in range(4)]
    # the last shard goes first; each is one whole-plan inter-arrival (10 ms) apart
    assert firsts == pytest.approx([0.04, 0.03, 0.02, 0.01])


@pytest.mark.parametrize("index, count", [(-1, 3), (3, 3), (0, 0)])
def test_shard_index_out_of_range(index: int, count: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        build_plan(STEADY).shard(index, count)


# ---- series ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_PLANS)
def test_series_sums_to_the_total(name: str) -> None:
    plan = plan_of(name)
    series = plan.series(1.0)
    assert len(series) == math.ceil(plan.duration - 1e-9)
    assert [t for t, _ in series] == [float(i) for i in range(len(series))]
    total = sum(n for _, n in series)
    assert total == pytest.approx(plan.count_until(plan.duration))
    assert abs(total - plan.total) < 1
    assert sum(n for _, n in plan.series(0.25)) == pytest.approx(total)


def test_series_follows_the_rate() -> None:
    assert [n for _, n in build_plan(RAMP_UP).series(2.0)] == pytest.approx([r * 2 for r in RAMP_UP.steps()])
    spike = [n for _, n in build_plan(SPIKE).series(1.0)]
    assert spike[19] == pytest.approx(10) and spike[20:25] == pytest.approx([100] * 5) and spike[25] == pytest.approx(10)


# ---- segments (between) ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_PLANS)
@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("pieces", [2, 5])
def test_consecutive_windows_release_exactly_the_whole_plan(name: str, n: int, pieces: int) -> None:
    """A long fan-out run runs as segments: their parts, shard by shard, are the whole plan,
    each request once and at the same instant."""
    plan = plan_of(name)
    cuts = [plan.duration * i / pieces for i in range(pieces + 1)]
    cuts[1] += 0.123  # a cut that falls between two releases, not on a segment edge
    for i in range(n):
        shard = plan.shard(i, n)
        parts = [(a, shard.between(a, b)) for a, b in zip(cuts, cuts[1:])]
        assert sum(p.total for _, p in parts) == shard.total
        joined = [a + p.release_time(k) for a, p in parts for k in range(p.total)]
        assert joined == pytest.approx(release_times(shard), abs=1e-6)
        for a, part in parts:
            assert part.rate_at(0.0) == pytest.approx(shard.rate_at(a))


def test_a_window_past_the_plan_is_empty() -> None:
    plan = build_plan(STEADY)
    assert plan.between(plan.duration, plan.duration + 10).total == 0
    assert plan.between(0, plan.duration).total == plan.total


def test_the_calls_profile_has_no_rate_to_plan() -> None:
    from harness.plan import planned_duration
    from harness.scenario import Calls

    calls = Calls(profile="calls", users=5, calls_per_user=3, max_duration=60)
    plan = build_plan(calls)
    assert plan.total == 0 and plan.duration == 0
    assert planned_duration(calls) == 60
    assert planned_duration(STEADY) == build_plan(STEADY).duration
