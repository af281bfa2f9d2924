"""Backoff with full jitter and the shared rate limiter, on a real botocore client (Stubber seam)."""

from __future__ import annotations

import random
import threading
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from harness.auth.backoff import Backoff, error_code, is_throttling, is_transient
from harness.auth.ratelimit import RateLimiter


def _cognito() -> object:
    return boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url="http://127.0.0.1:9",  # never contacted: the Stubber answers
    )


def test_throttled_call_is_retried_with_jittered_delays_within_the_cap() -> None:
    client = _cognito()
    stubber = Stubber(client)
    for _ in range(2):
        stubber.add_client_error("admin_get_user", service_error_code="TooManyRequestsException", http_status_code=400)
    stubber.add_response(
        "admin_get_user",
        {"Username": "u0", "UserStatus": "CONFIRMED"},
        {"UserPoolId": "us-east-1_x", "Username": "u0"},
    )
    slept: list[float] = []
    retries: list[tuple[int, float, str | None]] = []
    backoff = Backoff(base=0.1, cap=0.15, attempts=5)
    with stubber:
        result = backoff.retry(
            lambda: client.admin_get_user(UserPoolId="us-east-1_x", Username="u0"),
            sleep=slept.append,
            on_retry=lambda attempt, delay, err: retries.append((attempt, delay, error_code(err))),
        )
    stubber.assert_no_pending_responses()
    assert result["Username"] == "u0"
    assert [r[0] for r in retries] == [0, 1]
    assert [r[2] for r in retries] == ["TooManyRequestsException"] * 2
    assert slept == [r[1] for r in retries]
    assert 0 <= slept[0] <= 0.1  # min(cap, base * 2**0)
    assert 0 <= slept[1] <= 0.15  # min(cap, base * 2**1) = cap


def test_retries_are_bounded_and_the_last_error_is_raised() -> None:
    client = _cognito()
    stubber = Stubber(client)
    for _ in range(3):
        stubber.add_client_error("admin_get_user", service_error_code="TooManyRequestsException")
    slept: list[float] = []
    with stubber, pytest.raises(ClientError) as info:
        Backoff(base=0.01, cap=1.0, attempts=3).retry(lambda: client.admin_get_user(UserPoolId="us-east-1_x", Username="u0"), sleep=slept.append)
    assert error_code(info.value) == "TooManyRequestsException"
    assert len(slept) == 2


def test_other_errors_are_not_retried() -> None:
    client = _cognito()
    stubber = Stubber(client)
    stubber.add_client_error("admin_get_user", service_error_code="UserNotFoundException")
    slept: list[float] = []
    with stubber, pytest.raises(ClientError):
        Backoff(base=0.01).retry(lambda: client.admin_get_user(UserPoolId="us-east-1_x", Username="u0"), sleep=slept.append)
    assert slept == []


def test_full_jitter_spans_zero_to_the_bound() -> None:
    backoff = Backoff(base=0.5, cap=4.0)
    rng = random.Random(7)
    delays = [backoff.delay(3, rng=rng) for _ in range(2000)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert min(delays) < 0.2 and max(delays) > 3.8  # uniform over [0, min(4, 0.5 * 8)]
    assert backoff.bound(0) == 0.5 and backoff.bound(10) == 4.0


def test_error_classification() -> None:
    def err(code: str, status: int = 400) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")

    assert is_throttling(err("TooManyRequestsException"))
    assert is_throttling(err("ThrottlingException"))
    assert is_throttling(err("Whatever", 429))
    assert not is_throttling(err("NotAuthorizedException"))
    assert is_transient(err("InternalErrorException", 500))
    assert not is_transient(err("UserNotFoundException"))
    assert not is_throttling(ValueError("x"))


def test_rate_limiter_caps_calls_across_threads() -> None:
    limiter = RateLimiter(50.0)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert len(stamps) == 20
    assert elapsed >= 19 / 50 - 0.01  # 20 calls at 50/s: the last one no earlier than 0.38 s
    first_tenth = [s for s in stamps if s - started < 0.1]
    assert len(first_tenth) <= 6  # no burst: about 5 slots in the first 0.1 s


def test_rate_limiter_without_rate_never_waits() -> None:
    limiter = RateLimiter(None)
    assert all(limiter.acquire() == 0.0 for _ in range(100))
