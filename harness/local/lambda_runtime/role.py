"""The function's execution role: the credentials its handler gets, and what the role lets Lambda
do on its behalf (write its logs). Both come from ``harness.local.iam``."""

from __future__ import annotations

from harness.local.iam import Decision, RoleCredentials, authorize, role_credentials
from harness.local.lambda_runtime.function import Function

__all__ = ["credentials", "may_log"]


def credentials(func: Function) -> RoleCredentials:
    """The role's temporary credentials, session name = the function's name, as Lambda does."""
    return role_credentials(func.role, session_name=func.name, region=func.region)


def may_log(func: Function, stream: str) -> bool:
    """Lambda writes a function's logs with its execution role: ``logs:CreateLogStream`` and
    ``logs:PutLogEvents`` on the stream (AWSLambdaBasicExecutionRole grants them)."""
    principal = f"arn:aws:sts::{func.account_id}:assumed-role/{func.role.rsplit('/', 1)[-1]}/{func.name}"
    resource = f"arn:aws:logs:{func.region}:{func.account_id}:log-group:{func.log_group}:log-stream:{stream}"
    return all(authorize(principal, func.role, action, resource) is Decision.ALLOWED for action in ("logs:CreateLogStream", "logs:PutLogEvents"))
