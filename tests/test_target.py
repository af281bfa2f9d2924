"""``local`` names resolved to the running local stack (its info given inline, as
``harness run --local`` gives it to Locust), and AWS names left alone."""

from __future__ import annotations

import os

import pytest

from harness.local.stack import LocalStackInfo
from harness.target import resolve_pool

INFO = LocalStackInfo(
    endpoint_url="http://127.0.0.1:4599",
    api_url="http://127.0.0.1:4600",
    region="eu-west-1",
    user_pool_id="eu-west-1_local",
    client_id="localclient",
    api_id="harnesslcl",
    stage="$default",
    pids={"moto": os.getpid()},  # alive: the stack counts as running
    log_dir="/tmp",
)


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_LOCAL_INFO", INFO.model_dump_json())
    for key in INFO.env(jwks=False):  # unset, and restored after the test
        monkeypatch.delenv(key, raising=False)


def test_local_pool_is_the_stacks_and_boto3_is_pointed_at_it(local: None) -> None:
    assert resolve_pool("local", None) == ("eu-west-1_local", "eu-west-1")
    assert resolve_pool("local", "us-east-2") == ("eu-west-1_local", "us-east-2")
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4599"
    assert os.environ["AWS_REGION"] == "eu-west-1"


def test_an_aws_pool_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_LOCAL_INFO", raising=False)
    assert resolve_pool("us-east-1_AbC", None) == ("us-east-1_AbC", None)
