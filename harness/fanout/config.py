"""The ``[fanout]`` table of a scenario: how ``harness fanout`` spreads it over worker Lambdas::

FanoutSettings(workers=10, segment="10m")
"""

from __future__ import annotations

from pydantic import Field

from harness.durations import Duration, PositiveDuration
from harness.fields import Float, Int, Model

__all__ = ["FanoutSettings"]


class FanoutSettings(Model):
    """How ``harness fanout`` spreads the scenario over worker Lambdas (ignored by ``harness run``).

    ``workers`` shares the plan: each worker paces ``1/workers`` of the rate with a phase
    offset. All start at one instant ``start_lead`` after planning (time for cold starts and
    sign-in). Runs longer than ``segment`` run as consecutive segments (a Lambda runs 15 min
    at most). ``tolerated_failure_percentage`` of the shards may fail without failing the map.
    ``sign_in_budget``: sign-ins and refreshes per second for all workers together (each gets
    its share): Cognito's UserAuthentication quota (120 per second by default) is per account
    and Region, shared with the application's own users. ``stack_name``: at most 53 characters,
    so that the function names (``<stack>-aggregator``) stay within Lambda's 64.
    ``heartbeat_timeout``: in a run with ``[[faults]]``, the workers stop when the ``harness
    fanout`` process that applies them has not written its heartbeat for this long (it writes
    ``runs/<run-id>/heartbeat.json`` every 5 s), so that a run whose faults nobody ends or
    measures any more does not go on loading the target."""

    workers: Int = Field(default=1, ge=1)
    tolerated_failure_percentage: Float = Field(default=0.0, ge=0, le=100)
    start_lead: PositiveDuration = 20.0
    segment: Duration = Field(default=600.0, ge=10, le=840)
    sign_in_budget: Float = Field(default=100.0, gt=0)
    stack_name: str = Field(default="harness-fanout", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,52}$")
    heartbeat_timeout: Duration = Field(default=60.0, ge=15)  # 3 heartbeats (harness.fanout.heartbeat.HEARTBEAT_EVERY) at least
