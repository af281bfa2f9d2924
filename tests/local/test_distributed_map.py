"""The local stack's Distributed Map fails as AWS's does: past its tolerated failure the Map Run
fails with States.ExceedToleratedFailureThreshold, no new child starts and the running children
are aborted (``harness.local.distributed_map``), on a real moto server."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest

from harness.local.distributed_map import exceeded

pytestmark = pytest.mark.integration


def definition(**tolerance: Any) -> dict[str, Any]:
    """A Distributed Map over ``$.items``: an item {"fail": true} fails its child, an item
    {"wait": n} waits n seconds; the Map's error is caught into ``$.map_error``."""
    return {
        "StartAt": "Shards",
        "States": {
            "Shards": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrencyPath": "$.concurrency",
                **tolerance,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Which",
                    "States": {
                        "Which": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "IsPresent": True, "Next": "Broke"}], "Default": "Work"},
                        "Broke": {"Type": "Fail", "Error": "ShardBroke", "Cause": "on purpose"},
                        "Work": {"Type": "Wait", "SecondsPath": "$.wait", "End": True},
                    },
                },
                "ResultPath": None,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.map_error", "Next": "After"}],
                "Next": "After",
            },
            "After": {"Type": "Pass", "End": True},
        },
    }


def run(
    aws_env: dict[str, str], items: list[dict[str, Any]], *, concurrency: int, timeout: float = 90, tolerated: float = 0, **tolerance: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the Map over ``items``; the execution's output and its Map Run's description."""
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"map-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition(**tolerance)), roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": items, "concurrency": concurrency, "tolerated": tolerated}))["executionArn"]
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert described["status"] == "SUCCEEDED", described
    map_run = sfn.describe_map_run(mapRunArn=sfn.list_map_runs(executionArn=execution)["mapRuns"][0]["mapRunArn"])
    return json.loads(described["output"]), map_run


def test_the_first_failed_child_fails_the_map_run_and_no_other_child_starts(aws_env: dict[str, str]) -> None:
    output, map_run = run(aws_env, [{"fail": True}, {"wait": 0}, {"wait": 0}, {"wait": 0}], concurrency=1)
    assert output["map_error"]["Error"] == "States.ExceedToleratedFailureThreshold"
    assert map_run["status"] == "FAILED"
    assert map_run["itemCounts"]["total"] == 1 and map_run["itemCounts"]["failed"] == 1


def test_running_children_are_aborted_when_the_map_run_fails(aws_env: dict[str, str]) -> None:
    # three children wait 600 s; the fourth fails: the Map Run fails without waiting for them
    output, map_run = run(aws_env, [{"wait": 600}, {"wait": 600}, {"wait": 600}, {"fail": True}], concurrency=4, timeout=120)
    assert output["map_error"]["Error"] == "States.ExceedToleratedFailureThreshold"
    assert map_run["status"] == "FAILED"
    assert map_run["itemCounts"]["failed"] == 1 and map_run["itemCounts"]["succeeded"] == 0


def test_failures_within_the_tolerated_percentage_let_the_map_run_succeed(aws_env: dict[str, str]) -> None:
    items = [{"fail": True}, {"wait": 0}, {"wait": 0}, {"wait": 0}]
    tolerance = {"ToleratedFailurePercentagePath": "$.tolerated"}  # as infra/statemachines/run.asl.json gives it
    output, map_run = run(aws_env, items, concurrency=4, tolerated=25, **tolerance)
    assert "map_error" not in output and map_run["status"] == "SUCCEEDED"
    output, map_run = run(aws_env, [{"fail": True}, {"fail": True}, *items[1:]], concurrency=1, tolerated=25, **tolerance)
    assert output["map_error"]["Error"] == "States.ExceedToleratedFailureThreshold"
    assert map_run["itemCounts"]["total"] == 2  # the second failure is 2 of 5 = 40 % > 25 %: nothing more starts


def test_a_tolerated_failure_count_is_a_number_of_children() -> None:
    assert not exceeded(failed=1, total=10, count=1, percentage=None)
    assert exceeded(failed=2, total=10, count=1, percentage=None)
    assert exceeded(failed=1, total=10, count=None, percentage=None)  # neither given: 0 %
    assert exceeded(failed=2, total=10, count=5, percentage=10)  # either value, once exceeded
    assert not exceeded(failed=10, total=10, count=None, percentage=100)
