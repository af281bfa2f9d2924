"""What a distributed run will cost on AWS, printed before it starts.

    estimate = estimate_cost(spec, memory_mb=1769)
    for line in estimate.lines(): print(line)
    estimate.total        # US dollars

List prices of one Region, in one table, with the date they were read. They are an estimate
to decide with, not a bill: free tiers, savings plans and other Regions are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.fanout.aggregate import GROUP_SIZE
from harness.fanout.spec import RunSpec
from harness.fanout.store import PROGRESS_EVERY
from harness.plan import build_plan
from harness.scenario import Calls

__all__ = ["PRICES", "PRICES_DATE", "CostEstimate", "estimate_cost"]

PRICES_DATE = "2025-06 (us-east-1 list prices, USD)"
PRICES: dict[str, tuple[float, str]] = {
    "lambda_gb_second": (0.0000166667, "Lambda x86 compute, per GB-second"),
    "lambda_request": (0.20 / 1_000_000, "Lambda requests, per invocation"),
    "sfn_transition": (0.025 / 1000, "Step Functions Standard, per state transition"),
    "apigw_http_request": (1.00 / 1_000_000, "API Gateway HTTP API, per request (first 300 M)"),
    "apigw_rest_request": (3.50 / 1_000_000, "API Gateway REST API, per request (first 333 M)"),
    "cognito_mau": (0.015, "Cognito Essentials, per monthly active user (beyond any free tier)"),
    "s3_put": (0.005 / 1000, "S3 Standard PUT/LIST, per request"),
    "s3_get": (0.0004 / 1000, "S3 Standard GET, per request"),
}

SIGN_IN_SECONDS = 10.0
"""A worker's time beyond its plan: cold start, signing its users in, draining."""


@dataclass
class CostEstimate:
    """Quantities and their cost, item by item."""

    items: list[tuple[str, float, float]] = field(default_factory=list)  # (what, quantity, dollars)

    def add(self, price: str, quantity: float) -> None:
        unit, label = PRICES[price]
        self.items.append((label, quantity, quantity * unit))

    @property
    def total(self) -> float:
        return sum(dollars for _, _, dollars in self.items)

    def lines(self) -> list[str]:
        out = [f"  {label}: {quantity:,.0f} -> ${dollars:,.4f}" for label, quantity, dollars in self.items]
        out.append(f"  total: about ${self.total:,.2f} (prices of {PRICES_DATE})")
        return out


def estimate_cost(spec: RunSpec, *, memory_mb: int = 1769, api_kind: str | None = None) -> CostEstimate:
    """The AWS cost of running ``spec``: workers' and helpers' Lambda time and invocations,
    state transitions, the API's requests, the test users, and S3 requests."""
    scenario = spec.scenario()
    profile = scenario.load_profile
    workers, segments = spec.workers, spec.segments
    if isinstance(profile, Calls):
        requests = profile.total_calls
        seconds = profile.max_duration  # at most; the run ends when every user is done
    else:
        requests = build_plan(profile).total
        seconds = sum(end - start for start, end in spec.windows)
    worker_seconds = workers * (seconds + segments * (scenario.fanout.start_lead + SIGN_IN_SECONDS))
    groups = max(1, math.ceil(workers * segments / GROUP_SIZE))
    helper_invocations = 3 + 2 * segments + groups + 2  # validate, users, plan per segment, merges
    estimate = CostEstimate()
    estimate.add("lambda_gb_second", worker_seconds * memory_mb / 1024 + helper_invocations * 5 * 3008 / 1024)
    estimate.add("lambda_request", workers * segments + helper_invocations)
    # the main flow's states, plus each Distributed Map child's (start, task, end)
    estimate.add("sfn_transition", 12 + 5 * segments + 2 * groups + 3 * workers * segments)
    estimate.add("apigw_rest_request" if (api_kind or scenario.target.api_kind) == "rest" else "apigw_http_request", requests)
    estimate.add("cognito_mau", scenario.auth.users if scenario.auth else 0)
    puts = workers * segments * (2 + seconds / segments / PROGRESS_EVERY) + 2 * segments + groups + 4
    estimate.add("s3_put", puts)
    estimate.add("s3_get", workers * segments * (2 + seconds / segments / PROGRESS_EVERY) + groups + 4)  # + a stop check per note
    return estimate
