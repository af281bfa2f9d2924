"""IAM on the local stack: the calls of an assumed role (a local Lambda's execution role) are
allowed or refused by the role's policies, in AWS's shape; the CLI's own credentials stay allowed.

Against the session's real moto server; each test makes its own role, bucket and secret.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness.local.iam import Decision, evaluate
from tests.local.test_lambda_runtime import invoke, make_zip

NO_RETRIES = Config(retries={"max_attempts": 0, "mode": "standard"})
ACCOUNT = "123456789012"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(action: str | list[str], resource: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


@pytest.fixture
def admin(aws_env: dict[str, str]) -> dict[str, Any]:
    """Clients with the CLI's own (administrator) credentials."""
    names = ("iam", "sts", "s3", "secretsmanager", "cognito-idp", "lambda")
    return {n: boto3.client(n, config=NO_RETRIES) for n in names}


@pytest.fixture
def role(admin: dict[str, Any]) -> str:
    trust = _policy({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
    return str(admin["iam"].create_role(RoleName=f"r-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=trust)["Role"]["Arn"])


@pytest.fixture
def bucket(admin: dict[str, Any]) -> str:
    name = f"iam-{uuid.uuid4().hex[:10]}"
    admin["s3"].create_bucket(Bucket=name)
    return name


def _as_role(admin: dict[str, Any], role: str, service: str) -> Any:
    creds = admin["sts"].assume_role(RoleArn=role, RoleSessionName="tester")["Credentials"]
    return boto3.client(
        service,
        config=NO_RETRIES,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _error(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call()
    return {"status": caught.value.response["ResponseMetadata"]["HTTPStatusCode"], **caught.value.response["Error"]}


def _put_policy(admin: dict[str, Any], role: str, *statements: dict[str, Any]) -> None:
    admin["iam"].put_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName="p", PolicyDocument=_policy(*statements))


# --------------------------------------------------------------------------- a local Lambda

WRITES = """
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    me = boto3.client("sts").get_caller_identity()["Arn"]
    try:
        boto3.client("s3").put_object(Bucket=event["bucket"], Key="out/one.txt", Body=b"1")
    except ClientError as exc:
        return {"me": me, "error": exc.response["Error"]}
    return {"me": me, "written": True}
"""


def test_a_lambda_whose_role_lacks_a_permission_is_refused_naming_it_and_gets_through_once_granted(admin: dict[str, Any], role: str, bucket: str) -> None:
    name = f"fn-{uuid.uuid4().hex[:10]}"
    admin["lambda"].create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": make_zip({"app.py": WRITES})})
    _, refused = invoke(admin["lambda"], name, {"bucket": bucket})
    role_name = role.rsplit("/", 1)[1]
    assert refused["me"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{name}"  # session = function name
    assert refused["error"]["Code"] == "AccessDenied"
    assert refused["error"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{name} is not authorized to perform: s3:PutObject "
        f'on resource: "arn:aws:s3:::{bucket}/out/one.txt" because no identity-based policy allows the s3:PutObject action'
    )
    assert "Contents" not in admin["s3"].list_objects_v2(Bucket=bucket)

    _put_policy(admin, role, _allow("s3:PutObject", f"arn:aws:s3:::{bucket}/out/*"))
    _, allowed = invoke(admin["lambda"], name, {"bucket": bucket})
    assert allowed == {"me": refused["me"], "written": True}
    assert admin["s3"].get_object(Bucket=bucket, Key="out/one.txt")["Body"].read() == b"1"


def test_lambda_writes_a_functions_logs_only_when_its_role_allows_it(admin: dict[str, Any], role: str) -> None:
    name = f"fn-{uuid.uuid4().hex[:10]}"
    admin["lambda"].create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    print('hi')\n"})},
    )
    logs = boto3.client("logs", config=NO_RETRIES)

    def logged() -> list[str]:
        try:
            return [e["message"] for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]]
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ResourceNotFoundException"
            return []

    invoke(admin["lambda"], name)  # the logs are written before the invocation answers
    assert logged() == []
    _put_policy(admin, role, _allow(["logs:CreateLogStream", "logs:PutLogEvents"], f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/{name}:*"))
    invoke(admin["lambda"], name)
    assert "hi" in logged()


def test_a_state_machine_invokes_a_lambda_only_when_its_role_allows_it(admin: dict[str, Any], role: str) -> None:
    name = f"fn-{uuid.uuid4().hex[:10]}"
    function = admin["lambda"].create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return {'ok': 1}\n"})},
    )["FunctionArn"]  # fmt: skip
    sfn = boto3.client("stepfunctions", config=NO_RETRIES)
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": function, "Payload": {}}, "End": True}
        },
    }
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)["stateMachineArn"]

    def run(execution: str) -> dict[str, Any]:
        arn = sfn.start_execution(stateMachineArn=machine, name=execution)["executionArn"]
        deadline = time.monotonic() + 30
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not end within 30 s"
            time.sleep(0.2)
        return dict(described)

    refused = run("refused")
    assert refused["status"] == "FAILED" and refused["error"] == "Lambda.AccessDeniedException"
    assert refused["cause"].startswith(
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[1]}/StepFunctions is not authorized to "
        f"perform: lambda:InvokeFunction on resource: {function} because no identity-based policy allows"
    )
    _put_policy(admin, role, _allow("lambda:InvokeFunction", [function, f"{function}:*"]))
    allowed = run("allowed")
    assert allowed["status"] == "SUCCEEDED" and json.loads(allowed["output"])["Payload"] == {"ok": 1}


# --------------------------------------------------------------------------- the rules, per service


def test_a_json_service_refuses_with_access_denied_exception_naming_the_action_and_the_secret_arn(admin: dict[str, Any], role: str) -> None:
    arn = admin["secretsmanager"].create_secret(Name=f"harness/{uuid.uuid4().hex[:8]}", SecretString="pw")["ARN"]
    secrets = _as_role(admin, role, "secretsmanager")
    error = _error(lambda: secrets.get_secret_value(SecretId=arn.rsplit(":", 1)[1].rsplit("-", 1)[0]))
    assert error["Code"] == "AccessDeniedException" and error["status"] == 400
    assert error["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[1]}/tester is not authorized to perform: "
        f"secretsmanager:GetSecretValue on resource: {arn} because no identity-based policy allows the "
        "secretsmanager:GetSecretValue action"
    )
    _put_policy(admin, role, _allow("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:harness/*"))
    assert secrets.get_secret_value(SecretId=arn)["SecretString"] == "pw"


def test_cognito_admin_calls_are_checked_against_the_user_pool_arn(admin: dict[str, Any], role: str) -> None:
    pool = admin["cognito-idp"].create_user_pool(PoolName=f"p-{uuid.uuid4().hex[:6]}")["UserPool"]["Id"]
    cognito = _as_role(admin, role, "cognito-idp")
    _put_policy(admin, role, _allow("cognito-idp:AdminGetUser", f"arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/other"))
    error = _error(lambda: cognito.admin_get_user(UserPoolId=pool, Username="nobody"))
    assert error["Code"] == "AccessDeniedException"
    assert f"cognito-idp:AdminGetUser on resource: arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{pool} " in error["Message"]
    _put_policy(admin, role, _allow("cognito-idp:Admin*", f"arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{pool}"))
    assert _error(lambda: cognito.admin_get_user(UserPoolId=pool, Username="nobody"))["Code"] == "UserNotFoundException"


def test_an_explicit_deny_wins_over_an_allow(admin: dict[str, Any], role: str, bucket: str) -> None:
    s3 = _as_role(admin, role, "s3")
    _put_policy(
        admin, role, _allow("s3:*", f"arn:aws:s3:::{bucket}/*"), {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/locked/*"}
    )
    s3.put_object(Bucket=bucket, Key="open/a", Body=b"a")
    error = _error(lambda: s3.put_object(Bucket=bucket, Key="locked/a", Body=b"a"))
    assert error["Code"] == "AccessDenied" and error["status"] == 403
    assert error["Message"].endswith("with an explicit deny in an identity-based policy")


def test_head_object_needs_get_object_and_a_missing_key_is_404_only_with_an_unconditional_list_bucket(admin: dict[str, Any], role: str, bucket: str) -> None:
    admin["s3"].put_object(Bucket=bucket, Key="runs/1/stop.json", Body=b"{}")
    s3 = _as_role(admin, role, "s3")
    assert _error(lambda: s3.head_object(Bucket=bucket, Key="runs/1/stop.json"))["status"] == 403

    _put_policy(admin, role, _allow("s3:GetObject", f"arn:aws:s3:::{bucket}/runs/*/stop.json"))
    assert s3.head_object(Bucket=bucket, Key="runs/1/stop.json")["ContentLength"] == 2
    assert _error(lambda: s3.head_object(Bucket=bucket, Key="runs/2/stop.json"))["status"] == 403  # no ListBucket

    # a ListBucket grant conditional on s3:prefix: listing runs/ works, but HeadObject sends no
    # prefix, so its implicit ListBucket check is not covered by it: still a 403 for a missing key
    _put_policy(
        admin,
        role,
        _allow("s3:GetObject", f"arn:aws:s3:::{bucket}/runs/*/stop.json"),
        _allow("s3:ListBucket", f"arn:aws:s3:::{bucket}", Condition={"StringLike": {"s3:prefix": ["runs/*"]}}),
    )
    assert s3.list_objects_v2(Bucket=bucket, Prefix="runs/")["KeyCount"] == 1
    assert _error(lambda: s3.list_objects_v2(Bucket=bucket))["Code"] == "AccessDenied"  # no prefix: not runs/*
    missing = _error(lambda: s3.head_object(Bucket=bucket, Key="runs/2/stop.json"))
    assert missing["status"] == 403, missing

    _put_policy(admin, role, _allow("s3:GetObject", f"arn:aws:s3:::{bucket}/runs/*/stop.json"), _allow("s3:ListBucket", f"arn:aws:s3:::{bucket}"))
    assert _error(lambda: s3.head_object(Bucket=bucket, Key="runs/2/stop.json"))["status"] == 404


def test_the_cli_credentials_stay_allowed_and_a_wrong_session_token_is_refused(admin: dict[str, Any], role: str, bucket: str) -> None:
    admin["s3"].put_object(Bucket=bucket, Key="any", Body=b"x")  # no policy anywhere: the administrator
    creds = admin["sts"].assume_role(RoleArn=role, RoleSessionName="tester")["Credentials"]
    forged = boto3.client(
        "s3", config=NO_RETRIES, aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"], aws_session_token="not-the-token"
    )
    assert _error(lambda: forged.get_object(Bucket=bucket, Key="any"))["status"] == 403


# --------------------------------------------------------------------------- the evaluator


@pytest.mark.parametrize(
    ("statement", "action", "resource", "context", "decision"),
    [
        (_allow("s3:Get*", "arn:aws:s3:::b/runs/*"), "s3:GetObject", "arn:aws:s3:::b/runs/1/x", {}, Decision.ALLOWED),
        (_allow("S3:getobject", "arn:aws:s3:::b/*"), "s3:GetObject", "arn:aws:s3:::b/k", {}, Decision.ALLOWED),
        (_allow("s3:GetObject", "arn:aws:s3:::b/runs/*"), "s3:GetObject", "arn:aws:s3:::b/other", {}, Decision.IMPLICIT_DENY),
        (_allow("s3:GetObject", "arn:aws:s3:::b/?.txt"), "s3:GetObject", "arn:aws:s3:::b/ab.txt", {}, Decision.IMPLICIT_DENY),
        (_allow("s3:GetObject", "arn:aws:s3:::b.c/*"), "s3:GetObject", "arn:aws:s3:::bxc/k", {}, Decision.IMPLICIT_DENY),
        ({"Effect": "Allow", "NotAction": "s3:DeleteObject", "Resource": "*"}, "s3:PutObject", "arn:aws:s3:::b/k", {}, Decision.ALLOWED),
        ({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"}, "s3:GetObject", "arn:aws:s3:::secret/k", {}, Decision.IMPLICIT_DENY),
        (
            _allow("s3:ListBucket", "arn:aws:s3:::b", Condition={"StringLike": {"s3:prefix": "runs/*"}}),
            "s3:ListBucket",
            "arn:aws:s3:::b",
            {},
            Decision.IMPLICIT_DENY,
        ),
        (
            _allow("s3:ListBucket", "arn:aws:s3:::b", Condition={"NumericLessThan": {"s3:max-keys": "10"}}),
            "s3:ListBucket",
            "arn:aws:s3:::b",
            {"s3:max-keys": "5"},
            Decision.IMPLICIT_DENY,
        ),
        (
            {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"s3:max-keys": "10"}}},
            "s3:ListBucket",
            "arn:aws:s3:::b",
            {},
            Decision.EXPLICIT_DENY,
        ),
    ],
    ids=[
        "wildcard action and resource",
        "actions ignore case",
        "another prefix",
        "? is one character",
        "a dot is a dot",
        "NotAction",
        "NotResource",
        "a condition on a missing key does not hold",
        "an unknown operator never grants",
        "an unknown operator always denies",
    ],
)
def test_policies_are_evaluated_as_iam_does(statement: dict[str, Any], action: str, resource: str, context: dict[str, str], decision: Decision) -> None:
    assert evaluate([_policy(statement)], action, resource, context) is decision
