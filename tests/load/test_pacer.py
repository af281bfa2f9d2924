"""The open-model pacer under gevent (Locust's runtime), with greenlets as virtual users.

Each fake virtual user loops on ``pacer.acquire()``, stamps ``time.time()`` per ticket and may
sleep to simulate a request. No network. About 5 seconds of wall clock in all.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import gevent
import pytest

from harness.load.pacer import IterationPacer, Pacer, Ticket
from harness.plan import Plan, build_plan
from harness.results import ResultSet
from harness.scenario import Burst, Ramp, Steady

pytestmark = pytest.mark.timing  # releases are judged to the millisecond: `make test` runs these alone

LEAD_IN = 0.1  # seconds between start() and t0, so that every user is already waiting


@dataclass
class Users:
    """``n`` greenlets looping on ``acquire()`` until it returns None."""

    pacer: Pacer
    n: int
    work: float = 0.0
    stamps: list[tuple[Ticket, float]] = field(default_factory=list)
    ended: int = 0

    def __post_init__(self) -> None:
        self.greenlets = [gevent.spawn(self._loop) for _ in range(self.n)]

    def _loop(self) -> None:
        while True:
            ticket = self.pacer.acquire()
            if ticket is None:
                self.ended += 1
                return
            self.stamps.append((ticket, time.time()))
            if self.work:
                gevent.sleep(self.work)

    def join(self, timeout: float) -> None:
        gevent.joinall(self.greenlets, timeout=timeout)
        assert all(g.dead for g in self.greenlets), "acquire() did not end every user"


def run(plan: Plan, users: int, work: float = 0.0) -> tuple[Pacer, Users, ResultSet, float]:
    """Run ``plan`` to its end with ``users`` virtual users; returns pacer, users, results, t0."""
    results = ResultSet(run_id="pacer-test")
    pacer = Pacer(plan, results)
    vus = Users(pacer, users, work)
    gevent.sleep(0)  # let every user reach acquire()
    assert pacer.idle == users
    t0 = time.time() + LEAD_IN
    pacer.start(t0)
    vus.join(timeout=LEAD_IN + plan.duration + 3)
    assert pacer.finished.is_set()
    return pacer, vus, results, t0


def test_steady_plan_releases_exactly_the_plan_smoothly() -> None:
    plan = build_plan(Steady(profile="steady", rate=200, duration=2))
    pacer, vus, results, t0 = run(plan, users=50, work=0.002)

    # exactly the planned count, each iteration once, none dropped with enough users
    assert plan.total == 400
    assert pacer.released == plan.total and pacer.dropped == 0
    assert sorted(t.seq for t, _ in vus.stamps) == list(range(plan.total))
    assert vus.ended == 50

    # each ticket carries its planned instant, and was handed over at (not before) it
    for ticket, at in vus.stamps:
        assert ticket.scheduled == pytest.approx(t0 + plan.release_time(ticket.seq), abs=1e-6)
        assert at >= ticket.scheduled - 1e-3
    lags = sorted(at - t.scheduled for t, at in vus.stamps)
    # loose enough for a busy CI machine, tight enough to catch a pacer that waits per batch
    assert lags[len(lags) // 2] < 0.02, "the median request left more than 20 ms late"
    assert pacer.max_lag < 0.5

    # smooth: 200 rps is 2 per 10 ms bin; batching (e.g. releasing every 50 ms) would pile up 10
    # and leave four bins in five empty
    bins = Counter(int((at - t0) // 0.010) for _, at in vus.stamps)
    mean = plan.total / (plan.duration / 0.010)
    assert max(bins.values()) <= 4 * mean, f"arrivals bunch up: {bins.most_common(3)}"
    assert len(bins) >= 0.8 * (plan.duration / 0.010), "arrivals leave many 10 ms bins empty"

    # the per-second windows: targets add up to the plan, released match what users got
    totals = results.pacer_totals()
    assert totals.target == plan.total  # whole iterations: what `harness check` says, not 1,796.6
    assert totals.released == plan.total and totals.dropped == 0
    by_second = Counter(int(t.scheduled) for t, _ in vus.stamps)
    assert {s: w.released for s, w in results.pacer.items() if w.released} == dict(by_second)
    for window in results.pacer.values():
        # a whole second inside the run plans 200; the partial ones at the edges less
        assert 0 < window.target <= 200
        assert window.target == window.released + window.dropped


def test_too_few_users_drop_iterations_and_count_them() -> None:
    plan = build_plan(Steady(profile="steady", rate=200, duration=0.4))
    pacer, vus, results, _ = run(plan, users=2, work=0.050)

    # 2 users at 50 ms per request manage ~40 rps of the 200 planned: the rest is dropped, not delayed
    assert pacer.released + pacer.dropped == plan.total == 80
    assert pacer.released == len(vus.stamps)
    assert pacer.released <= 2 * (0.4 / 0.050 + 2)
    assert pacer.dropped >= 55
    totals = results.pacer_totals()
    assert (totals.released, totals.dropped) == (pacer.released, pacer.dropped)
    assert totals.target == pytest.approx(80)
    assert sum(w.dropped for w in results.pacer.values()) == pacer.dropped
    # the iterations a busy pool could not take were not handed out late: lag stays small
    assert max(at - t.scheduled for t, at in vus.stamps) < 0.05


def test_burst_starts_on_time() -> None:
    profile = Burst(profile="burst", base_rate=0, burst_rate=100, burst_length=0.2, idle_min=0.2, idle_max=0.2, cycles=1)
    plan = build_plan(profile)
    burst = plan.segments[1]
    pacer, vus, _, t0 = run(plan, users=20, work=0.001)

    assert pacer.released == plan.total == 20 and pacer.dropped == 0
    first_ticket, first_at = min(vus.stamps, key=lambda s: s[0].seq)
    # the plan puts the first burst request one inter-arrival into the burst ...
    assert first_ticket.scheduled == pytest.approx(t0 + burst.start + 1 / profile.burst_rate, abs=1e-6)
    # ... and it really goes out then: not early, and within 20 ms
    assert -1e-3 <= first_at - first_ticket.scheduled < 0.020
    # nothing at all during the idle interval before it
    assert min(at for _, at in vus.stamps) >= t0 + burst.start - 1e-3
    # all of the burst within it (plus a little lag), none left for the recovery interval
    assert max(at for _, at in vus.stamps) < t0 + burst.end + 0.020


def test_shards_in_two_processes_release_the_whole_plan() -> None:
    plan = build_plan(Steady(profile="steady", rate=200, duration=0.3))
    merged = ResultSet()
    pacers, groups = [], []
    t0 = time.time() + LEAD_IN
    for i in range(2):
        results = ResultSet()
        pacer = Pacer(plan.shard(i, 2), results)
        groups.append(Users(pacer, 20))
        pacers.append(pacer)
    gevent.sleep(0)
    for pacer in pacers:
        pacer.start(t0)
    for group in groups:
        group.join(timeout=3)
    for pacer in pacers:
        merged.merge(pacer.results)
    assert sum(p.released for p in pacers) == plan.total == 60
    assert [p.released for p in pacers] == [30, 30]
    assert merged.pacer_totals().target == pytest.approx(60)
    assert merged.pacer_totals().released == 60
    # the two shards interleave into the single-process schedule
    scheduled = sorted(t.scheduled - t0 for g in groups for t, _ in g.stamps)
    assert scheduled == pytest.approx([plan.release_time(k) for k in range(plan.total)], abs=1e-6)


def test_stop_ends_waiting_users_with_none() -> None:
    plan = build_plan(Steady(profile="steady", rate=10, duration=10))
    pacer = Pacer(plan, ResultSet())
    got: list[Ticket | None] = []
    waiters = [gevent.spawn(lambda: got.append(pacer.acquire())) for _ in range(3)]
    gevent.sleep(0.01)
    assert pacer.idle == 3
    pacer.start(time.time() + 5)  # nothing due for a while
    gevent.sleep(0.02)
    began = time.time()
    pacer.stop()
    gevent.joinall(waiters, timeout=1)
    assert time.time() - began < 0.5
    assert got == [None, None, None]
    assert pacer.finished.is_set() and pacer.idle == 0
    assert pacer.released == 0 and pacer.dropped == 0
    assert pacer.acquire() is None


def test_stop_in_the_middle_of_a_run() -> None:
    plan = build_plan(Steady(profile="steady", rate=100, duration=10))
    pacer = Pacer(plan, ResultSet())
    vus = Users(pacer, 5)
    gevent.sleep(0)
    pacer.start(time.time())
    gevent.sleep(0.2)
    began = time.time()
    pacer.stop()
    vus.join(timeout=1)
    assert time.time() - began < 0.5
    assert 10 <= pacer.released <= 30
    assert pacer.released + pacer.dropped < plan.total
    released = pacer.released
    gevent.sleep(0.05)
    assert pacer.released == released, "the pacer kept releasing after stop()"


def test_a_stopped_run_plans_only_what_was_due_by_the_stop() -> None:
    """Interrupted, aborted or a probe at its knee: the planned count is what came due by the
    stop, released or dropped (a backlog held back by a stall is dropped), never the seconds after."""
    plan = build_plan(Steady(profile="steady", rate=100, duration=10))
    results = ResultSet()
    pacer = Pacer(plan, results)
    vus = Users(pacer, 5)
    gevent.sleep(0)
    t0 = time.time()
    pacer.start(t0)
    gevent.sleep(0.5)
    pacer.stop()
    vus.join(timeout=1)
    totals = results.pacer_totals()
    assert totals.target == totals.released + totals.dropped == plan.released_by(pacer.stopped_at - t0)
    assert totals.target < plan.total / 2
    assert max(results.pacer) <= int(pacer.stopped_at)
    for window in results.pacer.values():
        assert window.target == window.released + window.dropped


def test_acquire_after_the_plan_ends_returns_none() -> None:
    plan = build_plan(Steady(profile="steady", rate=50, duration=0.1))
    pacer, vus, _, _ = run(plan, users=1)
    assert pacer.released == plan.total == 5
    began = time.time()
    assert pacer.acquire() is None
    assert pacer.acquire(timeout=5) is None
    assert time.time() - began < 0.1


def test_acquire_timeout_leaves_no_waiter_behind() -> None:
    plan = build_plan(Steady(profile="steady", rate=100, duration=1))
    pacer = Pacer(plan, ResultSet())
    assert pacer.acquire(timeout=0.01) is None
    assert pacer.idle == 0
    pacer.stop()


def test_with_no_free_user_every_iteration_is_dropped_in_the_second_it_was_due() -> None:
    """Overload: drops are counted in bulk, yet each lands in the second of its scheduled
    instant, exactly as counting them one by one would (a ramp makes the seconds uneven)."""
    plan = build_plan(Ramp(profile="ramp", from_rate=50, to_rate=200, step=150, step_duration=0.8)).shard(1, 3)
    results = ResultSet()
    pacer = Pacer(plan, results)
    t0 = time.time() + 0.3  # a fractional start: the plan's seconds straddle the clock's
    pacer.start(t0)  # no virtual user ever waits
    pacer.finished.wait(timeout=5)
    assert pacer.finished.is_set()
    assert pacer.released == 0 and pacer.dropped == plan.total == 67  # (0.8 s x 50 + 0.8 s x 200) / 3, phase 1/3
    expected = Counter(int(t0 + plan.release_time(k)) for k in range(plan.total))
    assert len(expected) >= 2
    assert {s: w.dropped for s, w in results.pacer.items() if w.dropped} == dict(expected)


def hold_up(block: Callable[[], None], *, at: float, duration: float) -> tuple[Pacer, Users, float, float]:
    """Run 1,000 rps for ``duration`` with 60 users; at ``at`` s into the plan, ``block()`` holds
    the hub for 40 ms. Returns pacer, users, t0 and the instant the hold-up ended."""
    plan = build_plan(Steady(profile="steady", rate=1000, duration=duration))
    pacer = Pacer(plan, ResultSet())
    vus = Users(pacer, 60)
    gevent.sleep(0)
    t0 = time.time() + LEAD_IN
    ended: list[float] = []

    def hold() -> None:
        gevent.sleep(t0 + at - time.time())
        block()
        ended.append(time.time())

    gevent.spawn(hold)
    pacer.start(t0)
    vus.join(timeout=LEAD_IN + plan.duration + 3)
    assert pacer.released == plan.total and pacer.dropped == 0
    return pacer, vus, t0, ended[0]


def test_a_stall_of_the_load_generator_is_caught_up_smoothly_not_in_one_clump() -> None:
    """The whole process stops for 40 ms (the OS, the hypervisor): the 40 iterations held back
    go out at 1.5x the rate afterwards, not in one instant, and none is lost."""
    pacer, vus, t0, after = hold_up(lambda: time.sleep(0.040), at=0.4, duration=1.0)  # no CPU for 40 ms
    assert pacer.stalls >= 1 and pacer.longest_stall >= 0.035
    assert pacer.health()["longest_stall_ms"] >= 35
    ats = sorted(at for _, at in vus.stamps)
    # released all at once, the first 10 ms after the stall would hold its 40 plus 10 more
    first = sum(1 for at in ats if after <= at < after + 0.010)
    assert first <= 22, f"{first} iterations in the 10 ms after the stall: a clump"
    # ... and the backlog is gone soon after: at 1.5x, 40 ms of backlog takes 80 ms
    caught_up = sorted(at - t.scheduled for t, at in vus.stamps if at >= after + 0.2)
    assert caught_up and caught_up[len(caught_up) // 2] < 0.005, "still behind the schedule 200 ms after the stall"
    assert ats[-1] < t0 + 1.0 + 0.05


def _burn_40ms() -> None:
    until = time.perf_counter() + 0.040
    while time.perf_counter() < until:  # uses the CPU without yielding to the hub
        pass


def test_a_busy_generator_is_not_a_stall_late_iterations_go_out_at_once() -> None:
    """Late because the process was busy (its CPU was in use) is overload, not a stall: with no
    CPU to spare, spreading the backlog out would only add lag, so it goes out at once."""
    pacer, vus, _, after = hold_up(_burn_40ms, at=0.3, duration=0.6)
    assert pacer.longest_stall < 0.030, "the 40 ms busy spell was taken for a stall"  # (this VM has real short ones)
    first = sum(1 for _, at in vus.stamps if after <= at < after + 0.010)
    assert first >= 40, f"only {first} of the ~50 late iterations went out right after the busy spell"


# ---- a late start (a fan-out worker's cold start) ---------------------------------------------


def test_a_late_start_skips_what_was_due_and_keeps_the_schedule() -> None:
    plan = build_plan(Steady(profile="steady", rate=100, duration=1.5))
    results = ResultSet(run_id="late")
    pacer = Pacer(plan, results)
    vus = Users(pacer, 10)
    gevent.sleep(0)
    t0 = time.time() - 0.8  # the shared start instant passed 0.8 s ago
    pacer.start(t0, skip_late=True)
    vus.join(timeout=3)

    health = pacer.health()
    assert 0.8 <= health["late_start_ms"] / 1000 < 0.9
    # what was due before the late start is skipped (counted as dropped), never sent in a clump
    assert pacer.skipped == health["skipped"] == plan.released_by(health["late_start_ms"] / 1000)
    assert 79 <= pacer.skipped <= 90
    assert pacer.released + pacer.dropped == plan.total and pacer.dropped == pacer.skipped
    # the rest goes out on the shared schedule: no ticket before its planned instant, none shifted
    seqs = sorted(t.seq for t, _ in vus.stamps)
    assert seqs == list(range(pacer.skipped, plan.total))
    for ticket, _ in vus.stamps:
        assert ticket.scheduled == pytest.approx(t0 + plan.release_time(ticket.seq), abs=1e-6)
    first_second = Counter(int((at - t0) * 10) for _, at in vus.stamps)
    assert max(first_second.values()) <= 12, "the late start released a clump"
    totals = results.pacer_totals()
    assert (totals.released, totals.dropped) == (pacer.released, pacer.skipped)


def test_without_skip_late_a_late_start_is_not_reported() -> None:
    plan = build_plan(Steady(profile="steady", rate=50, duration=0.2))
    pacer = Pacer(plan, ResultSet(run_id="x"))
    vus = Users(pacer, 5)
    gevent.sleep(0)
    pacer.start(time.time() + LEAD_IN)
    vus.join(timeout=2)
    assert "late_start_ms" not in pacer.health() and pacer.skipped == 0


# ---- the closed model: the calls profile ------------------------------------------------------


def test_iteration_pacer_gives_each_user_exactly_its_calls() -> None:
    results = ResultSet(run_id="calls")
    pacer = IterationPacer(calls_per_user=7, users=4, results=results, max_duration=10)
    vus = Users(pacer, 4, work=0.01)
    t0 = time.time() + LEAD_IN
    pacer.start(t0)
    vus.join(timeout=3)
    assert pacer.finished.is_set()
    assert pacer.released == 28 and pacer.dropped == 0 and len(vus.stamps) == 28
    assert vus.ended == 4
    assert all(at >= t0 - 1e-3 for _, at in vus.stamps), "a call before the start instant"
    # back to back: 7 calls of 10 ms take ~70 ms, not paced
    assert max(at for _, at in vus.stamps) - t0 < 0.5
    totals = results.pacer_totals()
    assert (totals.target, totals.released, totals.dropped) == (28, 28, 0)


def test_iteration_pacer_counts_calls_not_made_by_max_duration_as_dropped() -> None:
    results = ResultSet(run_id="calls")
    pacer = IterationPacer(calls_per_user=100, users=2, results=results, max_duration=0.3)
    vus = Users(pacer, 2, work=0.05)
    pacer.start(time.time() + LEAD_IN)
    vus.join(timeout=3)
    assert pacer.finished.is_set()
    assert 8 <= pacer.released <= 16
    assert pacer.released + pacer.dropped == 200
    totals = results.pacer_totals()
    assert totals.target == 200 and totals.dropped == pacer.dropped
