"""``harness deploy`` and ``harness fanout`` find the fan-out stack in one region, whatever the user
pool's and the target's regions (moto serves them all), and a scenario whose pool is not the
stack's is refused before the cost question. The stack is deployed to the session's moto server."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from harness.cli import main
from harness.fanout.package import build_package

pytestmark = pytest.mark.integration

STACK_REGION = "eu-central-1"  # the profile's region (AWS_REGION)
POOL_REGION = "eu-west-2"  # the test users' pool: elsewhere, as the template allows


@pytest.fixture(scope="module")
def code_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(out=tmp_path_factory.mktemp("code") / "fanout.zip", deps=False).path


def pool(name: str, region: str) -> tuple[str, str]:
    cognito = boto3.client("cognito-idp", region_name=region)
    pool_id = cognito.create_user_pool(PoolName=name)["UserPool"]["Id"]
    return pool_id, cognito.create_user_pool_client(UserPoolId=pool_id, ClientName=name)["UserPoolClient"]["ClientId"]


def scenario(tmp_path: Path, pool_id: str, client_id: str, *, base_url: str = "http://127.0.0.1:9") -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(
        f'name = "regions"\n[target]\nbase_url = "{base_url}"\n'
        f'[auth]\nuser_pool_id = "{pool_id}"\nclient_id = "{client_id}"\nusers = 4\n'
        '[[endpoints]]\nname = "items"\npath = "/items"\n'
        '[load]\nprofile = "steady"\nrate = 4\nduration = 2\nvus = 2\n'
        "[fanout]\nworkers = 2\n"
    )
    return path


@pytest.fixture
def deployed(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, code_zip: Path, tmp_path: Path) -> tuple[str, str, str]:
    """A stack deployed with `harness deploy` in STACK_REGION for a pool in POOL_REGION: (stack, pool, client)."""
    monkeypatch.setenv("AWS_REGION", STACK_REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", STACK_REGION)
    pool_id, client_id = pool("regions", POOL_REGION)
    name = f"regions-{tmp_path.name[-12:].replace('_', '-')}".rstrip("-")
    assert main(["deploy", "--stack", name, "--scenario", str(scenario(tmp_path, pool_id, client_id)), "--code", str(code_zip)]) == 0
    return name, pool_id, client_id


def test_fanout_finds_the_stack_where_deploy_put_it_not_in_the_pools_region(
    deployed: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, pool_id, client_id = deployed
    assert boto3.client("cloudformation", region_name=STACK_REGION).describe_stacks(StackName=name)["Stacks"]
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code = main(["fanout", str(scenario(tmp_path, pool_id, client_id)), "--stack", name, "--no-metrics"])
    err = capsys.readouterr().err
    # the stack was found (in eu-central-1, while the pool is in eu-west-2): the cost is printed, then the
    # question, which a non-terminal cannot answer
    assert "does not exist" not in err
    assert "on AWS this run costs about $" in err
    assert code == 2 and "pass --yes to start the run" in err


def test_another_region_given_with_region_is_where_fanout_looks(deployed: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, pool_id, client_id = deployed
    code = main(["fanout", str(scenario(tmp_path, pool_id, client_id)), "--stack", name, "--region", "ap-south-1", "--yes", "--no-metrics"])
    err = capsys.readouterr().err
    assert code == 3 and f"stack {name} does not exist in ap-south-1" in err


def test_a_scenario_whose_pool_is_not_the_stacks_is_refused_before_the_cost_question(
    deployed: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, stack_pool, _ = deployed
    other_pool, other_client = pool("other", "eu-north-1")
    code = main(["fanout", str(scenario(tmp_path, other_pool, other_client)), "--stack", name, "--yes", "--no-metrics"])
    err = capsys.readouterr().err
    assert code == 2
    assert "costs about" not in err and "harness fanout regions" not in err  # refused before anything is said or started
    lines = [line for line in err.splitlines() if other_pool in line]
    assert len(lines) == 1
    assert stack_pool in lines[0] and "region eu-north-1" in lines[0] and f"region {POOL_REGION}" in lines[0]
    assert f"stack {name} in {STACK_REGION}" in lines[0]
    sfn = boto3.client("stepfunctions", region_name=STACK_REGION)
    machines = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == f"{name}-run"]
    assert machines and not sfn.list_executions(stateMachineArn=machines[0])["executions"]  # nothing started
