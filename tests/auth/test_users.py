"""Test users against a real moto server: create, reuse, delete exactly ours, keep the password secret."""

from __future__ import annotations

import json
import logging

import pytest
from botocore.stub import ANY, Stubber

from harness.auth import create_users, delete_users, get_password, make_usernames, secret_name
from harness.auth.secret import PASSWORD_SYMBOLS, generate_password
from harness.aws import AwsContext
from harness.errors import AuthError

from .conftest import Pool, create_users_in


def _users(aws: AwsContext, pool_id: str) -> dict[str, str]:
    """username -> status of every user in the pool."""
    users: dict[str, str] = {}
    for page in aws.client("cognito-idp").get_paginator("list_users").paginate(UserPoolId=pool_id):
        users.update({u["Username"]: u["UserStatus"] for u in page["Users"]})
    return users


def test_create_reuse_and_delete(aws: AwsContext, pool: Pool, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG, logger="harness")
    caplog.set_level(logging.INFO)
    cognito = aws.client("cognito-idp")
    secrets = aws.client("secretsmanager")

    report = create_users_in(aws, pool, 5)
    assert (report.created, report.reused, report.failed) == (5, 0, 0)
    assert report.secret_created and report.ok
    assert _users(aws, pool.user_pool_id) == {f"loadtestuser{i}": "CONFIRMED" for i in range(5)}
    password = get_password(secrets=secrets, user_pool_id=pool.user_pool_id)
    stored = json.loads(secrets.get_secret_value(SecretId=secret_name(pool.user_pool_id))["SecretString"])
    assert stored == {"password": password, "prefix": "loadtestuser", "user_pool_id": pool.user_pool_id}

    again = create_users_in(aws, pool, 7)
    assert (again.created, again.reused, again.failed) == (2, 5, 0)
    assert not again.secret_created
    assert get_password(secrets=secrets, user_pool_id=pool.user_pool_id) == password
    assert len(_users(aws, pool.user_pool_id)) == 7
    assert "created 2, reused 5, failed 0 test users" in again.summary()

    # The password really is the users' password.
    auth = cognito.admin_initiate_auth(
        UserPoolId=pool.user_pool_id,
        ClientId=pool.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "loadtestuser6", "PASSWORD": password},
    )
    assert "AccessToken" in auth["AuthenticationResult"]

    # Users outside ^loadtestuser\d+$ survive.
    for name in ("alice", "loadtestuserX", "loadtestuser1a", "xloadtestuser1"):
        cognito.admin_create_user(UserPoolId=pool.user_pool_id, Username=name, MessageAction="SUPPRESS")

    gone = delete_users(cognito=cognito, secrets=secrets, user_pool_id=pool.user_pool_id, rate=200.0, progress=False)
    assert (gone.deleted, gone.failed) == (7, 0)
    assert gone.secret_deleted
    assert set(_users(aws, pool.user_pool_id)) == {"alice", "loadtestuserX", "loadtestuser1a", "xloadtestuser1"}
    with pytest.raises(AuthError, match="run `harness users create` first"):
        get_password(secrets=secrets, user_pool_id=pool.user_pool_id)

    # Deleting again is harmless.
    twice = delete_users(cognito=cognito, secrets=secrets, user_pool_id=pool.user_pool_id, progress=False)
    assert (twice.deleted, twice.failed, twice.secret_deleted) == (0, 0, False)

    out = capsys.readouterr()
    for text in (caplog.text, out.out, out.err, repr(report), report.summary(), repr(gone), gone.summary()):
        assert password not in text
    assert "created 5, reused 0, failed 0" in caplog.text  # our log lines were captured


def test_many_users_paginate_on_delete(aws: AwsContext, pool: Pool) -> None:
    report = create_users_in(aws, pool, 65, concurrency=16)  # more than one list_users page (60)
    assert report.created == 65
    gone = delete_users(
        cognito=aws.client("cognito-idp"),
        secrets=aws.client("secretsmanager"),
        user_pool_id=pool.user_pool_id,
        rate=500.0,
        concurrency=16,
        progress=False,
    )
    assert gone.deleted == 65
    assert _users(aws, pool.user_pool_id) == {}


def test_custom_prefix_and_email(aws: AwsContext, pool: Pool) -> None:
    report = create_users_in(aws, pool, 2, prefix="lt-", email_domain="example.com")
    assert report.created == 2
    user = aws.client("cognito-idp").admin_get_user(UserPoolId=pool.user_pool_id, Username="lt-1")
    attrs = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert attrs["email"] == "lt-1@example.com"
    assert make_usernames(2, "lt-") == ["lt-0", "lt-1"]


def test_unknown_pool_is_one_clear_error(aws: AwsContext) -> None:
    with pytest.raises(AuthError) as info:
        create_users(
            cognito=aws.client("cognito-idp"),
            secrets=aws.client("secretsmanager"),
            user_pool_id="us-east-1_doesNotExist",
            count=3,
            progress=False,
        )
    message = str(info.value)
    assert "us-east-1_doesNotExist not found in us-east-1" in message
    assert "\n" not in message
    # No stray secret for a pool that does not exist.
    with pytest.raises(AuthError):
        get_password(secrets=aws.client("secretsmanager"), user_pool_id="us-east-1_doesNotExist")


def test_access_denied_names_the_iam_action(aws: AwsContext, pool: Pool) -> None:
    """AccessDenied from AWS (the Stubber plays IAM: moto does not enforce it) names the action."""
    cognito = aws.client("cognito-idp")
    stubber = Stubber(cognito)
    stubber.add_response("describe_user_pool", {"UserPool": {"Id": pool.user_pool_id}}, {"UserPoolId": pool.user_pool_id})
    stubber.add_client_error("admin_create_user", service_error_code="AccessDeniedException", http_status_code=400)
    with stubber, pytest.raises(AuthError) as info:
        create_users(
            cognito=cognito,
            secrets=aws.client("secretsmanager"),
            user_pool_id=pool.user_pool_id,
            count=1,
            progress=False,
        )
    assert "cognito-idp:AdminCreateUser" in str(info.value)


def test_throttled_admin_calls_are_retried(aws: AwsContext, pool: Pool) -> None:
    cognito = aws.client("cognito-idp")
    stubber = Stubber(cognito)
    stubber.add_response("describe_user_pool", {"UserPool": {"Id": pool.user_pool_id}}, {"UserPoolId": pool.user_pool_id})
    for _ in range(2):
        stubber.add_client_error("admin_create_user", service_error_code="TooManyRequestsException")
    stubber.add_response("admin_create_user", {"User": {"Username": "loadtestuser0"}}, None)
    stubber.add_response(
        "admin_set_user_password",
        {},
        {"UserPoolId": pool.user_pool_id, "Username": "loadtestuser0", "Password": ANY, "Permanent": True},
    )
    with stubber:
        report = create_users(
            cognito=cognito,
            secrets=aws.client("secretsmanager"),
            user_pool_id=pool.user_pool_id,
            count=1,
            progress=False,
        )
    stubber.assert_no_pending_responses()
    assert (report.created, report.failed, report.throttle_retries) == (1, 0, 2)


def test_generated_password_meets_cognito_default_policy() -> None:
    for _ in range(50):
        password = generate_password()
        assert len(password) >= 12
        assert any(c.isupper() for c in password)
        assert any(c.islower() for c in password)
        assert any(c.isdigit() for c in password)
        assert any(c in PASSWORD_SYMBOLS for c in password)
    assert generate_password() != generate_password()


def test_bad_prefix_is_rejected(aws: AwsContext, pool: Pool) -> None:
    with pytest.raises(AuthError, match="prefix"):
        delete_users(
            cognito=aws.client("cognito-idp"),
            secrets=aws.client("secretsmanager"),
            user_pool_id=pool.user_pool_id,
            prefix='a"b',
            progress=False,
        )
