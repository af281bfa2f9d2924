"""Token-bucket throttling, per stage and per route, like API Gateway's.

A bucket holds at most ``burst`` tokens, starts full and refills continuously at ``rate`` tokens
per second; each request takes one token or is throttled (429). A request to a route with its own
limit must find a token in the route's bucket *and* in the stage's bucket; it takes from both or
from neither.

    throttler = Throttler(Throttle(rate=5, burst=5), {"GET /items": Throttle(rate=1, burst=1)})
    throttler.allow("GET /items", time.monotonic())   # True, then False until a second passes
"""

from __future__ import annotations

from collections.abc import Mapping

from .config import Throttle

__all__ = ["TokenBucket", "Throttler"]

# A token is "there" at 1 - 1e-9: time differences of floats lose a few ulps (100.1 - 100.0).
_ONE = 1.0 - 1e-9


class TokenBucket:
    """``rate`` tokens per second, capacity ``burst``; full when made."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def refill(self, now: float) -> float:
        """Bring the bucket up to ``now`` and return the tokens in it."""
        elapsed = now - self.stamp
        if elapsed > 0:
            tokens = self.tokens + elapsed * self.rate
            self.tokens = tokens if tokens < self.burst else self.burst
            self.stamp = now
        return self.tokens

    def take(self, now: float) -> bool:
        """Take one token if there is one."""
        if self.refill(now) >= _ONE:
            self.tokens -= 1.0
            return True
        return False

    def reconfigure(self, rate: float, burst: float, now: float) -> None:
        """New limits from ``now`` on; the tokens held are kept, capped at the new burst."""
        self.refill(now)
        self.rate = float(rate)
        self.burst = float(burst)
        if self.tokens > self.burst:
            self.tokens = self.burst


class Throttler:
    """The stage bucket plus one bucket per throttled route key."""

    def __init__(self, stage: Throttle, routes: Mapping[str, Throttle], *, now: float = 0.0) -> None:
        self.stage = TokenBucket(stage.rate, stage.burst, now)
        self.routes: dict[str, TokenBucket] = {
            key: TokenBucket(t.rate, t.burst, now) for key, t in routes.items()
        }

    def allow(self, route_key: str, now: float) -> bool:
        """Whether a request to ``route_key`` at monotonic time ``now`` may pass (takes its tokens)."""
        route = self.routes.get(route_key)
        if route is None:
            return self.stage.take(now)
        if route.refill(now) >= _ONE and self.stage.refill(now) >= _ONE:
            route.tokens -= 1.0
            self.stage.tokens -= 1.0
            return True
        return False

    def set_stage(self, throttle: Throttle, now: float) -> None:
        self.stage.reconfigure(throttle.rate, throttle.burst, now)

    def set_routes(self, routes: Mapping[str, Throttle], now: float) -> None:
        """Replace the route limits: kept routes keep their tokens, new routes start full."""
        buckets: dict[str, TokenBucket] = {}
        for key, t in routes.items():
            bucket = self.routes.get(key)
            if bucket is None:
                bucket = TokenBucket(t.rate, t.burst, now)
            else:
                bucket.reconfigure(t.rate, t.burst, now)
            buckets[key] = bucket
        self.routes = buckets
