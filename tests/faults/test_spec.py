"""``[[faults]]`` in a scenario: validated with the scenario, one line per problem, shown in the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.overview import Overview
from harness.scenario import Scenario

BASE = """
name = "f"
[target]
base_url = "local"
[[endpoints]]
name = "list"
path = "/items"
[load]
profile = "steady"
rate = 10
duration = "30s"
"""


def load(tmp_path: Path, faults: str) -> Scenario:
    path = tmp_path / "f.toml"
    path.write_text(BASE + faults)
    return Scenario.load(path)


def test_every_kind_parses_with_its_parameters(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """
[[faults]]
name = "slow items"
kind = "latency"
at = "5s"
duration = "5s"
latency = "200ms"
route = "GET /items"
[[faults]]
kind = "errors"
at = 1
duration = 2
share = "30%"
status = 502
[[faults]]
kind = "outage"
at = 3
duration = 1
mode = "drop"
[[faults]]
kind = "throttle"
at = 12
duration = 3
rate = 5
burst = 2
[[faults]]
kind = "cognito_throttle"
at = 12
duration = 3
[[faults]]
kind = "lambda_concurrency"
at = 12
duration = 3
reserved = 0
function = "orders"
[[faults]]
kind = "fis"
at = 16
duration = 4
template = "EXT123"
[[faults]]
kind = "stage_throttle"
at = 20
duration = 4
rate = 10
burst = 5
api_id = "a1b2c3"
stage = "prod"
""",
    )
    kinds = [f.kind for f in scenario.faults]
    assert kinds == ["latency", "errors", "outage", "throttle", "cognito_throttle", "lambda_concurrency", "fis", "stage_throttle"]
    slow, errors = scenario.faults[0], scenario.faults[1]
    assert slow.label == "slow items" and slow.params() == {"latency": 0.2, "route": "GET /items"} and slow.end == 10
    assert errors.label == "errors at 1s" and errors.share == pytest.approx(0.3)
    text = "\n".join(Overview.of(scenario).faults)
    assert "slow items: latency 5-10 s (latency=0.2, route=GET /items)" in text and "stage_throttle 20-24 s" in text


@pytest.mark.parametrize(
    ("faults", "says"),
    [
        ('[[faults]]\nkind = "slowness"\nat = 1\nduration = 1\n', "faults[0].kind: must be one of latency, errors, outage"),
        ('[[faults]]\nkind = "latency"\nat = 1\nduration = 1\nlatncy = "1s"\n', "faults[0].latncy: is not a known field; did you mean latency?"),
        ('[[faults]]\nkind = "latency"\nat = 1\nduration = 1\nlatency = -1\n', "faults[0].latency: Input should be greater than 0"),
        ('[[faults]]\nkind = "latency"\nat = 25\nduration = 10\nlatency = 1\n', "faults[0].duration: the fault ends 35 s into the run, after the load's 30 s"),
        ('[[faults]]\nkind = "errors"\nat = 1\nduration = 1\nshare = 1.5\n', "faults[0].share: Input should be less than or equal to 1"),
        ('[[faults]]\nkind = "errors"\nat = 1\nduration = 1\nshare = "150%"\n', "faults[0].share: must be between 0% and 100% (got '150%')"),
        ('[[faults]]\nkind = "fis"\nat = 1\nduration = 1\n', "faults[0].template: is required; add it"),
        ('[[faults]]\nkind = "outage"\nduration = 1\n', "faults[0].at: is required"),
        (
            '[[faults]]\nkind = "stage_throttle"\nat = 1\nduration = 5\nrate = 1\nburst = 1\n'
            '[[faults]]\nkind = "stage_throttle"\nat = 3\nduration = 5\nrate = 2\nburst = 1\n',
            "faults[1].at: overlaps faults[0] ('stage_throttle at 1s'), which changes the same setting",
        ),
        (
            '[[faults]]\nname = "x"\nkind = "outage"\nat = 1\nduration = 1\n[[faults]]\nname = "x"\nkind = "outage"\nat = 3\nduration = 1\n',
            "faults[1].name: two faults are named 'x'",
        ),
    ],
)
def test_bad_faults_are_refused_in_one_line_naming_the_field(tmp_path: Path, faults: str, says: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load(tmp_path, faults)
    message = str(info.value)
    assert says in message and "\n" not in message


def test_faults_of_different_settings_may_overlap(tmp_path: Path) -> None:
    scenario = load(tmp_path, '[[faults]]\nkind = "latency"\nat = 1\nduration = 5\nlatency = 1\n[[faults]]\nkind = "outage"\nat = 2\nduration = 1\n')
    assert len(scenario.faults) == 2
