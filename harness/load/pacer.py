"""The open-model pacer: releases iterations at the planned rate over a pool of virtual users.

One pacer per process. Virtual users call ``acquire()`` and wait; a single greenlet releases
iteration ``k`` at ``plan.release_time(k)`` to a waiting user. When no user is waiting at that
instant the iteration is *dropped* and counted (k6's ``dropped_iterations``), so a slow server
shows up as drops and lag, never as a silently lower rate::

    pacer = Pacer(plan, results)
    pacer.start(t0=time.time() + 1)      # the synchronized start instant (epoch seconds)
    ticket = pacer.acquire()             # in a virtual user; None once the plan is over

Works under gevent (Locust's runtime): waiting uses ``gevent.event.AsyncResult``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import gevent
from gevent.event import AsyncResult, Event

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
        self._idle: deque[AsyncResult] = deque()
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
        waiter: AsyncResult = AsyncResult()
        self._idle.append(waiter)
        try:
            return waiter.get(timeout=timeout)
        except gevent.Timeout:
            return None
        finally:
            if not waiter.ready():
                try:
                    self._idle.remove(waiter)
                except ValueError:
                    pass

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
            while self._idle:
                waiter = self._idle.popleft()
                if not waiter.ready():
                    waiter.set(None)

    def _run(self) -> None:
        assert self.t0 is not None
        plan, t0 = self.plan, self.t0
        k = 0
        next_at = plan.release_time(k)
        try:
            while next_at is not None and not self._stopped.is_set():
                now = self.clock()
                due_at = t0 + next_at
                if now < due_at:
                    self._stopped.wait(min(due_at - now, self.max_sleep))
                    continue
                # release everything that is due (after a stall there may be several)
                while next_at is not None and t0 + next_at <= now:
                    scheduled = t0 + next_at
                    self._release(Ticket(k, scheduled), now)
                    k += 1
                    next_at = plan.release_time(k)
                gevent.sleep(0)  # let the released users run
        finally:
            self._finish()

    def _release(self, ticket: Ticket, now: float) -> None:
        second = int(ticket.scheduled)
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.ready():
                waiter.set(ticket)
                self.released += 1
                self.max_lag = max(self.max_lag, now - ticket.scheduled)
                self.results.record_pacer(second, released=1)
                return
        self.dropped += 1
        self.results.record_pacer(second, dropped=1)
