"""``validate()``: the rules that cross modules, checked in one place by every command."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import ScenarioError
from harness.fanout.spec import StackDefaults, parse_input
from harness.scenario import Scenario
from harness.validation import validate


def data(**extra: Any) -> dict[str, Any]:
    return {"name": "x", "target": {"base_url": "local"}, "endpoints": [{"name": "a", "path": "/a"}],
            "load": {"profile": "steady", "rate": 5, "duration": 10}, **extra}  # fmt: skip


def test_a_scenario_refuses_a_bad_rule_in_one_line() -> None:
    with pytest.raises(ScenarioError) as exc:
        validate(Scenario.from_dict(data(abort_on=["error_rate > 20"]), source="s.toml"), source="s.toml", command="load")
    assert "s.toml" in str(exc.value) and "abort_on" in str(exc.value) and "\n" not in str(exc.value)
    assert exc.value.field == "abort_on" and str(exc.value.reason).startswith("entry 0: ")


def test_the_model_alone_takes_an_abort_rule_it_cannot_parse_and_validate_refuses_it() -> None:
    scenario = Scenario.from_dict(data(abort_on=["server.p95 > 1s"]))  # the model imports no gate grammar
    with pytest.raises(ScenarioError, match="comes from CloudWatch"):
        validate(scenario, source="s.toml", command="check")


def test_an_execution_input_with_a_bad_abort_rule_is_refused_before_any_worker_starts() -> None:
    defaults = StackDefaults(base_url="https://api.example.test", user_pool_id="us-east-1_Pool", client_id="client", region="us-east-1")
    with pytest.raises(ScenarioError) as exc:
        parse_input({"scenario": data(abort_on=["p95 regression > 10%"])}, defaults=defaults)
    assert "execution input: abort_on: entry 0:" in str(exc.value) and "regression" in str(exc.value)


def test_a_gate_for_an_endpoint_the_scenario_lacks_is_refused_for_every_command_that_runs() -> None:
    scenario = Scenario.from_dict(data(gates=['"nope".p95 < 1s']))
    for command in ("check", "run", "fanout"):
        with pytest.raises(ScenarioError, match="nope"):
            validate(scenario, source="s.toml", command=command)
    validate(scenario, source="s.toml", command="load")  # a loaded scenario's gates are the run's business


def test_the_probe_rules_apply_to_the_probe_only() -> None:
    scenario = Scenario.from_dict(data(gates=["p95 < 1s"]))
    validate(scenario, source="s.toml", command="run")
    with pytest.raises(ScenarioError) as exc:
        validate(scenario, source="s.toml", command="probe")
    assert exc.value.field == "load.profile" and "ramp" in str(exc.value)
