"""One local stack per module, with test users, for runs with faults."""

from __future__ import annotations

import boto3
import pytest

from harness.auth.users import create_users
from harness.local.stack import LocalStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    with LocalStack(log_dir=tmp_path_factory.mktemp("stack-logs")) as stack, stack.activate() as env:
        aws = boto3.session.Session(region_name=stack.info.region)
        create_users(
            cognito=aws.client("cognito-idp"), secrets=aws.client("secretsmanager"),
            user_pool_id=stack.info.user_pool_id, count=5, progress=False,
        )  # fmt: skip
        stack.run_env = env  # type: ignore[attr-defined]
        yield stack
