"""Retry of throttled AWS calls: exponential backoff with full jitter (the formula is
``harness/jitter.py``'s, which a scenario's client ``retry`` uses too).

The n-th retry (``attempt`` 0, 1, 2, ...) sleeps ``random.uniform(0, min(cap, base * 2**attempt))``
seconds ("full jitter"), which spreads many clients apart instead of letting them retry in step.

    backoff = Backoff(base=0.2, cap=10.0, attempts=8)
    user = backoff.retry(lambda: cognito.admin_get_user(UserPoolId=pool, Username="u0"))

Only ``time``/``random`` are used, looked up at call time, so the sleep yields under gevent's
monkey-patching (Locust patches the process) just as it blocks a plain thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import ClientError

from harness.jitter import FullJitter, Uniform

__all__ = [
    "THROTTLING_ERROR_CODES",
    "TRANSIENT_ERROR_CODES",
    "Backoff",
    "error_code",
    "is_throttling",
    "is_transient",
]

T = TypeVar("T")

#: Error codes AWS services use for "slow down" (Cognito: ``TooManyRequestsException``).
THROTTLING_ERROR_CODES: frozenset[str] = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "TooManyRequests",
    }
)

#: Throttling plus server-side hiccups that are worth another try.
TRANSIENT_ERROR_CODES: frozenset[str] = THROTTLING_ERROR_CODES | frozenset(
    {"InternalErrorException", "InternalFailure", "InternalServiceError", "ServiceUnavailable"}
)


def error_code(err: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``"TooManyRequestsException"``), else None."""
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code") or "") or None
    return None


def is_throttling(err: BaseException) -> bool:
    """True when ``err`` is an AWS throttling error (any service's spelling of it)."""
    if not isinstance(err, ClientError):
        return False
    if error_code(err) in THROTTLING_ERROR_CODES:
        return True
    return err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 429


def is_transient(err: BaseException) -> bool:
    """True for throttling and for AWS-side internal errors (HTTP 5xx)."""
    if is_throttling(err):
        return True
    if not isinstance(err, ClientError):
        return False
    if error_code(err) in TRANSIENT_ERROR_CODES:
        return True
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return int(status) >= 500


@dataclass(frozen=True)
class Backoff(FullJitter):
    """Exponential backoff with full jitter (``FullJitter``'s ``bound`` and ``delay``), bounded
    to ``attempts`` tries in total.

    ``base``: the first retry waits up to this many seconds; each further retry doubles the bound.
    ``cap``: no single wait is longer than this.
    ``attempts``: total tries including the first; the last error is re-raised unchanged.
    """

    base: float = 0.2
    cap: float = 10.0
    attempts: int = 8

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap <= 0:
            raise ValueError("Backoff base and cap must be positive")
        if self.attempts < 1:
            raise ValueError("Backoff attempts must be at least 1")

    def retry(
        self,
        call: Callable[[], T],
        *,
        retry_if: Callable[[BaseException], bool] = is_throttling,
        on_retry: Callable[[int, float, BaseException], None] | None = None,
        sleep: Callable[[float], object] | None = None,
        rng: Uniform | None = None,
    ) -> T:
        """Run ``call()``; while it raises an error ``retry_if`` accepts, wait and try again.

        ``on_retry(attempt, delay, err)`` runs before each wait (count throttles there).
        ``sleep`` defaults to ``time.sleep`` looked up at call time (gevent-friendly).
        """
        attempt = 0
        while True:
            try:
                return call()
            except Exception as err:
                if attempt + 1 >= self.attempts or not retry_if(err):
                    raise
                wait = self.delay(attempt, rng=rng)
                if on_retry is not None:
                    on_retry(attempt, wait, err)
                (sleep or time.sleep)(wait)
                attempt += 1
