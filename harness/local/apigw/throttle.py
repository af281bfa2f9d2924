"""Token-bucket throttling per route, like API Gateway's stage and route settings.

A bucket holds at most ``burst`` tokens, starts full and refills continuously at ``rate`` tokens
per second; each request takes one token or is throttled (429). As on AWS, a stage's default
limit applies to each route separately (every route has a bucket of its own with the stage's
limits), and a route with a limit of its own uses that one instead: the stage's default no longer
applies to it (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html:
route-level limits override the stage's).

    throttler = Throttler(Throttle(rate=5, burst=5), {"GET /items": Throttle(rate=1, burst=1)})
    throttler.allow("GET /items", time.monotonic())   # True, then False until a second passes
"""

from __future__ import annotations

from collections.abc import Mapping

from .config import Throttle

__all__ = ["TokenBucket", "Throttler", "RouteBuckets"]

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
    """A stage's default limit, applied to each route separately, plus route-level limits that
    take its place on their routes (as API Gateway's ``DefaultRouteSettings`` and
    ``RouteSettings`` do; a REST stage's ``*/*`` method settings likewise, per method)."""

    def __init__(self, stage: Throttle, routes: Mapping[str, Throttle], *, now: float = 0.0) -> None:
        self.stage = stage
        self.defaults = RouteBuckets(stage.rate, stage.burst)
        self.routes: dict[str, TokenBucket] = {key: TokenBucket(t.rate, t.burst, now) for key, t in routes.items()}

    def allow(self, route_key: str, now: float) -> bool:
        """Whether a request to ``route_key`` at monotonic time ``now`` may pass (takes its token)."""
        route = self.routes.get(route_key)
        if route is None:
            return self.defaults.take(route_key, now)
        return route.take(now)

    def set_stage(self, throttle: Throttle, now: float) -> None:
        self.stage = throttle
        self.defaults.reconfigure(throttle.rate, throttle.burst, now)

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


class RouteBuckets:
    """One ``rate``/``burst`` limit as a bucket per route key, each full when first used."""

    __slots__ = ("rate", "burst", "buckets")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.buckets: dict[str, TokenBucket] = {}

    def take(self, route_key: str, now: float) -> bool:
        bucket = self.buckets.get(route_key)
        if bucket is None:
            bucket = self.buckets[route_key] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now)

    def reconfigure(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = float(rate), float(burst)
        for bucket in self.buckets.values():
            bucket.reconfigure(rate, burst, now)
