"""Sign-ins on a real moto server publish Cognito's ``AWS/Cognito`` metrics, throttled ones too."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.exceptions import ClientError

from harness.metrics import build_queries, fetch
from tests.local.test_cognito_faults import NO_RETRIES, PASSWORD, call, pool, sign_in, switch  # noqa: F401 (fixtures)


def cognito_sums(user_pool: dict[str, str], start: datetime, want: dict[str, float]) -> dict[str, float]:
    """Whole-window Sums of the Cognito keys harness reads, once they reach ``want`` (published
    once a second; waits at most 60 s, then answers what is there)."""
    queries = build_queries(user_pool_id=user_pool["pool_id"], client_id=user_pool["client_id"])
    cw = boto3.client("cloudwatch")
    deadline = time.monotonic() + 60
    while True:
        end = datetime.now(UTC) + timedelta(seconds=5)
        frame = fetch(cw, queries, start=start, end=end, period=60, scope="run")
        sums = frame.groupby("key")["value"].sum(min_count=1).to_dict()
        if all(sums.get(k, 0) >= v for k, v in want.items()) or time.monotonic() > deadline:
            return sums
        time.sleep(0.5)


def test_sign_ins_and_refreshes_publish_cognito_successes_and_no_throttles_datum(pool: dict[str, str]) -> None:  # noqa: F811
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    idp = boto3.client("cognito-idp", config=NO_RETRIES)
    tokens = [sign_in(pool)["AuthenticationResult"] for _ in range(3)]
    idp.admin_initiate_auth(UserPoolId=pool["pool_id"], ClientId=pool["client_id"], AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                            AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})  # fmt: skip
    idp.initiate_auth(ClientId=pool["client_id"], AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": tokens[0]["RefreshToken"]})
    with pytest.raises(ClientError):
        idp.initiate_auth(ClientId=pool["client_id"], AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": "alice", "PASSWORD": "wrong-Passw0rd"})
    sums = cognito_sums(pool, start, {"sign_in_successes": 4, "token_refresh_successes": 1})
    assert sums["sign_in_successes"] == 4  # the failed sign-in counts as an attempt, not a success
    assert sums["token_refresh_successes"] == 1
    # as on AWS, a throttles datum exists only for a throttled request: none here, not even a 0
    assert pd.isna(sums.get("sign_in_throttles")) and pd.isna(sums.get("token_refresh_throttles"))


def test_a_throttled_sign_in_publishes_sign_in_throttles(switch: Any, pool: dict[str, str]) -> None:  # noqa: F811
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    status, _ = call(switch, "POST", body={"start": time.time() - 1, "end": time.time() + 60})
    assert status == 201
    for _ in range(2):
        with pytest.raises(ClientError) as caught:
            sign_in(pool)
        assert caught.value.response["Error"]["Code"] == "TooManyRequestsException"
    call(switch, "DELETE")
    sign_in(pool)
    sums = cognito_sums(pool, start, {"sign_in_throttles": 2, "sign_in_successes": 1})
    assert sums["sign_in_throttles"] == 2 and sums["sign_in_successes"] == 1
