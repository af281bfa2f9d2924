"""The token pool against a real moto server: admin and SRP sign-in, refresh, background refresher."""

from __future__ import annotations

import logging
import time

import jwt
import pytest
from botocore.stub import Stubber

from harness.auth import TokenPool, get_password, make_usernames
from harness.aws import AwsContext
from harness.errors import LoginFailed

from .conftest import Pool, create_users_in

N = 3


class Clock:
    """Wall-clock time plus an offset the test moves forward (no hour-long sleeps)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def password(aws: AwsContext, pool: Pool) -> str:
    create_users_in(aws, pool, N)
    return get_password(secrets=aws.client("secretsmanager"), user_pool_id=pool.user_pool_id)


def _pool(aws: AwsContext, pool: Pool, password: str, **kwargs: object) -> TokenPool:
    return TokenPool(
        cognito=aws.client("cognito-idp"),
        user_pool_id=pool.user_pool_id,
        client_id=pool.client_id,
        usernames=make_usernames(N),
        password=password,
        login_rate=200.0,
        **kwargs,
    )


def _verified_claims(token: str, pool: Pool) -> dict[str, object]:
    """Verify the signature against the pool's JWKS, as API Gateway would."""
    jwks = jwt.PyJWKSet.from_dict(pool.jwks())
    key = jwks[jwt.get_unverified_header(token)["kid"]].key
    return dict(jwt.decode(token, key, algorithms=["RS256"], issuer=f"https://cognito-idp.us-east-1.amazonaws.com/{pool.user_pool_id}"))


@pytest.mark.parametrize("flow", ["admin", "srp"])
def test_login_all_gives_each_identity_its_own_valid_token(aws: AwsContext, pool: Pool, password: str, flow: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="harness")
    caplog.set_level(logging.INFO)
    tokens = _pool(aws, pool, password, flow=flow)
    assert tokens.login_all(concurrency=3) == N
    assert tokens.stats() == {"logins": N, "refreshes": 0, "login_failures": 0, "refresh_failures": 0, "throttle_retries": 0}
    for i in range(2 * N):
        claims = _verified_claims(tokens.token(i), pool)
        assert claims["username"] == f"loadtestuser{i % N}"
        assert claims["token_use"] == "access"
        assert claims["client_id"] == pool.client_id
        id_claims = jwt.decode(tokens.id_token(i), options={"verify_signature": False})
        assert id_claims["cognito:username"] == f"loadtestuser{i % N}"
    assert tokens.logins == N  # token() reused the sign-ins
    assert tokens.login_all() == 0  # nothing left to do

    _assert_no_secrets(tokens, password, caplog.text, repr(tokens), repr(tokens.identity(0)))


def test_token_signs_in_lazily(aws: AwsContext, pool: Pool, password: str) -> None:
    tokens = _pool(aws, pool, password)
    assert not tokens.identity(1).signed_in
    token = tokens.token(1)
    assert tokens.logins == 1 and tokens.identity(1).signed_in
    assert tokens.token(1) == token


def test_token_refreshes_when_expiry_is_near(aws: AwsContext, pool: Pool, password: str) -> None:
    clock = Clock()
    tokens = _pool(aws, pool, password, clock=clock)
    first = tokens.token(0)
    assert tokens.token(0) == first and tokens.refreshes == 0

    clock.offset = 3600 - 200  # 200 s left, margin 300 s: due
    second = tokens.token(0)
    assert tokens.refreshes == 1 and tokens.logins == 1
    assert second != first  # moto mints a new jti on every refresh
    assert _verified_claims(second, pool)["username"] == "loadtestuser0"


def test_large_refresh_margin_refreshes_without_a_clock(aws: AwsContext, pool: Pool, password: str) -> None:
    tokens = _pool(aws, pool, password, refresh_margin=3599.0)  # moto tokens live 3600 s
    first = tokens.token(0)
    time.sleep(1.1)  # now within 3599 s of exp (iat is whole seconds)
    second = tokens.token(0)
    assert tokens.refreshes >= 1
    assert second != first


def test_refresh_after_a_401_happens_once(aws: AwsContext, pool: Pool, password: str) -> None:
    tokens = _pool(aws, pool, password)
    refused = tokens.token(2)  # pretend the API answered 401 to this token
    fresh = tokens.refresh(2, stale=refused)
    assert fresh != refused and tokens.refreshes == 1
    # A second virtual user holding the same refused token does not cause another refresh.
    assert tokens.refresh(2, stale=refused) == fresh
    assert tokens.refreshes == 1
    assert tokens.token(2) == fresh
    # Without stale, refresh always refreshes.
    assert tokens.refresh(2) != fresh and tokens.refreshes == 2


def test_background_refresher_refreshes_without_a_caller(aws: AwsContext, pool: Pool, password: str) -> None:
    clock = Clock()
    tokens = _pool(aws, pool, password, clock=clock)
    tokens.login_all()
    before = [tokens.identity(i).tokens for i in range(N)]
    with tokens:
        tokens.start_refresher(interval=0.05)
        clock.offset = 3600 - 100  # all tokens now due
        deadline = time.monotonic() + 5
        while tokens.refreshes < N and time.monotonic() < deadline:
            time.sleep(0.05)
    assert tokens.refreshes >= N
    after = [tokens.identity(i).tokens for i in range(N)]
    assert all(a is not b for a, b in zip(after, before))
    count = tokens.refreshes
    time.sleep(0.2)
    assert tokens.refreshes == count  # close() stopped the thread


def test_srp_identities_refresh_too(aws: AwsContext, pool: Pool, password: str) -> None:
    clock = Clock()
    tokens = _pool(aws, pool, password, flow="srp", clock=clock)
    first = tokens.token(1)
    clock.offset = 3500
    assert tokens.token(1) != first
    assert (tokens.logins, tokens.refreshes) == (1, 1)


def test_wrong_password_is_a_one_line_login_failed(aws: AwsContext, pool: Pool, password: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="harness")
    wrong = password + "x"
    tokens = _pool(aws, pool, wrong)
    with pytest.raises(LoginFailed) as info:
        tokens.login_all()
    message = str(info.value)
    assert message.startswith("loadtestuser")
    assert f"could not sign in to pool {pool.user_pool_id}: NotAuthorizedException" in message
    assert "harness users create" in message
    assert tokens.login_failures >= 1 and tokens.logins == 0
    assert info.value.__cause__ is None and info.value.__suppress_context__
    _assert_no_secrets(tokens, wrong, message, caplog.text, repr(tokens))


def test_unknown_user_says_what_to_do(aws: AwsContext, pool: Pool, password: str) -> None:
    tokens = TokenPool(
        cognito=aws.client("cognito-idp"),
        user_pool_id=pool.user_pool_id,
        client_id=pool.client_id,
        usernames=["loadtestuser99"],
        password=password,
    )
    with pytest.raises(LoginFailed, match="loadtestuser99 could not sign in.*UserNotFoundException.*users create"):
        tokens.token(0)


def test_revoked_refresh_token_falls_back_to_sign_in(aws: AwsContext, pool: Pool, password: str) -> None:
    cognito = aws.client("cognito-idp")
    tokens = _pool(aws, pool, password)
    tokens.token(0)
    stubber = Stubber(cognito)  # Cognito refuses the refresh token, then accepts a new sign-in
    stubber.add_client_error("initiate_auth", service_error_code="NotAuthorizedException", http_status_code=400)
    real = _pool(aws, pool, password)
    real.token(0)
    fresh = real.identity(0).tokens
    assert fresh is not None
    stubber.add_response(
        "admin_initiate_auth",
        {"AuthenticationResult": {"AccessToken": fresh.access, "IdToken": fresh.id, "RefreshToken": "r", "ExpiresIn": 3600}},
    )
    with stubber:
        assert tokens.refresh(0) == fresh.access
    assert (tokens.refresh_failures, tokens.logins) == (1, 2)


def test_throttled_sign_in_is_retried_and_counted(aws: AwsContext, pool: Pool, password: str) -> None:
    cognito = aws.client("cognito-idp")
    real = _pool(aws, pool, password)
    real.token(0)
    fresh = real.identity(0).tokens
    assert fresh is not None
    tokens = _pool(aws, pool, password)
    stubber = Stubber(cognito)
    stubber.add_client_error("admin_initiate_auth", service_error_code="TooManyRequestsException")
    stubber.add_response(
        "admin_initiate_auth",
        {"AuthenticationResult": {"AccessToken": fresh.access, "IdToken": fresh.id, "RefreshToken": "r", "ExpiresIn": 3600}},
    )
    with stubber:
        assert tokens.token(0) == fresh.access
    assert (tokens.throttle_retries, tokens.logins) == (1, 1)


def _assert_no_secrets(tokens: TokenPool, password: str, *texts: str) -> None:
    secrets = [password]
    for ident in (tokens.identity(i) for i in range(len(tokens))):
        if ident.tokens is not None:
            secrets += [ident.tokens.access, ident.tokens.id, ident.tokens.refresh or "?" * 40]
    for text in texts:
        for secret in secrets:
            assert secret not in text
