"""``local`` names resolved to the running local stack (its info given inline, as
``harness run --local`` gives it to Locust), and AWS names left alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.aws import AwsContext
from harness.errors import ScenarioError
from harness.local.stack import LocalStackInfo
from harness.scenario import Scenario
from harness.target import default_region, resolve_pool, resolve_target, scenario_region

INFO = LocalStackInfo(
    endpoint_url="http://127.0.0.1:4599",
    api_url="http://127.0.0.1:4600",
    region="eu-west-1",
    user_pool_id="eu-west-1_local",
    client_id="localclient",
    api_id="harnesslcl",
    stage="$default",
    pids={"moto": os.getpid()},  # alive: the stack counts as running
    log_dir="/tmp",
)


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_LOCAL_INFO", INFO.model_dump_json())
    for key in INFO.env(jwks=False):  # unset, and restored after the test
        monkeypatch.delenv(key, raising=False)


def test_local_pool_is_the_stacks_and_boto3_is_pointed_at_it(local: None) -> None:
    assert resolve_pool("local", None) == ("eu-west-1_local", "eu-west-1")
    assert resolve_pool("local", "us-east-2") == ("eu-west-1_local", "us-east-2")
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4599"
    assert os.environ["AWS_REGION"] == "eu-west-1"


def test_an_aws_pool_is_left_as_it_is_and_names_its_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_LOCAL_INFO", raising=False)
    assert resolve_pool("eu-west-1_AbC", None) == ("eu-west-1_AbC", "eu-west-1")
    assert resolve_pool("eu-west-1_AbC", "eu-west-2") == ("eu-west-1_AbC", "eu-west-2")  # an explicit --region wins


# ---- the region ----------------------------------------------------------------------------------

URL = "https://abc123.execute-api.eu-west-1.amazonaws.com"


def scenario(base_url: str = URL, pool: str = "eu-west-1_AbCdEf123", region: str | None = None) -> Scenario:
    auth: dict[str, object] = {"user_pool_id": pool, "client_id": "abc"}
    if region:
        auth["region"] = region
    return Scenario.from_dict(
        {
            "name": "s",
            "target": {"base_url": base_url},
            "auth": auth,
            "endpoints": [{"name": "a", "path": "/a"}],
            "load": {"profile": "steady", "rate": 1, "duration": 1},
        }
    )


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment that names us-east-1 (as the issue's user had), no local stack."""
    monkeypatch.delenv("HARNESS_LOCAL_INFO", raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return monkeypatch


def test_the_region_comes_from_the_pool_id_and_the_url_not_the_environment(aws_env: pytest.MonkeyPatch) -> None:
    target = resolve_target(scenario())
    assert (target.region, target.region_source) == ("eu-west-1", "the user pool id")
    assert scenario_region(scenario(pool="local", base_url=URL)) == ("eu-west-1", "the target URL")
    assert scenario_region(scenario(region="eu-west-1")) == ("eu-west-1", "auth.region")


def test_conflicting_regions_are_refused_in_one_line(aws_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario_region(scenario(base_url=URL.replace("eu-west-1", "us-east-2")), source="s.toml")
    message = str(caught.value)
    assert message.startswith("s.toml: target.base_url: the target URL names region us-east-2, but the user pool id names eu-west-1")
    assert caught.value.exit_code == 2 and "\n" not in message
    with pytest.raises(ScenarioError, match="auth.user_pool_id: the user pool id names region eu-west-1, but auth.region names eu-central-1"):
        scenario_region(scenario(region="eu-central-1"))


def test_without_a_region_in_the_scenario_the_environment_and_profile_decide(aws_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    custom = scenario(base_url="https://api.example.com", pool="local")
    assert scenario_region(custom) == (None, "")
    assert default_region() == ("us-east-1", "AWS_REGION")
    aws_env.delenv("AWS_REGION")
    aws_env.delenv("AWS_DEFAULT_REGION", raising=False)
    config = tmp_path / "config"
    config.write_text("[profile team]\nregion = ap-southeast-2\n")
    aws_env.setenv("AWS_CONFIG_FILE", str(config))
    aws_env.setenv("AWS_PROFILE", "team")
    assert default_region() == ("ap-southeast-2", "the AWS profile team")
    assert AwsContext().region == "ap-southeast-2"
    aws_env.delenv("AWS_PROFILE")
    assert default_region() == ("us-east-1", "the default")


def test_an_execute_api_url_names_the_api_and_stage_for_cloudwatch(aws_env: pytest.MonkeyPatch) -> None:
    assert (resolve_target(scenario()).api_id, resolve_target(scenario()).stage) == ("abc123", "$default")
    staged = resolve_target(scenario(base_url=URL + "/prod"))
    assert (staged.api_id, staged.stage) == ("abc123", "prod")
    custom = resolve_target(scenario(base_url="https://api.example.com", pool="eu-west-1_AbC"))
    assert (custom.api_id, custom.stage) == (None, None)
