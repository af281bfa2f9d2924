"""deploy_stack / destroy_stack against a real moto server: the real template, real change sets.

The server runs with ``harness.local.cloudformation`` (state machines where they execute,
DefinitionS3Location, outputs after change sets, resource events) and the local Lambda
runtime, so the deployed state machines really run: ``test_the_run_state_machine_runs_*``
deploys contract stubs of the three handlers (what the ASL sends and expects, nothing more) to
test the wiring of infra/statemachines/run.asl.json; the handlers' own tests run the real ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from harness.aws import AwsContext
from harness.errors import HarnessError, UsageError
from harness.fanout.deploy import check_stack_name, deploy_stack, destroy_stack, stack_outputs
from harness.fanout.package import build_package

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "fanout.yaml"
OUTPUTS = {
    "RunStateMachineArn", "CleanupStateMachineArn", "ResultsBucket",
    "ControllerFunctionName", "WorkerFunctionName", "AggregatorFunctionName",
}  # fmt: skip


@pytest.fixture
def aws(aws_env: dict[str, str]) -> AwsContext:
    """boto3 pointed at the session's moto server (``aws_env`` in tests/conftest.py)."""
    return AwsContext()


@pytest.fixture
def target(aws: AwsContext) -> dict[str, str]:
    cognito = aws.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="fanout-deploy")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(UserPoolId=pool, ClientName="fanout")["UserPoolClient"]["ClientId"]
    return {"TargetUrl": "http://127.0.0.1:9/api", "UserPoolId": pool, "UserPoolClientId": client}


@pytest.fixture(scope="module")
def code_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(out=tmp_path_factory.mktemp("code") / "fanout.zip", deps=False).path


def _deploy(aws: AwsContext, name: str, parameters: dict[str, str], code: Path, **kwargs: Any) -> dict[str, str]:
    return deploy_stack(
        cloudformation=aws.client("cloudformation"), s3=aws.client("s3"), sts=aws.client("sts"),
        stack_name=name, template=kwargs.pop("template", TEMPLATE), parameters=parameters, code_zip=code, poll=0.2, **kwargs,
    )  # fmt: skip


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of infra/ whose template has ``old`` replaced by ``new`` (once)."""
    shutil.copytree(TEMPLATE.parent, tmp_path / "infra")
    template = tmp_path / "infra" / TEMPLATE.name
    text = template.read_text()
    assert old in text
    template.write_text(text.replace(old, new, 1))
    return template


def _sha(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


# --------------------------------------------------------------------------- deploy


def test_deploy_creates_the_whole_stack(aws: AwsContext, target: dict[str, str], code_zip: Path) -> None:
    events: list[dict[str, Any]] = []
    outputs = _deploy(aws, "fan-create", {**target, "WorkerMemory": "2048"}, code_zip, on_event=events.append)

    assert set(outputs) == OUTPUTS
    lam = aws.client("lambda")
    functions = {
        kind: lam.get_function(FunctionName=outputs[f"{kind.title()}FunctionName"])["Configuration"] for kind in ("controller", "worker", "aggregator")
    }
    for kind, config in functions.items():
        assert config["FunctionName"] == f"fan-create-{kind}"
        assert config["Handler"] == f"harness.fanout.handlers.{kind}"
        assert config["Runtime"] == "python3.12"
        assert config["CodeSha256"] == _sha(code_zip)
        assert config["Environment"]["Variables"]["RESULTS_BUCKET"] == outputs["ResultsBucket"]
    assert (functions["worker"]["MemorySize"], functions["worker"]["Timeout"]) == (2048, 900)
    assert (functions["aggregator"]["MemorySize"], functions["aggregator"]["Timeout"]) == (3008, 900)
    env = {k: str(v) for k, v in functions["controller"]["Environment"]["Variables"].items()}  # moto keeps numbers
    assert env == {
        "RESULTS_BUCKET": outputs["ResultsBucket"], "DEFAULT_BASE_URL": target["TargetUrl"],
        "DEFAULT_USER_POOL_ID": target["UserPoolId"], "DEFAULT_CLIENT_ID": target["UserPoolClientId"],
        "DEFAULT_PATH": "/", "HARNESS_START_LEAD": "20", "HARNESS_WORKER_TIMEOUT": "900",
    }  # fmt: skip

    sfn = aws.client("stepfunctions")
    run = sfn.describe_state_machine(stateMachineArn=outputs["RunStateMachineArn"])
    assert run["name"] == "fan-create-run" and run["type"] == "STANDARD"
    asl = json.loads(run["definition"])
    assert asl["States"]["Validate"]["Parameters"]["FunctionName"] == functions["controller"]["FunctionArn"]
    assert asl["States"]["RunShards"]["ItemProcessor"]["States"]["RunShard"]["Parameters"]["FunctionName"] == functions["worker"]["FunctionArn"]
    assert asl["States"]["PlanMerge"]["Parameters"]["FunctionName"] == functions["aggregator"]["FunctionArn"]
    assert asl["States"]["RunShards"]["ResultWriter"]["Parameters"]["Bucket"] == outputs["ResultsBucket"]
    assert "${" not in run["definition"]
    assert asl["States"]["Validate"]["Resource"] == "arn:aws:states:::lambda:invoke"  # the stack's partition, substituted
    assert run["loggingConfiguration"]["level"] == "ERROR"
    cleanup = sfn.describe_state_machine(stateMachineArn=outputs["CleanupStateMachineArn"])
    assert functions["controller"]["FunctionArn"] in cleanup["definition"] and "${" not in cleanup["definition"]

    s3 = aws.client("s3")
    encryption = s3.get_bucket_encryption(Bucket=outputs["ResultsBucket"])["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    groups = aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/fan-create-")["logGroups"]
    assert {(g["logGroupName"], g.get("retentionInDays")) for g in groups} == {
        (f"/aws/lambda/fan-create-{kind}", 14) for kind in ("controller", "worker", "aggregator")
    }

    artifacts = "harness-artifacts-123456789012-us-east-1"
    assert s3.get_public_access_block(Bucket=artifacts)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=artifacts, Prefix="fanout/fan-create/")["Contents"]]
    assert f"fanout/fan-create/code-{hashlib.sha256(code_zip.read_bytes()).hexdigest()}.zip" in keys
    assert sum(k.startswith("fanout/fan-create/run-") for k in keys) == 1

    completed = {e["LogicalResourceId"] for e in events if e["ResourceStatus"] == "CREATE_COMPLETE"}
    assert {"ResultsBucket", "WorkerFunction", "RunStateMachine", "fan-create"} <= completed
    assert events[-1]["LogicalResourceId"] == "fan-create" and events[-1]["ResourceStatus"] == "CREATE_COMPLETE"


def test_deploying_the_same_again_changes_nothing(aws: AwsContext, target: dict[str, str], code_zip: Path) -> None:
    first = _deploy(aws, "fan-same", target, code_zip)
    events: list[dict[str, Any]] = []
    again = _deploy(aws, "fan-same", target, code_zip, on_event=events.append)
    assert again == first == stack_outputs(aws.client("cloudformation"), "fan-same")
    assert events == []


def test_new_code_updates_the_functions_and_left_out_parameters_keep_their_values(
    aws: AwsContext, target: dict[str, str], code_zip: Path, tmp_path: Path
) -> None:
    outputs = _deploy(aws, "fan-update", {**target, "TargetPath": "/items"}, code_zip)
    new_zip = tmp_path / "new.zip"
    with zipfile.ZipFile(code_zip) as old, zipfile.ZipFile(new_zip, "w") as new:
        for item in old.infolist():
            new.writestr(item, old.read(item))
        new.writestr("harness/VERSION", "2")

    events: list[dict[str, Any]] = []
    again = _deploy(aws, "fan-update", {"WorkerMemory": "1024"}, new_zip, on_event=events.append)  # the rest as before

    assert again == outputs
    lam = aws.client("lambda")
    for kind in ("controller", "worker", "aggregator"):
        assert lam.get_function(FunctionName=f"fan-update-{kind}")["Configuration"]["CodeSha256"] == _sha(new_zip)
    assert lam.get_function(FunctionName="fan-update-worker")["Configuration"]["MemorySize"] == 1024
    variables = lam.get_function(FunctionName="fan-update-controller")["Configuration"]["Environment"]["Variables"]
    assert (variables["DEFAULT_PATH"], variables["DEFAULT_USER_POOL_ID"]) == ("/items", target["UserPoolId"])
    assert events[-1]["ResourceStatus"] == "UPDATE_COMPLETE"


def test_a_failed_resource_is_one_line_and_the_next_deploy_starts_afresh(aws: AwsContext, target: dict[str, str], code_zip: Path, tmp_path: Path) -> None:
    broken = _broken(tmp_path, "S3Bucket: !Ref CodeBucket", "S3Bucket: harness-no-such-bucket")
    with pytest.raises(HarnessError) as caught:
        _deploy(aws, "fan-broken", target, code_zip, template=broken)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("deploying stack fan-broken failed: ControllerFunction (AWS::Lambda::Function) CREATE_FAILED:")
    assert "NoSuchBucket" in message and "rolled back" in message
    cloudformation = aws.client("cloudformation")
    assert cloudformation.describe_stacks(StackName="fan-broken")["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    assert not aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/fan-broken-")["logGroups"]

    outputs = _deploy(aws, "fan-broken", target, code_zip)  # deletes the failed stack, then creates it
    assert set(outputs) == OUTPUTS
    assert cloudformation.describe_stacks(StackName="fan-broken")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_a_template_error_is_one_line(aws: AwsContext, target: dict[str, str], code_zip: Path, tmp_path: Path) -> None:
    broken = _broken(tmp_path, "!GetAtt WorkerRole.Arn", "!GetAtt NoSuchRole.Arn")
    with pytest.raises(HarnessError) as caught:
        _deploy(aws, "fan-template-error", target, code_zip, template=broken)
    message = str(caught.value)
    assert "\n" not in message and "NoSuchRole" in message and "fan-template-error" in message


def test_bad_arguments_are_usage_errors(aws: AwsContext, target: dict[str, str], code_zip: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="declares no parameter Nope"):
        _deploy(aws, "fan-usage", {**target, "Nope": "1"}, code_zip)
    with pytest.raises(UsageError, match="no such code zip"):
        _deploy(aws, "fan-usage", target, tmp_path / "missing.zip")
    bad_asl = tmp_path / "run.asl.json"
    bad_asl.write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        _deploy(aws, "fan-usage", target, code_zip, definitions={"RunDefinitionKey": bad_asl})
    with pytest.raises(HarnessError, match="does not exist"):
        stack_outputs(aws.client("cloudformation"), "fan-usage")


def test_destroy_removes_the_stack_and_keeps_the_results(aws: AwsContext, target: dict[str, str], code_zip: Path) -> None:
    outputs = _deploy(aws, "fan-destroy", target, code_zip)
    aws.client("s3").put_object(Bucket=outputs["ResultsBucket"], Key="runs/r1/results.json", Body=b"{}")
    events: list[dict[str, Any]] = []

    kept = destroy_stack(cloudformation=aws.client("cloudformation"), stack_name="fan-destroy", on_event=events.append, poll=0.2)

    assert kept == outputs
    assert events[-1]["ResourceStatus"] == "DELETE_COMPLETE"
    with pytest.raises(HarnessError, match="does not exist"):
        stack_outputs(aws.client("cloudformation"), "fan-destroy")
    assert not aws.client("lambda").list_functions()["Functions"] or all(
        not f["FunctionName"].startswith("fan-destroy-") for f in aws.client("lambda").list_functions()["Functions"]
    )
    assert aws.client("s3").get_object(Bucket=outputs["ResultsBucket"], Key="runs/r1/results.json")["Body"].read() == b"{}"
    assert destroy_stack(cloudformation=aws.client("cloudformation"), stack_name="fan-destroy") == {}


# --------------------------------------------------------------------------- the state machines run

STUB_HANDLERS = '''
"""Contract stubs of harness.fanout.handlers: what run.asl.json sends and expects, nothing more."""
import json, os
import boto3

BUCKET = os.environ["RESULTS_BUCKET"]


def _put(key, data):
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=json.dumps(data).encode())


def _get(key):
    return json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def _keys(prefix):
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def controller(event, context):
    action = event["action"]
    if action == "validate":
        data = event["input"]
        if "workers" not in data:
            raise ValueError("the input needs workers")
        _put(f"runs/{data['run_id']}/spec.json", data)
        return {"run_id": data["run_id"], "bucket": BUCKET, "workers": data["workers"],
                "segments": data.get("segments", 1), "tolerated_failure_percentage": data.get("tolerated", 0)}
    if action == "prepare_users":
        return {"users": 0}
    if action == "plan_segment":
        spec = _get(f"runs/{event['run_id']}/spec.json")
        segment = event["segment"]
        shards = [{"run_id": spec["run_id"], "bucket": BUCKET, "segment": segment, "index": i,
                   "fail": i in spec.get("fail", [])} for i in range(spec["workers"])]
        key = f"runs/{spec['run_id']}/segments/{segment:03d}/manifest.json"
        if segment not in spec.get("lose_manifest", []):
            _put(key, shards)
        return {"bucket": BUCKET, "manifest_key": key, "segment": segment, "segments": spec.get("segments", 1),
                "workers": spec["workers"], "tolerated_failure_percentage": spec.get("tolerated", 0)}
    if action == "record_failure":
        shard = event["shard"]
        _put(f"runs/{shard['run_id']}/failures/{shard['segment']:03d}-{shard['index']:04d}.json", event["error"])
        return {"recorded": True}
    if action == "stop_shards":
        _put(f"runs/{event['run_id']}/stop.json", {"cause": event["error"]["Error"]})
        return {"cause": event["error"]["Error"]}
    if action == "await_shards":  # done when every shard is in, or at the third look
        run, segment = event["run_id"], event["segment"]
        looks = len(_keys(f"runs/{run}/awaited/"))
        _put(f"runs/{run}/awaited/{looks}.json", {"segment": segment})
        ended = [k for k in _keys(f"runs/{run}/shards/") + _keys(f"runs/{run}/failures/") if f"/{segment:03d}-" in k]
        pending = _get(f"runs/{run}/spec.json")["workers"] - len(ended)
        return {"done": pending == 0 or looks >= 2, "pending": pending}
    if action == "delete_users":
        return {"deleted": 3, "input": event["input"]}
    raise ValueError(f"unknown action {action}")


def worker(event, context):
    shard = event["shard"]
    if ":execution:fan-run-run:" not in event["execution_arn"]:  # the run's own execution, to watch
        raise ValueError(f"not the run's execution: {event['execution_arn']}")
    if shard.get("fail"):
        raise RuntimeError(f"shard {shard['index']} failed on purpose")
    _put(f"runs/{shard['run_id']}/shards/{shard['segment']:03d}-{shard['index']:04d}.json", {"requests": 10})
    return {"requests": 10}


def aggregator(event, context):
    run = event["run_id"]
    if event["action"] == "plan_merge":
        return {"groups": list(range((len(_keys(f"runs/{run}/shards/")) + 1) // 2)), "slices": [0, 1]}
    if event["action"] == "merge_group":
        _put(f"runs/{run}/merge/group-{event['group']:04d}.json", {"group": event["group"]})
        return {"group": event["group"]}
    if event["action"] == "merge_slice":
        _put(f"runs/{run}/merge/slice-{event['slice']:04d}.json", {"slice": event["slice"]})
        return {"slice": event["slice"]}
    if event["action"] == "merge_final":
        key = f"runs/{run}/results.json"
        _put(key, {"shards": len(_keys(f"runs/{run}/shards/")), "map_error": event["map_error"]})
        return {"results_key": key, "requests": 10 * len(_keys(f"runs/{run}/shards/")),
                "failed_shards": len(_keys(f"runs/{run}/failures/"))}
    raise ValueError(f"unknown action {event['action']}")
'''


@pytest.fixture
def stubs(aws: AwsContext, target: dict[str, str], tmp_path: Path) -> dict[str, str]:
    code = tmp_path / "stubs.zip"
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("harness/__init__.py", "")
        zf.writestr("harness/fanout/__init__.py", "")
        zf.writestr("harness/fanout/handlers.py", STUB_HANDLERS)
    return _deploy(aws, "fan-run", target, code)


def _execute(aws: AwsContext, arn: str, data: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    sfn = aws.client("stepfunctions")
    name = f"test-{time.time_ns()}"  # moto names an unnamed execution "None", once
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(data))["executionArn"]
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"still running after {timeout:.0f} s"
        time.sleep(0.25)
    return described


def _files(aws: AwsContext, bucket: str, run_id: str) -> set[str]:
    listed = aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"runs/{run_id}/")
    return {o["Key"].removeprefix(f"runs/{run_id}/") for o in listed.get("Contents", [])}


def test_the_run_state_machine_runs_segments_shards_and_the_merge(aws: AwsContext, stubs: dict[str, str]) -> None:
    done = _execute(aws, stubs["RunStateMachineArn"], {"run_id": "r-ok", "workers": 3, "segments": 2})

    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["result"] == {"results_key": "runs/r-ok/results.json", "requests": 60, "failed_shards": 0}
    assert output["map_error"] is None and output["cursor"] == {"segment": 2}
    files = _files(aws, stubs["ResultsBucket"], "r-ok")
    assert {f"shards/{s:03d}-{i:04d}.json" for s in (0, 1) for i in range(3)} <= files
    assert {"segments/000/manifest.json", "segments/001/manifest.json", "results.json"} <= files
    assert {"merge/group-0000.json", "merge/group-0001.json", "merge/group-0002.json", "merge/slice-0000.json", "merge/slice-0001.json"} <= files


def test_a_failed_shard_is_recorded_and_the_rest_still_merged(aws: AwsContext, stubs: dict[str, str]) -> None:
    done = _execute(aws, stubs["RunStateMachineArn"], {"run_id": "r-fail", "workers": 3, "fail": [1], "tolerated": 50})

    # 1 of 3 is within the tolerated 50 %: the Map Run succeeds (past it, see the next tests)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["result"]["failed_shards"] == 1
    files = _files(aws, stubs["ResultsBucket"], "r-fail")
    assert {"shards/000-0000.json", "shards/000-0002.json", "failures/000-0001.json", "results.json"} <= files
    assert "shards/000-0001.json" not in files
    failure = json.loads(aws.client("s3").get_object(Bucket=stubs["ResultsBucket"], Key="runs/r-fail/failures/000-0001.json")["Body"].read())
    assert failure["Error"] == "RuntimeError" and "failed on purpose" in failure["Cause"]


def test_a_shard_past_the_tolerated_failure_stops_the_others_and_the_merge_waits_for_them(aws: AwsContext, stubs: dict[str, str]) -> None:
    done = _execute(aws, stubs["RunStateMachineArn"], {"run_id": "r-stop", "workers": 3, "fail": [1], "tolerated": 0})

    assert done["status"] == "FAILED" and done["error"] == "ShardsFailed"
    assert done["cause"].startswith("States.ExceedToleratedFailureThreshold")
    bucket = stubs["ResultsBucket"]
    files = _files(aws, bucket, "r-stop")
    assert {"stop.json", "awaited/0.json", "failures/000-0001.json", "results.json"} <= files  # stopped, then awaited
    stop = json.loads(aws.client("s3").get_object(Bucket=bucket, Key="runs/r-stop/stop.json")["Body"].read())
    assert stop == {"cause": "States.ExceedToleratedFailureThreshold"}


def test_a_failed_map_stops_the_segments_merges_what_ran_and_fails_the_run(aws: AwsContext, stubs: dict[str, str]) -> None:
    # a manifest that is not there fails the Map too
    done = _execute(aws, stubs["RunStateMachineArn"], {"run_id": "r-map", "workers": 2, "segments": 3, "lose_manifest": [1]})

    assert done["status"] == "FAILED"
    assert done["error"] == "ShardsFailed"
    bucket = stubs["ResultsBucket"]
    assert done["cause"].endswith(f"; the results of the shards that ran are in s3://{bucket}/runs/r-map/results.json")
    files = _files(aws, bucket, "r-map")
    assert {"shards/000-0000.json", "shards/000-0001.json", "results.json"} <= files
    assert not [f for f in files if f.startswith(("shards/001", "segments/002", "shards/002"))]  # segment 2 never ran
    merged = json.loads(aws.client("s3").get_object(Bucket=bucket, Key="runs/r-map/results.json")["Body"].read())
    assert merged["shards"] == 2 and merged["map_error"]["Error"]


def test_a_bad_input_fails_the_execution_with_the_handlers_message(aws: AwsContext, stubs: dict[str, str]) -> None:
    done = _execute(aws, stubs["RunStateMachineArn"], {"run_id": "r-bad"})

    assert done["status"] == "FAILED"
    assert done["error"] == "ValueError"
    assert json.loads(done["cause"])["errorMessage"] == "the input needs workers"


def test_the_cleanup_state_machine_passes_its_input_on(aws: AwsContext, stubs: dict[str, str]) -> None:
    done = _execute(aws, stubs["CleanupStateMachineArn"], {"NumberOfUsers": "100"})

    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"deleted": 3, "input": {"NumberOfUsers": "100"}}


def test_the_state_machines_take_their_partition_from_the_stack() -> None:
    for asl in (TEMPLATE.parent / "statemachines").glob("*.asl.json"):
        text = asl.read_text()
        assert "arn:aws:" not in text, asl.name  # aws-cn and aws-us-gov stacks need their own
        assert '"arn:${Partition}:states:::' in text
    assert TEMPLATE.read_text().count("Partition: !Ref AWS::Partition") == 2


def test_a_stack_name_that_makes_function_names_over_64_characters_is_refused_before_any_call(tmp_path: Path) -> None:
    body = TEMPLATE.read_text()
    check_stack_name("s" * 53, body)  # s...s-aggregator: 64 characters
    with pytest.raises(UsageError, match="has 54 characters; at most 53") as info:
        deploy_stack(cloudformation=None, s3=None, stack_name="s" * 54, template=TEMPLATE, parameters={}, code_zip=tmp_path / "none.zip")
    assert "stays within Lambda's 64" in str(info.value) and "--stack" in str(info.value)
    with pytest.raises(UsageError, match="starting with a letter"):
        check_stack_name("1-stack", body)
