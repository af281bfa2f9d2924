"""The AWS fault kinds, each applied and put back: against moto where it implements the API
(FIS, REST UpdateStage, Lambda reserved concurrency), otherwise through botocore's Stubber at
the boto3 seam, which checks the exact calls (HTTP API UpdateStage, an access denial)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

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


EXPIRY_ROLE = "arn:aws:iam::123456789012:role/harness-fault-expiry"


def target_of(s: Scenario, *, role: str | None = EXPIRY_ROLE) -> ResolvedTarget:
    return ResolvedTarget(
        base_url=s.target.base_url, user_pool_id=None, client_id=None, region="us-east-1", api_id=s.target.api_id, stage=s.target.stage,
        fault_expiry_role=s.target.fault_expiry_role or role,
    )  # fmt: skip


# ---- FIS, against moto -----------------------------------------------------------------------


def fis_template(fis: Any) -> str:
    return fis.create_experiment_template(
        clientToken="t1",
        description="lambda delay",
        roleArn="arn:aws:iam::123456789012:role/fis",
        stopConditions=[{"source": "none"}],
        actions={"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT5M"}}},
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
    assert fis.get_experiment(id=experiment)["experiment"]["state"]["status"] in ("completed", "stopped")
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


# ---- FIS: what the experiment really did, at the boto3 seam ------------------------------------

from datetime import UTC, datetime  # noqa: E402


def fis_stub() -> tuple[Any, Any]:
    fis = boto3.client("fis", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    lam = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    return fis, lam


def fis_action(fis: Any, lam: Any, *, duration: int = 5) -> FisAction:
    s = scenario(f'[[faults]]\nkind = "fis"\nat = 1\nduration = {duration}\ntemplate = "EXT1"\n')
    action = FisAction(s.faults[0], 0, client=fis, run_id="r", lambda_client=lam)
    action.poll_every = 0.0
    return action


def experiment(status: str, *, reason: str | None = None, actions: dict[str, Any] | None = None) -> dict[str, Any]:
    state = {"status": status, **({"reason": reason} if reason else {})}
    return {"experiment": {"id": "EXP1", "state": state, "actions": actions or {}}}


START = {"experimentTemplateId": "EXT1", "clientToken": ANY, "tags": {"harness:run": "r", "harness:fault": "fis at 1s"}}


def test_a_fis_experiment_that_fails_before_running_fails_the_fault_with_the_reason_fis_gives() -> None:
    fis, lam = fis_stub()
    action = fis_action(fis, lam)
    with Stubber(fis) as stub:
        stub.add_response("start_experiment", {"experiment": {"id": "EXP1", "state": {"status": "initiating"}}}, START)
        stub.add_response("get_experiment", experiment("initiating"), {"id": "EXP1"})
        stub.add_response("get_experiment", experiment("failed", reason="Target resolution returned empty set"), {"id": "EXP1"})
        with pytest.raises(FaultError, match=r"faults\[0\].*FIS experiment EXP1 failed before it ran: Target resolution returned empty set"):
            action.start(until=0)
        stub.assert_no_pending_responses()
    action.stop()  # FIS ended it: nothing to stop, no call


@pytest.mark.parametrize("status", ["cancelled", "stopped"])
def test_a_fis_experiment_cancelled_or_stopped_before_running_fails_the_fault(status: str) -> None:
    fis, lam = fis_stub()
    action = fis_action(fis, lam)
    with Stubber(fis) as stub:
        stub.add_response("start_experiment", {"experiment": {"id": "EXP1"}}, START)
        stub.add_response("get_experiment", experiment(status, reason="Stop condition triggered"), {"id": "EXP1"})
        with pytest.raises(FaultError, match=f"{status} before it ran: Stop condition triggered"):
            action.start(until=0)


def test_a_fis_fault_records_its_actions_real_start_and_end_not_the_api_call_times() -> None:
    from harness.faults.scheduler import FaultScheduler

    fis, lam = fis_stub()
    action = fis_action(fis, lam)
    began, ended = datetime(2030, 1, 1, 0, 0, 3, tzinfo=UTC), datetime(2030, 1, 1, 0, 0, 9, tzinfo=UTC)
    running = experiment("running", actions={"delay": {"actionId": "aws:lambda:invocation-add-delay", "startTime": began}})
    stopped = experiment("stopped", actions={"delay": {"actionId": "aws:lambda:invocation-add-delay", "startTime": began, "endTime": ended}})
    scheduler = FaultScheduler([action], clock=lambda: 1_000.0)
    scheduler.t0 = 999.0
    with Stubber(fis) as stub:
        stub.add_response("start_experiment", {"experiment": {"id": "EXP1"}}, START)
        stub.add_response("get_experiment", experiment("pending"), {"id": "EXP1"})
        stub.add_response("get_experiment", running, {"id": "EXP1"})
        stub.add_response("get_experiment", running, {"id": "EXP1"})  # at the end: still running
        stub.add_response("stop_experiment", experiment("stopping"), {"id": "EXP1"})
        stub.add_response("get_experiment", experiment("stopping"), {"id": "EXP1"})
        stub.add_response("get_experiment", stopped, {"id": "EXP1"})
        scheduler._start(scheduler._slots[0])
        assert scheduler.records()[0]["started_at"] == began.timestamp()
        scheduler.end_all("completed")
        stub.assert_no_pending_responses()
    [record] = scheduler.records()
    assert (record["started_at"], record["ended_at"]) == (began.timestamp(), ended.timestamp())
    assert record["details"]["called_at"] == 1_000.0 and record["error"] is None


def fis_template_answer(actions: dict[str, Any], targets: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"experimentTemplate": {"id": "EXT1", "actions": actions, "targets": targets or {}}}


def test_a_fis_action_shorter_than_the_faults_window_is_refused_before_the_run() -> None:
    fis, lam = fis_stub()
    action = fis_action(fis, lam, duration=50)
    with Stubber(fis) as stub:
        stub.add_response(
            "get_experiment_template", fis_template_answer({"slow": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT30S"}}}), {"id": "EXT1"}
        )
        with pytest.raises(FaultError, match=r"action 'slow' lasts PT30S \(30 s\), less than the fault's 50 s window; set its duration to at least PT50S"):
            action.check()


LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"
DELAY = {"delay": {"actionId": "aws:lambda:invocation-add-delay", "parameters": {"duration": "PT10M"}, "targets": {"Functions": "fns"}}}
FNS = {"fns": {"resourceType": "aws:lambda:function", "resourceArns": [LAMBDA_ARN], "selectionMode": "ALL"}}
LAYER = "arn:aws:lambda:us-east-1:211125607513:layer:aws-fis-extension-x86_64:9"
GOOD_ENV = {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/aws-fis/bootstrap", "AWS_FIS_CONFIGURATION_LOCATION": "arn:aws:s3:::fis-configs/FisConfigs/"}


@pytest.mark.parametrize(
    ("layers", "env", "problem"),
    [
        ([], GOOD_ENV, "has no AWS FIS Lambda extension layer"),
        ([{"Arn": LAYER}], {**GOOD_ENV, "AWS_LAMBDA_EXEC_WRAPPER": ""}, "needs the environment variable AWS_LAMBDA_EXEC_WRAPPER=/opt/aws-fis/bootstrap"),
        ([{"Arn": LAYER}], {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/aws-fis/bootstrap"}, "needs AWS_FIS_CONFIGURATION_LOCATION set to the configuration bucket's ARN"),
        ([{"Arn": LAYER}], {**GOOD_ENV, "AWS_FIS_CONFIGURATION_LOCATION": "s3://fis-configs/FisConfigs/"}, "needs AWS_FIS_CONFIGURATION_LOCATION"),
        ([{"Arn": LAYER}], GOOD_ENV, None),
    ],
)
def test_a_lambda_fis_action_needs_the_fis_extension_layer_and_its_variables_on_every_target(
    layers: list[Any], env: dict[str, str], problem: str | None
) -> None:
    fis, lam = fis_stub()
    action = fis_action(fis, lam)
    with Stubber(fis) as fstub, Stubber(lam) as lstub:
        fstub.add_response("get_experiment_template", fis_template_answer(DELAY, FNS), {"id": "EXT1"})
        lstub.add_response(
            "get_function_configuration", {"FunctionName": "orders", "Layers": layers, "Environment": {"Variables": env}}, {"FunctionName": LAMBDA_ARN}
        )
        if problem is None:
            action.check()
        else:
            with pytest.raises(FaultError, match=f"function orders, a target of FIS action 'delay', {re.escape(problem)}"):
                action.check()
        lstub.assert_no_pending_responses()


def test_a_lambda_fis_action_whose_functions_are_picked_by_tags_is_refused_as_uncheckable() -> None:
    fis, lam = fis_stub()
    action = fis_action(fis, lam)
    with Stubber(fis) as stub:
        stub.add_response(
            "get_experiment_template",
            fis_template_answer(DELAY, {"fns": {"resourceType": "aws:lambda:function", "resourceTags": {"app": "orders"}}}),
            {"id": "EXT1"},
        )
        with pytest.raises(FaultError, match="picks its functions by tags or filters.*name them in the target's resourceArns"):
            action.check()


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
    s = scenario(
        '[[faults]]\nkind = "stage_throttle"\nat = 1\nduration = 5\nrate = 10\nburst = 5\n',
        base_url=f"https://{api_id}.execute-api.us-east-1.amazonaws.com/prod",
    )
    [action] = build_actions(s, target=target_of(s), aws=aws)
    assert isinstance(action, StageThrottleAction) and (action.api_id, action.stage) == (api_id, "prod")
    action.check()
    details = action.start(until=0)
    assert details["previous"] == {"rate": 500.0, "burst": 250, "exists": True} and details["per"] == "method"
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


def test_http_api_stage_throttle_writes_only_the_throttling_fields_and_puts_them_back() -> None:
    client = boto3.client("apigatewayv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    s = scenario(
        '[[faults]]\nkind = "stage_throttle"\nat = 1\nduration = 5\nrate = 10\nburst = 5\n',
        base_url="https://abc123.execute-api.us-east-1.amazonaws.com",
        kind="http",
    )
    [action] = build_actions(s, target=target_of(s), aws=type("A", (), {"client": lambda self, name: client})())
    assert (action.api_id, action.stage) == ("abc123", "$default")
    # GetStage shows LoggingLevel and DataTraceEnabled, which UpdateStage refuses for HTTP APIs: never echoed back
    before = {"DetailedMetricsEnabled": True, "LoggingLevel": "OFF", "DataTraceEnabled": False, "ThrottlingRateLimit": 2000.0, "ThrottlingBurstLimit": 1000}
    key = {"ApiId": "abc123", "StageName": "$default"}
    with Stubber(client) as stub:
        stub.add_response("get_stage", {"StageName": "$default", "DefaultRouteSettings": before}, key)  # check
        stub.add_response("get_stage", {"StageName": "$default", "DefaultRouteSettings": before}, key)  # start
        stub.add_response("update_stage", {}, {**key, "DefaultRouteSettings": {"ThrottlingRateLimit": 10.0, "ThrottlingBurstLimit": 5}})
        stub.add_response("update_stage", {}, {**key, "DefaultRouteSettings": {"ThrottlingRateLimit": 2000.0, "ThrottlingBurstLimit": 1000}})
        action.check()
        assert action.start(until=0)["per"] == "route" and action.describe().endswith("per route")
        action.stop()
        stub.assert_no_pending_responses()


def test_a_managed_quick_create_stage_is_refused_before_the_run_since_it_cannot_be_updated() -> None:
    client = boto3.client("apigatewayv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    s = scenario('[[faults]]\nkind = "stage_throttle"\nat = 1\nduration = 5\nrate = 10\nburst = 5\n', kind="http")
    action = StageThrottleAction(s.faults[0], 0, client=client, api_kind="http", api_id="abc123", stage="$default")
    with Stubber(client) as stub:
        stub.add_response(
            "get_stage",
            {"StageName": "$default", "ApiGatewayManaged": True, "DefaultRouteSettings": {"ThrottlingRateLimit": 10000.0, "ThrottlingBurstLimit": 5000}},
        )
        with pytest.raises(FaultError, match=r"faults\[0\].*is managed by API Gateway \(quick create\), which refuses UpdateStage"):
            action.check()


def test_routes_and_methods_with_their_own_throttling_are_named_and_refused_before_the_run() -> None:
    s = scenario('[[faults]]\nkind = "stage_throttle"\nat = 1\nduration = 5\nrate = 10\nburst = 5\n', kind="http")
    http = boto3.client("apigatewayv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    action = StageThrottleAction(s.faults[0], 0, client=http, api_kind="http", api_id="abc123", stage="prod")
    with Stubber(http) as stub:
        stub.add_response("get_stage", {
            "StageName": "prod", "DefaultRouteSettings": {"ThrottlingRateLimit": 100.0, "ThrottlingBurstLimit": 50},
            "RouteSettings": {"GET /items": {"ThrottlingRateLimit": 5.0, "ThrottlingBurstLimit": 5}, "POST /orders": {"DetailedMetricsEnabled": True}},
        })  # fmt: skip
        with pytest.raises(FaultError, match=r"routes GET /items of stage 'prod' have throttling of their own.*per route"):
            action.check()
    rest = boto3.client("apigateway", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    action = StageThrottleAction(s.faults[0], 0, client=rest, api_kind="rest", api_id="a1b2c3d4e5", stage="prod")
    with Stubber(rest) as stub:
        stub.add_response(
            "get_stage",
            {
                "stageName": "prod",
                "methodSettings": {"*/*": {"throttlingRateLimit": 100.0}, "items/GET": {"throttlingRateLimit": 5.0, "throttlingBurstLimit": 5}},
            },
        )
        with pytest.raises(FaultError, match=r"methods items/GET of stage 'prod' have throttling of their own.*per method"):
            action.check()


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
    restore = (
        {"service": "lambda", "operation": "delete_function_concurrency", "params": {"FunctionName": name}} if before is None
        else {"service": "lambda", "operation": "put_function_concurrency", "params": {"FunctionName": name, "ReservedConcurrentExecutions": before}}
    )  # fmt: skip
    assert action.start(until=0) == {"function": name, "previous_reserved": before, "reserved": 1, "restore": restore}
    assert client.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 1
    action.stop()
    assert client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") == before


def test_lambda_concurrency_needs_to_know_the_function() -> None:
    s = scenario('[[faults]]\nkind = "lambda_concurrency"\nat = 1\nduration = 5\nreserved = 1\n', extra='lambda_functions = ["a", "b"]')
    with pytest.raises(FaultError, match=r"faults\[0\]\.function: say which function .* 2: a, b"):
        build_actions(s, target=target_of(s), aws=AwsContext(region="us-east-1"))


# ---- expiry: AWS faults put back by EventBridge Scheduler should harness die (moto's scheduler) -----


def started_scheduler(s: Scenario, aws: AwsContext, *, t0: float) -> Any:
    from harness.faults.scheduler import check_faults

    scheduler = check_faults(s, target=target_of(s), aws=aws, run_id="run-42")
    scheduler.t0 = t0
    scheduler._start(scheduler._slots[0])
    return scheduler


def test_a_started_aws_fault_gets_a_one_time_schedule_with_the_exact_put_back_call_deleted_on_a_normal_end(aws_env: dict[str, str]) -> None:
    import json
    from datetime import datetime

    aws = AwsContext(region="us-east-1")
    lambda_function(aws, "orders-expiry")
    client = aws.client("lambda")
    client.put_function_concurrency(FunctionName="orders-expiry", ReservedConcurrentExecutions=7)
    s = scenario('[[faults]]\nkind = "lambda_concurrency"\nat = 1\nduration = 5\nreserved = 0\nfunction = "orders-expiry"\n')
    scheduler = started_scheduler(s, aws, t0=1_900_000_000.0)
    [record] = scheduler.records()
    assert record["error"] is None and record["details"]["previous_reserved"] == 7
    name = record["details"]["expiry_schedule"]
    got = aws.client("scheduler").get_schedule(Name=name)
    at = datetime.fromtimestamp(1_900_000_000.0 + 6 + 120, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert got["ScheduleExpression"] == f"at({at})" and got["ScheduleExpressionTimezone"] == "UTC"
    assert got["ActionAfterCompletion"] == "DELETE" and got["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert got["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:lambda:putFunctionConcurrency" and got["Target"]["RoleArn"] == EXPIRY_ROLE
    assert json.loads(got["Target"]["Input"]) == {"FunctionName": "orders-expiry", "ReservedConcurrentExecutions": 7}
    assert client.get_function_concurrency(FunctionName="orders-expiry")["ReservedConcurrentExecutions"] == 0
    assert scheduler.end_all("completed") == []
    assert client.get_function_concurrency(FunctionName="orders-expiry")["ReservedConcurrentExecutions"] == 7
    with pytest.raises(aws.client("scheduler").exceptions.ResourceNotFoundException):
        aws.client("scheduler").get_schedule(Name=name)
    assert scheduler.records()[0]["details"]["expiry_schedule_deleted"] is True


def test_a_rest_stage_throttle_schedule_calls_update_stage_with_the_previous_limits(aws_env: dict[str, str]) -> None:
    import json

    aws = AwsContext(region="us-east-1")
    api_id = rest_api(aws)
    aws.client("apigateway").update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "500"},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "250"},
    ])  # fmt: skip
    s = scenario(
        '[[faults]]\nkind = "stage_throttle"\nat = 1\nduration = 5\nrate = 10\nburst = 5\n',
        base_url=f"https://{api_id}.execute-api.us-east-1.amazonaws.com/prod",
    )
    scheduler = started_scheduler(s, aws, t0=1_900_000_000.0)
    got = aws.client("scheduler").get_schedule(Name=scheduler.records()[0]["details"]["expiry_schedule"])
    assert got["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:apigateway:updateStage"
    assert json.loads(got["Target"]["Input"]) == {"RestApiId": api_id, "StageName": "prod", "PatchOperations": [
        {"Op": "replace", "Path": "/*/*/throttling/rateLimit", "Value": "500"},
        {"Op": "replace", "Path": "/*/*/throttling/burstLimit", "Value": "250"},
    ]}  # fmt: skip
    scheduler.end_all("completed")


def test_a_fault_harness_could_not_put_back_keeps_its_schedule(aws_env: dict[str, str]) -> None:
    aws = AwsContext(region="us-east-1")
    lambda_function(aws, "orders-gone")
    s = scenario('[[faults]]\nkind = "lambda_concurrency"\nat = 1\nduration = 5\nreserved = 0\nfunction = "orders-gone"\n')
    scheduler = started_scheduler(s, aws, t0=1_900_000_000.0)
    name = scheduler.records()[0]["details"]["expiry_schedule"]
    aws.client("lambda").delete_function(FunctionName="orders-gone")
    problems = scheduler.end_all("completed")
    assert problems and "orders-gone" in problems[0]
    assert aws.client("scheduler").get_schedule(Name=name)["Name"] == name  # still there: it will try again


def test_an_aws_fault_without_an_expiry_role_is_refused_before_the_run() -> None:
    s = scenario('[[faults]]\nkind = "lambda_concurrency"\nat = 1\nduration = 5\nreserved = 0\nfunction = "orders"\n')
    with pytest.raises(FaultError, match=r"faults\[0\]\.kind: 'lambda_concurrency' changes an AWS setting .* set target\.fault_expiry_role"):
        check_faults(s, target=target_of(s, role=None), aws=AwsContext(region="us-east-1"))
    bad = scenario('[[faults]]\nkind = "lambda_concurrency"\nat = 1\nduration = 5\nreserved = 0\nfunction = "orders"\n', extra='fault_expiry_role = "my-role"')
    with pytest.raises(FaultError, match=r"target\.fault_expiry_role: 'my-role' is not an IAM role ARN"):
        check_faults(bad, target=target_of(bad), aws=type("A", (), {"client": lambda self, name: boto3.client(name, region_name="us-east-1")})())


def test_faults_restore_puts_back_what_a_dead_run_left_changed_and_deletes_its_schedule(
    aws_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main
    from harness.results import ResultSet

    aws = AwsContext(region="us-east-1")
    lambda_function(aws, "orders-dead")
    client = aws.client("lambda")
    client.put_function_concurrency(FunctionName="orders-dead", ReservedConcurrentExecutions=9)
    s = scenario('[[faults]]\nname = "zero"\nkind = "lambda_concurrency"\nat = 1\nduration = 5\nreserved = 0\nfunction = "orders-dead"\n')
    scheduler = started_scheduler(s, aws, t0=1_900_000_000.0)
    # the harness process dies here: what it recorded so far is all there is
    records = scheduler.records()
    assert records[0]["put_back"] is None and records[0]["details"]["previous_reserved"] == 9
    ResultSet(run_id="run-42", meta={"faults": records, "target": {"region": "us-east-1"}}, scenario=s.model_dump(mode="json")).save(tmp_path / "results.json")
    assert client.get_function_concurrency(FunctionName="orders-dead")["ReservedConcurrentExecutions"] == 0
    assert main(["faults", "restore", str(tmp_path)]) == 0
    assert client.get_function_concurrency(FunctionName="orders-dead")["ReservedConcurrentExecutions"] == 9
    assert "zero: put back (lambda put_function_concurrency FunctionName=orders-dead, ReservedConcurrentExecutions=9)" in capsys.readouterr().out
    with pytest.raises(aws.client("scheduler").exceptions.ResourceNotFoundException):
        aws.client("scheduler").get_schedule(Name=records[0]["details"]["expiry_schedule"])
    # a run whose faults harness put back itself: nothing to do unless asked
    scheduler2 = started_scheduler(s, aws, t0=1_900_000_000.0)
    scheduler2.end_all("completed")
    ResultSet(run_id="run-43", meta={"faults": scheduler2.records(), "target": {"region": "us-east-1"}}, scenario=s.model_dump(mode="json")).save(
        tmp_path / "r2" / "results.json"
    )
    assert main(["faults", "restore", str(tmp_path / "r2")]) == 0
    assert "zero: put back by harness at the end of its window; nothing to do" in capsys.readouterr().out
