"""Turn a failed AWS call into a one-line ``AuthError`` that says what to do next.

    except ClientError as err:
        raise explain(err, doing=f"creating test users in pool {pool}") from None

AWS error *messages* are never copied into ours: some services echo request parameters
(moto puts a refresh token into one), so only the error code, the operation name and our own
advice appear. ``from None`` keeps the original exception, and its message, off tracebacks.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from harness.auth.backoff import error_code, is_throttling
from harness.errors import AuthError

__all__ = ["ACCESS_DENIED_CODES", "CREDENTIAL_ERROR_CODES", "explain", "iam_action"]

ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "Forbidden"})
CREDENTIAL_ERROR_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationToken",
    }
)


def iam_action(err: ClientError, service: str) -> str:
    """The IAM action a failed call needed, e.g. ``cognito-idp:AdminCreateUser``."""
    return f"{service}:{err.operation_name}"  # botocore's service names are IAM's prefixes


def explain(
    err: BaseException,
    *,
    doing: str,
    service: str = "cognito-idp",
    not_found: str | None = None,
    attempts: int | None = None,
    advice: dict[str, str] | None = None,
) -> AuthError:
    """An ``AuthError`` for ``err`` raised while ``doing`` something (``"creating test users in pool X"``).

    ``not_found``: what a ``ResourceNotFoundException`` means here (``"user pool X not found in us-east-1"``).
    ``attempts``: how often a throttled call was tried, for the message.
    ``advice``: extra ``{error code: what to do}`` entries for this call.
    """
    if isinstance(err, AuthError):
        return err
    if isinstance(err, (NoCredentialsError, PartialCredentialsError)):
        return AuthError(f"{doing}: no AWS credentials found; configure a profile or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or run against the local stack)")
    if isinstance(err, NoRegionError):
        return AuthError(f"{doing}: no AWS region set; pass --region or set AWS_REGION")
    if isinstance(err, EndpointConnectionError):
        return AuthError(
            f"{doing}: could not reach {service} at {err.kwargs.get('endpoint_url', '?')}; check the region and AWS_ENDPOINT_URL (is the local stack running?)"
        )
    if isinstance(err, BotoCoreError):
        return AuthError(f"{doing}: {type(err).__name__} talking to {service}; check the network and AWS settings")
    if not isinstance(err, ClientError):
        return AuthError(f"{doing}: {type(err).__name__}")

    code = error_code(err) or "UnknownError"
    action = iam_action(err, service)
    if advice and code in advice:
        return AuthError(f"{doing}: {code} ({advice[code]})")
    if code in ACCESS_DENIED_CODES:
        return AuthError(f"{doing}: AWS denied {action}; grant {action} to the identity running harness")
    if code in CREDENTIAL_ERROR_CODES:
        return AuthError(f"{doing}: AWS rejected the credentials ({code}); refresh or fix them")
    if code in ("ResourceNotFoundException", "SecretNotFoundException") and not_found:
        return AuthError(f"{doing}: {not_found}")
    if is_throttling(err):
        tries = f" after {attempts} attempts" if attempts else ""
        return AuthError(f"{doing}: {service} still throttled {action}{tries} ({code}); lower the rate or ask AWS for a higher quota")
    return AuthError(f"{doing}: {action} failed with {code}")
