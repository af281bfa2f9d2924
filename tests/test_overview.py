"""``harness check``'s plan in numbers: what it says about a scenario's retries."""

from __future__ import annotations

from harness.overview import Overview
from harness.scenario import Scenario


def scenario(**top: object) -> Scenario:
    data = {"name": "o", "target": {"base_url": "local"}, "load": {"profile": "steady", "rate": 10, "duration": 10},
            "endpoints": [{"name": "a", "path": "/a"}, {"name": "b", "path": "/b", "retry": False}], **top}  # fmt: skip
    return Scenario.from_dict(data)


def test_the_plan_names_the_retry_policies() -> None:
    facts = dict(Overview.of(scenario(retry={"on": [429, "transport"], "max_attempts": 4, "base": "50ms", "cap": "1s"})).facts())
    assert facts["retries"] == "1 of 2 endpoints, on transport, 429 · 4 attempts · backoff 50 ms..1 s (may send more than the planned requests)"
    assert "retries" not in dict(Overview.of(scenario()).facts())
