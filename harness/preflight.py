"""Checks before any load: everything a run needs from AWS, each failure one line, in seconds.

    target = resolve_target(scenario)
    preflight(scenario, AwsContext(region=target.region), target=target)   # raises, or returns None

In order, and only what the run will use:

1. credentials: ``sts:GetCallerIdentity`` (a scenario with auth, or CloudWatch metrics to pull);
2. the user pool and its app client: ``cognito-idp:DescribeUserPool``,
   ``cognito-idp:DescribeUserPoolClient``, and that the client allows the scenario's sign-in flow;
3. the test users' password secret ``harness/<pool>/test-users``: ``secretsmanager:GetSecretValue``
   (skipped with ``secret=False``, when the run creates its users first);
4. CloudWatch read access: ``cloudwatch:GetMetricData`` (skipped with ``metrics=False``);
5. the scenario's ``[[faults]]``: FIS templates, functions, stages and the local stack's
   fault switches exist and can be read (``harness.faults``).

A failure raises ``AuthError``, ``MetricsUnavailable``, ``FaultError`` or ``RunError`` (exit 3) naming the
missing thing or the IAM action. The same checks run against the local stack, where they
catch a wrong pool id or users that were never created.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.auth.explain import explain
from harness.aws import AwsContext
from harness.errors import AuthError, HarnessError, MetricsUnavailable, RunError
from harness.scenario import Scenario

__all__ = ["preflight", "check_credentials", "check_user_pool", "check_password_secret", "check_cloudwatch", "FLOWS"]

#: the app client's ExplicitAuthFlows entry each sign-in flow needs
FLOWS = {"admin": "ALLOW_ADMIN_USER_PASSWORD_AUTH", "srp": "ALLOW_USER_SRP_AUTH"}


def preflight(scenario: Scenario, aws: AwsContext, *, target: Any = None, metrics: bool = True, secret: bool = True) -> None:
    """Check what the run needs from AWS before any load (see the module); raises one-line errors.

    ``target`` is the scenario's ``ResolvedTarget`` (resolved here when None).
    """
    if target is None:
        from harness.target import resolve_target

        target = resolve_target(scenario)
    auth = scenario.auth
    if auth is None and not metrics and not scenario.faults:
        return  # nothing to ask AWS: requests go to the API only
    check_credentials(aws)
    if auth is not None:
        check_user_pool(aws, user_pool_id=target.user_pool_id, client_id=target.client_id, flow=auth.flow)
        if secret:
            check_password_secret(aws, user_pool_id=target.user_pool_id)
    if metrics:
        check_cloudwatch(aws)
    if scenario.faults:
        from harness.faults.scheduler import check_faults

        check_faults(scenario, target=target, aws=aws)


def check_credentials(aws: AwsContext) -> str:
    """The caller's ARN (``sts:GetCallerIdentity`` needs no permission, only valid credentials)."""
    try:
        return str(aws.client("sts").get_caller_identity().get("Arn", ""))
    except (ClientError, BotoCoreError) as err:
        raise _as(RunError, explain(err, doing=f"checking the AWS credentials (region {aws.region})", service="sts")) from None


def check_user_pool(aws: AwsContext, *, user_pool_id: str, client_id: str, flow: str) -> None:
    """The pool exists, the app client is in it and allows ``flow``'s sign-in."""
    cognito = aws.client("cognito-idp")
    where = f"in {aws.region}"
    try:
        cognito.describe_user_pool(UserPoolId=user_pool_id)
    except (ClientError, BotoCoreError) as err:
        raise explain(
            err,
            doing=f"checking user pool {user_pool_id}",
            not_found=f"user pool {user_pool_id} not found {where}; check auth.user_pool_id and the region (auth.region, AWS_REGION)",
        ) from None
    try:
        client = cognito.describe_user_pool_client(UserPoolId=user_pool_id, ClientId=client_id)["UserPoolClient"]
    except (ClientError, BotoCoreError) as err:
        raise explain(
            err,
            doing=f"checking app client {client_id}",
            not_found=f"app client {client_id} is not in user pool {user_pool_id}; check auth.client_id",
        ) from None
    needed = FLOWS.get(flow)
    allowed = client.get("ExplicitAuthFlows")
    if needed and allowed and needed not in allowed:
        raise AuthError(
            f"app client {client_id} does not allow {needed}, which auth.flow = {flow!r} signs in with; "
            f"add it to the client's authentication flows, or set auth.flow to the one it allows"
        )


def check_password_secret(aws: AwsContext, *, user_pool_id: str) -> None:
    """The test users' password secret exists and can be read."""
    from harness.auth.secret import get_password

    get_password(secrets=aws.client("secretsmanager"), user_pool_id=user_pool_id)  # AuthError names the secret


def check_cloudwatch(aws: AwsContext) -> None:
    """``cloudwatch:GetMetricData`` is allowed (one tiny query over the last minutes)."""
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    query = {"Id": "preflight", "MetricStat": {"Metric": {"Namespace": "AWS/ApiGateway", "MetricName": "Count"}, "Period": 60, "Stat": "Sum"}}
    try:
        aws.client("cloudwatch").get_metric_data(MetricDataQueries=[query], StartTime=end - timedelta(minutes=5), EndTime=end)
    except (ClientError, BotoCoreError) as err:
        problem = explain(err, doing=f"checking CloudWatch read access in {aws.region}", service="cloudwatch")
        raise MetricsUnavailable(f"{problem}; or pass --no-metrics to run without the server's numbers") from None


def _as(kind: type[HarnessError], err: HarnessError) -> HarnessError:
    return err if isinstance(err, kind) else kind(str(err))
