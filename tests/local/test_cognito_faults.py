"""The Cognito throttle switch on a real moto server (``/_harness/faults/cognito``), and the token
pool riding out a few seconds of it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness.auth import TokenPool, create_users, get_password, make_usernames
from harness.aws import AwsContext
from harness.local.cognito_faults import DEFAULT_OPERATIONS, CognitoFaults

NO_RETRIES = Config(retries={"max_attempts": 0, "mode": "standard"})
PASSWORD = "Passw0rd!Passw0rd"


def call(base: str, method: str, path: str = "", body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"{base}/_harness/faults/cognito{path}", data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def switch(moto_server: str) -> Any:
    """The session's moto server, with every Cognito fault ended afterwards."""
    yield moto_server
    call(moto_server, "DELETE")


@pytest.fixture
def pool(aws_env: dict[str, str]) -> dict[str, str]:
    idp = boto3.client("cognito-idp", config=NO_RETRIES)
    pool_id = idp.create_user_pool(PoolName=f"faults-{uuid.uuid4().hex[:8]}")["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="faults",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool_id, Username="alice", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username="alice", Password=PASSWORD, Permanent=True)
    return {"pool_id": pool_id, "client_id": client_id}


def sign_in(pool: dict[str, str]) -> dict[str, Any]:
    idp = boto3.client("cognito-idp", config=NO_RETRIES)
    return idp.initiate_auth(ClientId=pool["client_id"], AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})


def test_throttle_window_answers_too_many_requests_then_ends(switch: str, pool: dict[str, str]) -> None:
    now = time.time()
    status, body = call(switch, "POST", body={"start": now, "end": now + 1.5})
    assert status == 201
    fault = body["fault"]
    assert fault["operations"] == list(DEFAULT_OPERATIONS) and (fault["start"], fault["end"]) == (now, now + 1.5)
    assert call(switch, "GET") == (200, {"faults": [fault]})

    with pytest.raises(ClientError) as caught:
        sign_in(pool)
    error = caught.value.response
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["Error"]["Message"] == "Too many requests"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    # an operation the window does not name still works
    boto3.client("cognito-idp", config=NO_RETRIES).describe_user_pool(UserPoolId=pool["pool_id"])

    time.sleep(max(0.0, now + 1.6 - time.time()))
    assert sign_in(pool)["AuthenticationResult"]["AccessToken"]  # it ended by itself
    assert call(switch, "GET") == (200, {"faults": []})


def test_delete_ends_faults_at_once(switch: str, pool: dict[str, str]) -> None:
    now = time.time()
    _, first = call(switch, "POST", body={"start": now, "end": now + 600})
    _, second = call(switch, "POST", body={"start": now, "end": now + 600, "operations": ["AdminInitiateAuth"]})
    with pytest.raises(ClientError, match="TooManyRequestsException"):
        sign_in(pool)
    assert call(switch, "DELETE", f"/{first['fault']['id']}") == (200, first)
    assert sign_in(pool)["AuthenticationResult"]  # InitiateAuth is free again
    admin = boto3.client("cognito-idp", config=NO_RETRIES)
    with pytest.raises(ClientError, match="TooManyRequestsException"):
        admin.admin_initiate_auth(
            UserPoolId=pool["pool_id"],
            ClientId=pool["client_id"],
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD},
        )
    assert call(switch, "DELETE", f"/{first['fault']['id']}")[0] == 404
    assert call(switch, "DELETE") == (200, {"faults": []})
    assert admin.admin_initiate_auth(
        UserPoolId=pool["pool_id"], ClientId=pool["client_id"], AuthFlow="ADMIN_USER_PASSWORD_AUTH", AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD}
    )["AuthenticationResult"]


@pytest.mark.parametrize(
    "body, message",
    [
        (b"not json", "not JSON"),
        (b"[1]", "must be a JSON object"),
        (b'{"start": 1}', "end must be a number"),
        (b'{"start": "now", "end": 2}', "start must be a number"),
        (b'{"start": 5, "end": 2}', "must be after start"),
        (b'{"start": 1, "end": 2, "operations": []}', "non-empty list"),
        (b'{"start": 1, "end": 2, "operations": ["initiate auth"]}', "operation names"),
        (b'{"start": 1, "end": 2, "kind": "x"}', "unknown field(s) kind"),
        (b'{"start": 1, "end": 200000}', "at most"),
    ],
)
def test_bad_input_is_400_with_one_line(switch: str, body: bytes, message: str) -> None:
    status, answer = call(switch, "POST", raw=body)
    assert status == 400 and message in answer["message"] and "\n" not in answer["message"]


def test_registry_expires_windows_with_its_clock() -> None:
    now = [100.0]
    registry = CognitoFaults(clock=lambda: now[0])
    registry.add({"start": 101, "end": 103, "operations": ["InitiateAuth"]})
    assert not registry.throttles("InitiateAuth")  # not started yet
    now[0] = 102
    assert registry.throttles("InitiateAuth") and not registry.throttles("SignUp")
    now[0] = 103
    assert not registry.throttles("InitiateAuth") and registry.list() == []


def test_token_pool_rides_out_a_throttle_window(switch: str, aws_env: dict[str, str]) -> None:
    aws = AwsContext()
    cognito = aws.client("cognito-idp")
    pool_id = cognito.create_user_pool(PoolName=f"ride-{uuid.uuid4().hex[:8]}")["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="ride",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    n = 6
    report = create_users(cognito=cognito, secrets=aws.client("secretsmanager"), user_pool_id=pool_id, count=n, rate=200.0, progress=False)
    assert report.ok
    password = get_password(secrets=aws.client("secretsmanager"), user_pool_id=pool_id)

    now = time.time()
    assert call(switch, "POST", body={"start": now, "end": now + 2.5})[0] == 201
    tokens = TokenPool(cognito=cognito, user_pool_id=pool_id, client_id=client_id, usernames=make_usernames(n), password=password, login_rate=200.0)
    assert tokens.login_all(concurrency=n) == n
    stats = tokens.stats()
    assert stats["logins"] == n and stats["login_failures"] == 0
    assert stats["throttle_retries"] > 0
    assert time.time() >= now + 2.0  # the sign-ins really waited for the window to end
    assert all(tokens.token(i) for i in range(n))
