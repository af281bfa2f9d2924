"""The test users' password: generated once per user pool, kept in one Secrets Manager secret.

    password = get_password(secrets=ctx.client("secretsmanager"), user_pool_id="us-east-1_AbC")

The secret is named ``harness/<user_pool_id>/test-users`` and holds
``{"password": ..., "prefix": ..., "user_pool_id": ...}``. The password is returned to the
caller and never printed, logged or put into an exception.
"""

from __future__ import annotations

import json
import logging
import secrets as _random
import string
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.auth.backoff import Backoff, error_code, is_transient
from harness.auth.explain import explain
from harness.errors import AuthError

__all__ = [
    "PASSWORD_SYMBOLS",
    "delete_password",
    "ensure_password",
    "generate_password",
    "get_password",
    "secret_name",
]

log = logging.getLogger(__name__)

#: Symbols from Cognito's allowed set that are also harmless in shells, URLs and JSON.
PASSWORD_SYMBOLS = "!#%*-_=+.?~^"

# Right after a force delete, real Secrets Manager may refuse to re-create the same name for a
# few seconds ("scheduled for deletion"): retry that, and throttling, for up to ~30 s.
_CREATE_BACKOFF = Backoff(base=0.5, cap=8.0, attempts=7)
_BACKOFF = Backoff(base=0.2, cap=5.0, attempts=6)


def secret_name(user_pool_id: str) -> str:
    """The Secrets Manager name of a pool's test-user secret: ``harness/<user_pool_id>/test-users``."""
    return f"harness/{user_pool_id}/test-users"


def generate_password(length: int = 24) -> str:
    """A random password with upper, lower, digit and symbol characters (Cognito's default policy).

    ``length`` is at least 12; Cognito allows at most 256 (its policies ask for at most 99).
    """
    length = max(12, min(int(length), 256))
    classes = [string.ascii_uppercase, string.ascii_lowercase, string.digits, PASSWORD_SYMBOLS]
    alphabet = "".join(classes)
    chars = [_random.choice(c) for c in classes]
    chars += [_random.choice(alphabet) for _ in range(length - len(chars))]
    _random.SystemRandom().shuffle(chars)
    return "".join(chars)


def _read(secrets: Any, user_pool_id: str) -> dict[str, Any] | None:
    """The secret's JSON, or None when there is no such secret."""
    name = secret_name(user_pool_id)
    doing = f"reading the test-user password secret {name}"
    try:
        response = _BACKOFF.retry(lambda: secrets.get_secret_value(SecretId=name), retry_if=is_transient)
    except ClientError as err:
        code = error_code(err)
        if code == "ResourceNotFoundException":
            return None
        if code == "InvalidRequestException":
            raise AuthError(
                f"{doing}: the secret is scheduled for deletion; restore it (aws secretsmanager restore-secret --secret-id {name}) or wait until it is gone"
            ) from None
        raise explain(
            err,
            doing=doing,
            service="secretsmanager",
            advice={"DecryptionFailure": "the secret's KMS key cannot be used; grant kms:Decrypt on it"},
        ) from None
    except BotoCoreError as err:
        raise explain(err, doing=doing, service="secretsmanager") from None
    try:
        data = json.loads(response.get("SecretString") or "")
        if not isinstance(data, dict) or not isinstance(data.get("password"), str) or not data["password"]:
            raise ValueError
    except ValueError:
        raise AuthError(f'{doing}: the secret is not harness\'s JSON ({{"password": ...}}); delete it and run `harness users create` again') from None
    return data


def get_password(*, secrets: Any, user_pool_id: str) -> str:
    """The pool's test-user password from Secrets Manager.

    Raises ``AuthError`` when there is none yet: run ``harness users create`` first.
    """
    data = _read(secrets, user_pool_id)
    if data is None:
        raise AuthError(f"no test-user password for pool {user_pool_id} in Secrets Manager ({secret_name(user_pool_id)}); run `harness users create` first")
    return str(data["password"])


def ensure_password(*, secrets: Any, user_pool_id: str, prefix: str, min_length: int = 12) -> tuple[str, bool]:
    """The pool's password, creating the secret with a new one if there is none.

    Returns ``(password, created)``. Safe against a concurrent creator: whoever loses the race
    reads the winner's password.
    """
    data = _read(secrets, user_pool_id)
    if data is not None:
        return str(data["password"]), False

    name = secret_name(user_pool_id)
    password = generate_password(max(24, min_length))
    body = json.dumps({"password": password, "prefix": prefix, "user_pool_id": user_pool_id})
    doing = f"creating the test-user password secret {name}"

    def create() -> None:
        secrets.create_secret(
            Name=name,
            Description=f"harness: password of the load-test users in Cognito pool {user_pool_id}; removed by `harness users delete`",
            SecretString=body,
        )

    def retryable(err: BaseException) -> bool:
        return is_transient(err) or error_code(err) == "InvalidRequestException"

    try:
        _CREATE_BACKOFF.retry(create, retry_if=retryable)
    except ClientError as err:
        if error_code(err) == "ResourceExistsException":
            data = _read(secrets, user_pool_id)
            if data is not None:
                return str(data["password"]), False
        if error_code(err) == "InvalidRequestException":
            raise AuthError(f"{doing}: a secret of that name is still being deleted; wait a minute and try again") from None
        raise explain(err, doing=doing, service="secretsmanager") from None
    except BotoCoreError as err:
        raise explain(err, doing=doing, service="secretsmanager") from None
    log.info("created the test-user password secret %s", name)
    return password, True


def delete_password(*, secrets: Any, user_pool_id: str) -> bool:
    """Delete the pool's secret at once (no recovery window). Returns False if there was none."""
    name = secret_name(user_pool_id)
    doing = f"deleting the test-user password secret {name}"
    # A forced delete of a missing secret succeeds silently, so look first.
    try:
        if _read(secrets, user_pool_id) is None:
            return False
    except AuthError:
        pass  # a secret we cannot read (bad JSON, scheduled for deletion) is still ours to delete
    try:
        _BACKOFF.retry(
            lambda: secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True),
            retry_if=is_transient,
        )
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return False
        raise explain(err, doing=doing, service="secretsmanager") from None
    except BotoCoreError as err:
        raise explain(err, doing=doing, service="secretsmanager") from None
    log.info("deleted the test-user password secret %s", name)
    return True
