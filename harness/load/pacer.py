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
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import gevent
from gevent.event import Event
from gevent.hub import Waiter

from harness.plan import Plan
from harness.results import ResultSet

__all__ = ["Pacer", "Ticket"]


@dataclass(frozen=True, slots=True)
class Ticket:
    """One released iteration: its number and scheduled instant (epoch seconds)."""

    seq: int
    scheduled: float


class Pacer:
    """Releases iterations of ``plan`` at their scheduled instants to idle virtual users."""

    #: longest sleep between checks, so that ``stop()`` is noticed quickly
    max_sleep = 0.05

    def __init__(self, plan: Plan, results: ResultSet, *, clock: Callable[[], float] = time.time) -> None:
        self.plan = plan
        self.results = results
        self.clock = clock
        self._idle: deque[Waiter] = deque()
        self._hub = gevent.get_hub()
        self._greenlet: gevent.Greenlet | None = None
        self._stopped = Event()
        self.finished = Event()
        self.t0: float | None = None
        self.released = 0
        self.dropped = 0
        self.max_lag = 0.0


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

    def start(self, t0: float) -> None:
        """Start releasing at the epoch instant ``t0`` (may be in the future)."""
        if self._greenlet is not None:
            return
        self.t0 = t0
        # planned requests per epoch second, for target vs achieved
        count = self.plan.count_until
        for second in range(int(t0), int(t0 + self.plan.duration) + 1):
            planned = count(second + 1 - t0) - count(second - t0)
            if planned > 0:
                self.results.record_pacer(second, target=planned)
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
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
        release_time, sleep = plan.release_time, gevent.sleep
        k = 0
        next_at = release_time(k)
        try:
            while next_at is not None and not stopped.is_set():
                now = clock()
                if t0 + next_at <= now:
                    # release everything that is due (after a stall there may be several)
                    while next_at is not None and t0 + next_at <= now:
                        if self._idle:
                            self._release(Ticket(k, t0 + next_at), now)
                            k += 1
                        else:
                            # no user is free: everything due by now is dropped, counted in bulk
                            k = self._drop_due(k, now)
                        next_at = release_time(k)
                    if next_at is None:
                        break
                    now = clock()
                # One yield per pass: it lets the released users run, and sleeps until the next
                # instant (a plain sleep: stop() is noticed within max_sleep).
                delay = t0 + next_at - now
                sleep(min(delay, max_sleep) if delay > 0 else 0)
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
        self.results.record_pacer(int(ticket.scheduled), released=1)

    def _drop_due(self, k: int, now: float) -> int:
        """Drop iterations ``k``.. that are due by ``now``, counted per second of their scheduled
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
            self.results.record_pacer(second, dropped=n)
            k += n
        return k
