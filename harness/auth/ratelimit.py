"""A rate limiter shared by threads: at most ``rate`` calls per second, evenly spaced.

    limiter = RateLimiter(10.0)          # Cognito admin calls, across all worker threads
    limiter.acquire()                    # waits for the next free slot, then returns
    cognito.admin_create_user(...)

Each caller reserves the next slot under a lock and sleeps outside it, so slots are handed out
in order and never closer than ``1 / rate`` apart; there is no burst. Only ``threading`` and
``time`` are used (looked up at call time), so it works under gevent's monkey-patching too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """At most ``rate`` acquisitions per second across all threads; ``rate=None`` or ``0`` means no limit."""

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        if rate is not None and rate < 0:
            raise ValueError("rate must be positive (or None/0 for no limit)")
        self.rate = rate or None
        self._interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate!r})"

    def acquire(self) -> float:
        """Wait for the next free slot; returns the seconds waited."""
        if not self._interval:
            return 0.0
        clock = self._clock or time.monotonic
        with self._lock:
            now = clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
        wait = slot - now
        if wait > 0:
            (self._sleep or time.sleep)(wait)
        return wait
