"""The concurrency preflight of ``harness fanout`` on AWS: lambda:GetAccountSettings answered by
a botocore Stubber (moto does not implement it), with the shapes of the Lambda API."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from harness.errors import HarnessError, UsageError
from harness.fanout.launch import check_concurrency


def stubbed(unreserved: int, *, reserved: int | None = None, denied: bool = False) -> tuple[Any, Stubber]:
    lam = boto3.client("lambda", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(lam)
    if denied:
        stub.add_client_error("get_account_settings", service_error_code="AccessDeniedException", service_message="not allowed", http_status_code=403)
    else:
        stub.add_response("get_account_settings", {"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": unreserved}},
                          {})  # fmt: skip
        stub.add_response("get_function_concurrency", {} if reserved is None else {"ReservedConcurrentExecutions": reserved},
                          {"FunctionName": "harness-fanout-worker"})  # fmt: skip
    stub.activate()
    return lam, stub


def test_more_workers_than_the_unreserved_concurrency_are_refused_before_the_run() -> None:
    lam, stub = stubbed(400)
    with pytest.raises(UsageError) as info:
        check_concurrency(lam, workers=500, function_name="harness-fanout-worker")
    assert "unreserved Lambda concurrency in eu-west-1 is 400 (of 1,000)" in str(info.value) and "at most 400 workers" in str(info.value)
    stub.assert_no_pending_responses()


def test_workers_taking_most_of_the_unreserved_concurrency_get_a_note_and_few_get_none() -> None:
    lam, _ = stubbed(400)
    (note,) = check_concurrency(lam, workers=300, function_name="harness-fanout-worker")
    assert "75% of the account's unreserved Lambda concurrency" in note and "system under test" in note
    lam, _ = stubbed(1000)
    assert check_concurrency(lam, workers=10, function_name="harness-fanout-worker") == []


def test_a_worker_reservation_below_the_workers_is_refused() -> None:
    lam, _ = stubbed(900, reserved=20)
    with pytest.raises(UsageError, match="reserved concurrency of 20: use at most 20 workers"):
        check_concurrency(lam, workers=50, function_name="harness-fanout-worker")


def test_a_caller_without_the_permission_is_told_which_action_it_needs() -> None:
    lam, _ = stubbed(0, denied=True)
    with pytest.raises(HarnessError, match="needs lambda:GetAccountSettings"):
        check_concurrency(lam, workers=5, function_name="harness-fanout-worker")
