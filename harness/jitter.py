"""Exponential backoff with full jitter: the one formula harness waits by, for its own AWS calls
(``auth/backoff.py``'s ``Backoff``) and for a scenario's client retries (``load/retry.py``).

Retry number ``attempt`` (0, 1, 2, ...) sleeps ``uniform(0, min(cap, base * 2**attempt))``
seconds ("full jitter", AWS's), which spreads many clients apart instead of letting them retry
in step::

    FullJitter(base=0.1, cap=2.0).bound(1)                       # 0.2
    FullJitter(base=0.1, cap=2.0).delay(1, rng=random.Random(1))  # a draw in [0, 0.2]

A leaf module (only ``random``, looked up at call time), so that the scenario model can use it
without importing boto3 or the token pool.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

__all__ = ["FullJitter", "Uniform"]


class Uniform(Protocol):
    """What a backoff draws from: ``random`` itself, a ``random.Random``, or a test's stand-in."""

    def uniform(self, a: float, b: float) -> float: ...


@dataclass(frozen=True)
class FullJitter:
    """``base``: the first retry waits up to this many seconds; each further retry doubles the
    bound. ``cap``: no single wait is longer than this."""

    base: float
    cap: float

    def bound(self, attempt: int) -> float:
        """The largest delay retry number ``attempt`` (0-based) may sleep: ``min(cap, base * 2**attempt)``."""
        return min(self.cap, self.base * (2.0 ** min(attempt, 62)))

    def delay(self, attempt: int, *, rng: Uniform | None = None) -> float:
        """A random delay for retry number ``attempt``: ``uniform(0, bound(attempt))``."""
        return (rng or random).uniform(0.0, self.bound(attempt))
