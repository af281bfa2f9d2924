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


AWS_URL = "https://a1b2c3.execute-api.us-east-1.amazonaws.com/prod"


def load(tmp_path: Path, faults: str, *, base_url: str = "local") -> Scenario:
    path = tmp_path / "f.toml"
    path.write_text(BASE.replace('base_url = "local"', f'base_url = "{base_url}"') + faults)
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
""",
    )
    kinds = [f.kind for f in scenario.faults]
    assert kinds == ["latency", "errors", "outage", "throttle", "cognito_throttle", "lambda_concurrency", "fis"]
    on_aws = load(
        tmp_path, '[[faults]]\nkind = "stage_throttle"\nat = 20\nduration = 4\nrate = 10\nburst = 5\napi_id = "a1b2c3"\nstage = "prod"\n', base_url=AWS_URL
    )
    slow, errors = scenario.faults[0], scenario.faults[1]
    assert slow.label == "slow items" and slow.params() == {"latency": 0.2, "route": "GET /items"} and slow.end == 10
    assert errors.label == "errors at 1s" and errors.share == pytest.approx(0.3)
    text = "\n".join(Overview.of(scenario).faults + Overview.of(on_aws).faults)
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
            '[[faults]]\nkind = "lambda_concurrency"\nat = 1\nduration = 5\nreserved = 1\nfunction = "f"\n'
            '[[faults]]\nkind = "lambda_concurrency"\nat = 3\nduration = 5\nreserved = 2\nfunction = "f"\n',
            "faults[1].at: overlaps faults[0] ('lambda_concurrency at 1s'), which changes the same setting",
        ),
        (
            '[[faults]]\nkind = "stage_throttle"\nat = 1\nduration = 5\nrate = 1\nburst = 1\n',
            'faults[0].kind: "stage_throttle" changes an AWS API Gateway stage (UpdateStage) and works on AWS only; on the local stack use kind = "throttle"',
        ),
        (
            '[[faults]]\nkind = "outage"\nat = 30\nduration = 5\n',
            "faults[0].at: the fault starts 30 s into the run, when the load's 30 s are over; start it earlier",
        ),
        ('[[faults]]\nkind = "outage"\nat = 45\nduration = 1\n', "faults[0].at: the fault starts 45 s into the run"),
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


def test_a_local_kind_against_another_target_is_refused_with_the_scenario() -> None:
    for base_url in (AWS_URL, "http://127.0.0.1:8080"):
        data = {"name": "f", "target": {"base_url": base_url}, "endpoints": [{"name": "list", "path": "/items"}],
                "load": {"profile": "steady", "rate": 10, "duration": 30}, "faults": [{"kind": "latency", "at": 1, "duration": 5, "latency": 1}]}  # fmt: skip
        with pytest.raises(ScenarioError, match=r'faults\[0\]\.kind: .latency. is applied through the local stack, but target.base_url is not "local"'):
            Scenario.from_dict(data).check_fault_kinds()


def test_stage_throttles_that_overlap_on_aws_are_refused(tmp_path: Path) -> None:
    overlapping = '[[faults]]\nkind = "stage_throttle"\nat = 1\nduration = 5\nrate = 1\nburst = 1\n[[faults]]\nkind = "stage_throttle"\nat = 3\nduration = 5\nrate = 2\nburst = 1\n'
    with pytest.raises(ScenarioError, match=r"faults\[1\]\.at: overlaps faults\[0\] \('stage_throttle at 1s'\)"):
        load(tmp_path, overlapping, base_url=AWS_URL)
