"""Checks before any load: each missing thing is one line naming it or the IAM action.

AWS's answers are faked at the third-party seam (botocore's Stubber); the happy path and the
missing pool and secret run against the real local stack in tests/test_cli.py.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from harness.aws import AwsContext
from harness.errors import AuthError, MetricsUnavailable
from harness.preflight import check_cloudwatch, check_user_pool

POOL, CLIENT = "eu-west-1_AbCdEf123", "1example23456789"


@pytest.fixture
def aws() -> AwsContext:
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1")
    return AwsContext(region="eu-west-1", session=session)


def stub(aws: AwsContext, service: str) -> Stubber:
    stubber = Stubber(aws.client(service))
    stubber.activate()
    return stubber


def test_cloudwatch_denied_names_the_action_and_the_way_out(aws: AwsContext) -> None:
    cloudwatch = stub(aws, "cloudwatch")
    cloudwatch.add_client_error("get_metric_data", service_error_code="AccessDenied", http_status_code=403)
    with pytest.raises(MetricsUnavailable) as caught:
        check_cloudwatch(aws)
    message = str(caught.value)
    assert "AWS denied cloudwatch:GetMetricData" in message and "pass --no-metrics" in message and "\n" not in message
    assert caught.value.exit_code == 3


def pool_calls(cognito: Stubber, *, flows: list[str] | None) -> None:
    cognito.add_response("describe_user_pool", {"UserPool": {"Id": POOL}}, {"UserPoolId": POOL})
    client: dict[str, Any] = {"UserPoolId": POOL, "ClientId": CLIENT, "ClientName": "app"}
    if flows is not None:
        client["ExplicitAuthFlows"] = flows
    cognito.add_response("describe_user_pool_client", {"UserPoolClient": client}, {"UserPoolId": POOL, "ClientId": CLIENT})


def test_an_app_client_without_the_scenarios_flow_is_refused(aws: AwsContext) -> None:
    cognito = stub(aws, "cognito-idp")
    pool_calls(cognito, flows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    with pytest.raises(AuthError, match="does not allow ALLOW_ADMIN_USER_PASSWORD_AUTH, which auth.flow = 'admin' signs in with"):
        check_user_pool(aws, user_pool_id=POOL, client_id=CLIENT, flow="admin")
    pool_calls(cognito, flows=["ALLOW_USER_SRP_AUTH"])
    check_user_pool(aws, user_pool_id=POOL, client_id=CLIENT, flow="srp")


@pytest.mark.parametrize(
    "operation, code, fragment",
    [
        ("describe_user_pool", "ResourceNotFoundException", f"user pool {POOL} not found in eu-west-1; check auth.user_pool_id and the region"),
        ("describe_user_pool", "AccessDeniedException", "AWS denied cognito-idp:DescribeUserPool"),
        ("describe_user_pool_client", "ResourceNotFoundException", f"app client {CLIENT} is not in user pool {POOL}; check auth.client_id"),
    ],
)
def test_pool_and_client_problems_are_one_line(aws: AwsContext, operation: str, code: str, fragment: str) -> None:
    cognito = stub(aws, "cognito-idp")
    if operation == "describe_user_pool_client":
        cognito.add_response("describe_user_pool", {"UserPool": {"Id": POOL}}, {"UserPoolId": POOL})
    cognito.add_client_error(operation, service_error_code=code, http_status_code=400)
    with pytest.raises(AuthError) as caught:
        check_user_pool(aws, user_pool_id=POOL, client_id=CLIENT, flow="admin")
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
