"""A fresh Cognito user pool + app client per test, on the shared moto server (tests/conftest.py)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from harness.auth import UsersReport, create_users
from harness.aws import AwsContext


@pytest.fixture
def aws(aws_env: dict[str, str]) -> AwsContext:
    """An ``AwsContext`` pointed at the moto server the way local mode does it: AWS_ENDPOINT_URL."""
    return AwsContext()


@dataclass
class Pool:
    user_pool_id: str
    client_id: str
    endpoint: str

    def jwks(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.endpoint}/{self.user_pool_id}/.well-known/jwks.json", timeout=5) as r:
            return dict(json.load(r))


@pytest.fixture
def pool(aws: AwsContext, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Pool:
    """A new user pool with an app client that allows admin, SRP and refresh-token sign-in."""
    cognito = aws.client("cognito-idp")
    pool_id = cognito.create_user_pool(PoolName=f"harness-test-{uuid.uuid4().hex[:8]}")["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="harness-test",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    result = Pool(user_pool_id=pool_id, client_id=client_id, endpoint=moto_server)
    # For code that uses pycognito's Cognito class, which verifies tokens against this JWKS
    # (TokenPool does not need it: it drives pycognito's AWSSRP with our own client).
    monkeypatch.setenv("COGNITO_JWKS", json.dumps(result.jwks()))
    return result


def create_users_in(aws: AwsContext, pool: Pool, count: int, **kwargs: object) -> UsersReport:
    """``create_users`` on the test pool, fast (200 admin calls/s) and without a progress bar."""
    return create_users(
        cognito=aws.client("cognito-idp"),
        secrets=aws.client("secretsmanager"),
        user_pool_id=pool.user_pool_id,
        count=count,
        rate=200.0,
        progress=False,
        **kwargs,
    )
