"""FanoutExecution against a real moto server's Step Functions: a run id names one execution."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from harness.errors import UsageError
from harness.fanout.execution import FanoutExecution

PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@pytest.fixture
def state_machine(aws_env: dict[str, str]) -> str:
    iam, sfn = boto3.client("iam"), boto3.client("stepfunctions")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]})  # fmt: skip
    role = iam.create_role(RoleName=f"sm-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    return sfn.create_state_machine(name=f"run-{uuid.uuid4().hex[:8]}", definition=PASS, roleArn=role)["stateMachineArn"]


def test_a_reused_run_id_is_refused_before_the_run_and_at_start(state_machine: str) -> None:
    sfn, s3 = boto3.client("stepfunctions"), boto3.client("s3")
    FanoutExecution.check_run_id_unused(sfn, state_machine_arn=state_machine, run_id="r-1")  # a new name: nothing to say
    FanoutExecution.start(sfn=sfn, s3=s3, state_machine_arn=state_machine, bucket="b", run_id="r-1", input={"users": {}})

    with pytest.raises(UsageError, match="--run-id r-1: an execution of .* already has this name .*90 days"):
        FanoutExecution.check_run_id_unused(sfn, state_machine_arn=state_machine, run_id="r-1")
    with pytest.raises(UsageError, match="leave --run-id out"):  # what StartExecution says (ExecutionAlreadyExists)
        FanoutExecution.start(sfn=sfn, s3=s3, state_machine_arn=state_machine, bucket="b", run_id="r-1", input={"other": 1})
    FanoutExecution.check_run_id_unused(sfn, state_machine_arn=state_machine, run_id="r-2")
