"""The open-model pacer: releases iterations at the planned rate over a pool of virtual users.

One pacer per process. Virtual users call ``acquire()`` and wait; a single greenlet releases
iteration ``k`` at ``plan.release_time(k)`` to a waiting user. When no user is waiting at that
instant the iteration is *dropped* and counted (k6's ``dropped_iterations``), so a slow server
shows up as drops and lag, never as a silently lower rate::

    pacer = Pacer(plan, results)
    pacer.start(t0=time.time() + 1)      # the synchronized start instant (epoch seconds)
    ticket = pacer.acquire()             # in a virtual user; None once the plan is over

Works under gevent (Locust's runtime). A waiting user parks on a ``gevent.hub.Waiter`` and the
release loop hands it its ticket through the hub's callback queue: the cheapest handoff gevent
has (about half the CPU of an ``AsyncResult``), which matters at thousands of iterations a second.

Stalls of the load generator itself (the OS or the hypervisor taking the CPU away for 10-50 ms)
are not passed on to the API as a burst. A wakeup more than ``stall_tolerance`` late, for which
this thread got no CPU, is a stall (late because it was busy is overload, not a stall). The
iterations a stall held back go out at ``catch_up`` times the planned rate (faster for a long
backlog, which is worked off within ``catch_up_window``) until the schedule has caught up with
the clock, instead of all at once. At 2,000 rps, all at once would put a 20 ms stall's 40
requests into one instant, which can trip API Gateway's throttle on load that was never
planned. Stalls are counted (``stalls``, ``longest_stall``); a backlog beyond ``max_catch_up``
seconds is released at once.

Each iteration is counted as planned (``target``, in the second of its scheduled instant) when
it comes due, released or dropped: a whole plan counts ``plan.total``, a stopped one what was due
by the stop, so planned == released + dropped always, in whole iterations.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

import gevent
from gevent.event import Event
from gevent.hub import Waiter

from harness.plan import Plan
from harness.results import ResultSet

__all__ = ["IterationPacer", "Pacer", "Ticket"]


class Ticket(NamedTuple):
    """One released iteration: its number and scheduled instant (epoch seconds)."""

    seq: int
    scheduled: float


class Pacer:
    """Releases iterations of ``plan`` at their scheduled instants to idle virtual users."""

    #: longest sleep between checks, so that ``stop()`` is noticed quickly
    max_sleep = 0.05
    #: a wakeup later than this (seconds) is a stall of the load generator
    stall_tolerance = 0.002
    #: after a stall, held-back iterations go out at up to this multiple of the planned rate ...
    catch_up = 1.5
    #: ... or faster when the backlog is longer: it is worked off within about this (seconds)
    catch_up_window = 0.1
    #: a backlog older than this (seconds) is released at once: smoothing must not become lag
    max_catch_up = 0.5

    def __init__(self, plan: Plan, results: ResultSet, *, clock: Callable[[], float] = time.time, cpu_clock: Callable[[], float] = time.thread_time) -> None:
        self.plan = plan
        self._results = results
        self.clock = clock
        self.cpu_clock = cpu_clock  # this thread's CPU time: tells a stall from a busy loop
        self._idle: deque[Waiter] = deque()
        self._hub = gevent.get_hub()
        self._greenlet: gevent.Greenlet | None = None
        self._stopped = Event()
        self.finished = Event()
        self.t0: float | None = None
        self.released = 0
        self.dropped = 0
        self.max_lag = 0.0
        self.stalls = 0
        self.longest_stall = 0.0
        self.late_start = 0.0  # seconds this pacer started after t0 (a fan-out worker's cold start)
        self.skipped = 0  # iterations due before a late start, counted as dropped, never sent
        self._skip_late = False
        self.stopped_at: float | None = None  # when stop() was called (epoch seconds)
        self._second = -1  # the results window of the last release, looked up once per second
        self._window: Any = None

    @property
    def results(self) -> ResultSet:
        return self._results

    @results.setter
    def results(self, results: ResultSet) -> None:
        """Swap the results (a worker hands over what was measured so far)."""
        self._results = results
        self._second, self._window = -1, None

    def health(self) -> dict[str, float]:
        """How well this process kept the schedule: stalls, the longest one and the worst lag
        of a release (milliseconds)."""
        health = {
            "stalls": self.stalls,
            "longest_stall_ms": round(self.longest_stall * 1000, 1),
            "max_lag_ms": round(self.max_lag * 1000, 1),
        }
        if self._skip_late:
            health.update(late_start_ms=round(self.late_start * 1000, 1), skipped=self.skipped)
        return health

    # ---- virtual users -----------------------------------------------------------------------

    def acquire(self, timeout: float | None = None) -> Ticket | None:
        """Wait for the next released iteration; None when the plan is over or stopped."""
        if self.finished.is_set():
            return None
        waiter = Waiter(self._hub)
        self._idle.append(waiter)
        timer = gevent.Timeout.start_new(timeout) if timeout is not None else None
        try:
            return waiter.get()
        except gevent.Timeout as exc:
            if exc is not timer:
                self._leave(waiter)
                raise
            if not self._leave(waiter):
                return waiter.get()  # released just as the timeout fired: the ticket is on its way
            return None
        except BaseException:  # killed while waiting (GreenletExit): leave the queue
            self._leave(waiter)
            raise
        finally:
            if timer is not None:
                timer.close()

    def _leave(self, waiter: Waiter) -> bool:
        """Take ``waiter`` out of the idle queue; False if the release loop already took it."""
        try:
            self._idle.remove(waiter)
        except ValueError:
            return False
        return True

    @property
    def idle(self) -> int:
        return len(self._idle)

    # ---- the release loop --------------------------------------------------------------------

    def start(self, t0: float, *, skip_late: bool = False) -> None:
        """Start releasing at the epoch instant ``t0`` (may be in the future).

        ``skip_late``: when the pacer starts more than ``max_catch_up`` after ``t0`` (a worker
        that started late), the iterations already due are not sent in a clump nor shifted:
        they are counted as dropped in their seconds and reported as ``skipped`` with the
        ``late_start``, so every worker keeps the one shared schedule."""
        if self._greenlet is not None:
            return
        self.t0 = t0
        self._skip_late = skip_late
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if not self._stopped.is_set():
            self.stopped_at = self.clock()
        self._stopped.set()
        if self._greenlet is not None:
            self._greenlet.join(timeout=2)
        self._finish()

    def _finish(self) -> None:
        if not self.finished.is_set():
            self.finished.set()
            run_callback = self._hub.loop.run_callback
            while self._idle:
                run_callback(self._idle.popleft().switch, None)

    def _run(self) -> None:
        assert self.t0 is not None
        plan, t0, clock, stopped, max_sleep = self.plan, self.t0, self.clock, self._stopped, self.max_sleep
        tolerance, max_debt, window = self.stall_tolerance, self.max_catch_up, self.catch_up_window
        min_speedup = self.catch_up - 1.0
        release_time, sleep, idle, cpu = plan.release_time, gevent.sleep, self._idle, self.cpu_clock
        k = 0
        if self._skip_late and clock() - t0 > max_debt:
            now = clock()
            self.late_start = now - t0
            k = self.skipped = self._drop_due(0, now) if plan.released_by(now - t0) > 0 else 0
        next_at = release_time(k)
        debt = 0.0  # seconds the release schedule runs behind the clock, on purpose, after a stall
        last = wake = clock()
        ran = cpu()
        try:
            while next_at is not None and not stopped.is_set():
                now = clock()
                late = now - wake
                working = now - last  # time since the last pass; the part not stalled repays debt
                if late > tolerance and now > t0:
                    # Late because this thread did not run at all (the OS or the hypervisor
                    # took the CPU away)? That is a stall. Late because it was busy sending
                    # and reading requests is not: with no CPU to spare, catching up slowly
                    # would only turn the overload into lag.
                    away = late - (cpu() - ran)
                    if away > tolerance:
                        self.stalls += 1
                        if away > self.longest_stall:
                            self.longest_stall = away
                        debt += away
                        working -= away
                speedup = 0.0
                if debt:
                    # the schedule runs (1 + speedup) times faster than the clock until caught up
                    speedup = max(min_speedup, debt / window)
                    debt = min(max(debt - speedup * working, 0.0), max_debt)
                last = now
                horizon = now - debt  # everything scheduled up to here goes out now
                if t0 + next_at <= horizon:
                    # release everything that is due (after a stall there may be several)
                    while next_at is not None and t0 + next_at <= horizon:
                        if idle:
                            self._release(Ticket(k, t0 + next_at), now)
                            k += 1
                        else:
                            # no user is free: everything due by now is dropped, counted in bulk
                            k = self._drop_due(k, horizon)
                        next_at = release_time(k)
                    if next_at is None:
                        break
                    now = clock()
                    horizon = now - debt
                # One yield per pass: it lets the released users run, and sleeps until the next
                # instant (a plain sleep: stop() is noticed within max_sleep). While catching up,
                # the schedule advances (1 + speedup) times faster than the clock.
                delay = (t0 + next_at - horizon) / (1.0 + speedup)
                delay = min(delay, max_sleep) if delay > 0 else 0.0
                wake = now + delay
                ran = cpu()
                sleep(delay)
            if next_at is not None and self.stopped_at is not None and plan.released_by(self.stopped_at - t0) > k:
                # stopped: what was due by then and not sent (a stall's backlog) is dropped, so
                # that planned == released + dropped up to the stop, and nothing after it is planned
                k = self._drop_due(k, self.stopped_at)
        finally:
            self._finish()

    def _release(self, ticket: Ticket, now: float) -> None:
        """Hand ``ticket`` to the longest-waiting idle user (the caller checked there is one)."""
        # every waiter in the queue is live: one that times out or is killed leaves it
        self._hub.loop.run_callback(self._idle.popleft().switch, ticket)
        self.released += 1
        lag = now - ticket.scheduled
        if lag > self.max_lag:
            self.max_lag = lag
        second = int(ticket.scheduled)
        if second != self._second:
            self._second, self._window = second, self.results.pacer[second]
        self._window.released += 1
        self._window.target += 1  # planned: counted as it comes due (released here, or dropped)

    def _drop_due(self, k: int, now: float) -> int:
        """Drop iterations ``k``.. that are due by ``now`` (epoch seconds), counted per second of their scheduled
        instant; returns the next iteration. Overload is when the load generator needs its CPU
        most, so this costs one plan lookup per second spanned, not one per iteration."""
        plan, t0 = self.plan, self.t0
        assert t0 is not None
        due = max(plan.released_by(now - t0), k + 1)  # iteration k is due: at least that one
        while k < due:
            scheduled = plan.release_time(k)
            if scheduled is None:
                break
            second = int(t0 + scheduled)
            # iterations scheduled before the end of that second (at least iteration k itself)
            n = max(1, min(due, plan.released_by(second + 1 - t0)) - k)
            self.dropped += n
            self.results.record_pacer(second, target=n, dropped=n)
            k += n
        return k


class IterationPacer:
    """The closed model (the ``calls`` profile, k6's per-vu-iterations): each virtual user
    makes ``calls_per_user`` calls back to back from ``t0``; the run is over when every user
    of this process is done, or at ``t0 + max_duration``, when the calls not made are counted
    as dropped. The same interface as ``Pacer``, so the user and the session need not care.

    There is no planned rate: each call is counted as planned and released in the second it
    starts, so target and released agree for every call that was made."""

    def __init__(self, *, calls_per_user: int, users: int, results: ResultSet, max_duration: float, clock: Callable[[], float] = time.time) -> None:
        self.calls_per_user = calls_per_user
        self.users = users
        self._results = results
        self.max_duration = max_duration
        self.clock = clock
        self._calls: dict[Any, int] = {}
        self._done: set[Any] = set()
        self.finished = Event()
        self._started = Event()
        self._greenlet: gevent.Greenlet | None = None
        self.t0: float | None = None
        self.released = 0
        self.dropped = 0
        self.late_start = 0.0
        self.skip_late = False

    @property
    def results(self) -> ResultSet:
        return self._results

    @results.setter
    def results(self, results: ResultSet) -> None:
        self._results = results

    def health(self) -> dict[str, float]:
        health: dict[str, float] = {"stalls": 0, "longest_stall_ms": 0.0, "max_lag_ms": 0.0}
        if self.skip_late:
            health.update(late_start_ms=round(self.late_start * 1000, 1), skipped=0)
        return health

    def start(self, t0: float, *, skip_late: bool = False) -> None:
        if self._greenlet is not None:
            return
        self.t0, self.skip_late = t0, skip_late
        self.late_start = max(0.0, self.clock() - t0) if skip_late else 0.0
        self._greenlet = gevent.spawn(self._watch)

    def _watch(self) -> None:
        assert self.t0 is not None
        delay = self.t0 - self.clock()
        if delay > 0:
            gevent.sleep(delay)
        self._started.set()
        self.finished.wait(timeout=max(self.t0 + self.max_duration - self.clock(), 0.0))
        self._finish()

    def acquire(self, timeout: float | None = None) -> Ticket | None:
        """The calling virtual user's next call, at once; None when it has made all of them."""
        if self.finished.is_set() or not self._started.wait(timeout):
            return None
        user = gevent.getcurrent()
        made = self._calls.get(user, 0)
        if made >= self.calls_per_user:
            self._done.add(user)
            if len(self._done) >= self.users:
                self._finish()
            return None
        self._calls[user] = made + 1
        now = self.clock()
        self._results.record_pacer(int(now), target=1, released=1)
        self.released += 1
        return Ticket(self.released - 1, now)

    @property
    def idle(self) -> int:
        return 0

    def stop(self) -> None:
        self._finish()
        self._started.set()

    def _finish(self) -> None:
        if self.finished.is_set():
            return
        self.finished.set()
        missing = self.users * self.calls_per_user - self.released
        if missing > 0 and self.t0 is not None:
            self.dropped = missing
            second = int(min(self.clock(), self.t0 + self.max_duration))
            self._results.record_pacer(second, target=missing, dropped=missing)
