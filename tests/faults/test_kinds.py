"""The AWS fault kinds, each applied and put back: against moto where it implements the API
(FIS, REST UpdateStage, Lambda reserved concurrency), otherwise through botocore's Stubber at
the boto3 seam, which checks the exact calls (HTTP API UpdateStage, an access denial)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from harness.aws import AwsContext
from harness.errors import FaultError
from harness.faults.kinds import FisAction, LambdaConcurrencyAction, StageThrottleAction, build_actions
from harness.faults.scheduler import check_faults
from harness.scenario import Scenario
from harness.target import ResolvedTarget


def scenario(faults: str, *, base_url: str = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod", kind: str = "rest", extra: str = "") -> Scenario:
    import tomllib

    text = (
        f'name = "f"\n[target]\nbase_url = "{base_url}"\napi_kind = "{kind}"\n{extra}\n[[endpoints]]\nname = "list"\npath = "/items"\n'
        f'[load]\nprofile = "steady"\nrate = 10\nduration = "60s"\n{faults}'
    )
    return Scenario.from_dict(tomllib.loads(text))


def target_of(s: Scenario) -> ResolvedTarget:
    return ResolvedTarget(base_url=s.target.base_url, user_pool_id=None, client_id=None, region="us-east-1", api_id=s.target.api_id, stage=s.target.stage)


# ---- FIS, against moto -----------------------------------------------------------------------


def fis_template(fis: Any) -> str:
    return fis.create_experiment_template(
        clientToken="t1",
        description="lambda delay",
        roleArn="arn:aws:iam::123456789012:role/fis",
        stopConditions=[{"source": "none"}],
        actions={"delay": {"actionId": "aws:lambda:invocation-add-delay", "parameters": {"duration": "PT5M"}}},
        targets={},
    )["experimentTemplate"]["id"]


def test_fis_starts_an_experiment_from_the_template_and_stops_it(aws_env: dict[str, str]) -> None:
    aws = AwsContext(region="us-east-1")
    fis = aws.client("fis")
    template = fis_template(fis)
    s = scenario(f'[[faults]]\nkind = "fis"\nat = 1\nduration = 5\ntemplate = "{template}"\n')
    [action] = build_actions(s, target=target_of(s), aws=aws, run_id="r1")
    assert isinstance(action, FisAction)
    action.check()
    details = action.start(until=0)
    experiment = details["experiment"]
    got = fis.get_experiment(id=experiment)["experiment"]
    assert got["experimentTemplateId"] == template and got["tags"]["harness:run"] == "r1"
    action.stop()
    assert fis.get_experiment(id=experiment)["experiment"]["state"]["status"] in ("stopping", "stopped")
    action.stop()  # idempotent: nothing left to stop


def test_a_missing_fis_template_refuses_the_run_naming_the_id(aws_env: dict[str, str]) -> None:
    s = scenario('[[faults]]\nkind = "fis"\nat = 1\nduration = 5\ntemplate = "EXTnope"\n')
    with pytest.raises(FaultError) as info:
        check_faults(s, target=target_of(s), aws=AwsContext(region="us-east-1"))
    assert "faults[0]" in str(info.value) and "EXTnope" in str(info.value) and "does not exist" in str(info.value)


def test_a_missing_permission_names_the_iam_action() -> None:
    fis = boto3.client("fis", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    s = scenario('[[faults]]\nkind = "fis"\nat = 1\nduration = 5\ntemplate = "EXT1"\n')
    action = FisAction(s.faults[0], 0, client=fis, run_id="r")
    with Stubber(fis) as stub:
        stub.add_client_error("get_experiment_template", service_error_code="AccessDeniedException", http_status_code=403, expected_params={"id": "EXT1"})
        with pytest.raises(FaultError) as info:
            action.check()
    assert "fis:GetExperimentTemplate" in str(info.value)


# ---- REST stage throttling, against moto -----------------------------------------------------


def rest_api(aws: AwsContext) -> str:
    api = aws.client("apigateway")
    api_id = api.create_rest_api(name="orders")["id"]
    root = api.get_resources(restApiId=api_id)["items"][0]["id"]
    api.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    api.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    api.create_deployment(restApiId=api_id, stageName="prod")
    return api_id


def test_rest_stage_throttle_lowers_and_puts_back_the_previous_limits(aws_env: dict[str, str]) -> None:
    aws = AwsContext(region="us-east-1")
    api_id = rest_api(aws)
    client = aws.client("apigateway")
    client.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "500"},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "250"},
    ])  # fmt: skip
    s = scenario('[[faults]]\nkind = "stage_throttle"\nat = 1\nduration = 5\nrate = 10\nburst = 5\n', base_url=f"https://{api_id}.execute-api.us-east-1.amazonaws.com/prod")
    [action] = build_actions(s, target=target_of(s), aws=aws)
    assert isinstance(action, StageThrottleAction) and (action.api_id, action.stage) == (api_id, "prod")
    action.check()
    details = action.start(until=0)
    assert details["previous"] == {"rate": 500.0, "burst": 250}
    settings = client.get_stage(restApiId=api_id, stageName="prod")["methodSettings"]["*/*"]
    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (10.0, 5)
    action.stop()
    settings = client.get_stage(restApiId=api_id, stageName="prod")["methodSettings"]["*/*"]
    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (500.0, 250)


def test_a_missing_stage_is_refused_before_load(aws_env: dict[str, str]) -> None:
    s = scenario('[[faults]]\nkind = "stage_throttle"\nat = 1\nduration = 5\nrate = 10\nburst = 5\napi_id = "nope123"\n')
    with pytest.raises(FaultError) as info:
        check_faults(s, target=target_of(s), aws=AwsContext(region="us-east-1"))
    assert "faults[0]" in str(info.value) and "nope123" in str(info.value)


def test_rest_stage_without_method_settings_is_put_back_by_removing_them() -> None:
    """Exact calls at the boto3 seam: no */* settings before -> replace both, then remove */*."""
    client = boto3.client("apigateway", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    s = scenario('[[faults]]\nkind = "stage_throttle"\nat = 1\nduration = 5\nrate = 10\nburst = 5\n')
    action = StageThrottleAction(s.faults[0], 0, client=client, api_kind="rest", api_id="a1b2c3d4e5", stage="prod")
    key = {"restApiId": "a1b2c3d4e5", "stageName": "prod"}
    with Stubber(client) as stub:
        stub.add_response("get_stage", {"stageName": "prod", "methodSettings": {}}, key)
        stub.add_response("update_stage", {}, {**key, "patchOperations": [
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "10"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "5"},
        ]})  # fmt: skip
        stub.add_response("update_stage", {}, {**key, "patchOperations": [{"op": "remove", "path": "/*/*"}]})
        action.start(until=0)
        action.stop()
        stub.assert_no_pending_responses()


# ---- HTTP API stage throttling (moto lacks apigatewayv2 UpdateStage): exact calls -------------


def test_http_api_stage_throttle_calls_update_stage_then_restores_exactly() -> None:
    client = boto3.client("apigatewayv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    s = scenario('[[faults]]\nkind = "stage_throttle"\nat = 1\nduration = 5\nrate = 10\nburst = 5\n', base_url="https://abc123.execute-api.us-east-1.amazonaws.com", kind="http")
    [action] = build_actions(s, target=target_of(s), aws=type("A", (), {"client": lambda self, name: client})())
    assert (action.api_id, action.stage) == ("abc123", "$default")
    before = {"DetailedMetricsEnabled": True, "ThrottlingRateLimit": 2000.0, "ThrottlingBurstLimit": 1000}
    key = {"ApiId": "abc123", "StageName": "$default"}
    with Stubber(client) as stub:
        stub.add_response("get_stage", {"StageName": "$default", "DefaultRouteSettings": before}, key)  # check
        stub.add_response("get_stage", {"StageName": "$default", "DefaultRouteSettings": before}, key)  # start
        stub.add_response("update_stage", {}, {**key, "DefaultRouteSettings": {**before, "ThrottlingRateLimit": 10.0, "ThrottlingBurstLimit": 5}})
        stub.add_response("update_stage", {}, {**key, "DefaultRouteSettings": before})
        action.check()
        action.start(until=0)
        action.stop()
        stub.assert_no_pending_responses()


def test_http_api_stage_without_throttling_is_refused_since_it_cannot_be_put_back() -> None:
    client = boto3.client("apigatewayv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    s = scenario('[[faults]]\nkind = "stage_throttle"\nat = 1\nduration = 5\nrate = 10\nburst = 5\n', kind="http")
    action = StageThrottleAction(s.faults[0], 0, client=client, api_kind="http", api_id="abc123", stage="$default")
    with Stubber(client) as stub:
        stub.add_response("get_stage", {"StageName": "$default", "DefaultRouteSettings": {"DetailedMetricsEnabled": False}})
        with pytest.raises(FaultError, match="no default route throttling to put back"):
            action.check()


# ---- Lambda reserved concurrency, against moto ------------------------------------------------


def lambda_function(aws: AwsContext, name: str) -> None:
    iam = aws.client("iam")
    try:
        role = iam.create_role(RoleName="fault-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="fault-test")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return {}\n")
    aws.client("lambda").create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler", Code={"ZipFile": buf.getvalue()})


@pytest.mark.parametrize("before", [None, 7])
def test_lambda_concurrency_is_set_then_put_back_as_it_was(aws_env: dict[str, str], before: int | None) -> None:
    aws = AwsContext(region="us-east-1")
    name = f"orders-{before}"
    lambda_function(aws, name)
    client = aws.client("lambda")
    if before is not None:
        client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=before)
    s = scenario('[[faults]]\nkind = "lambda_concurrency"\nat = 1\nduration = 5\nreserved = 1\n', extra=f'lambda_functions = ["{name}"]')
    [action] = build_actions(s, target=target_of(s), aws=aws)
    assert isinstance(action, LambdaConcurrencyAction) and action.function == name
    action.check()
    assert action.start(until=0) == {"function": name, "previous_reserved": before, "reserved": 1}
    assert client.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 1
    action.stop()
    assert client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") == before


def test_lambda_concurrency_needs_to_know_the_function() -> None:
    s = scenario('[[faults]]\nkind = "lambda_concurrency"\nat = 1\nduration = 5\nreserved = 1\n', extra='lambda_functions = ["a", "b"]')
    with pytest.raises(FaultError, match=r"faults\[0\]\.function: say which function .* 2: a, b"):
        build_actions(s, target=target_of(s), aws=AwsContext(region="us-east-1"))
