"""Fixtures shared by all tests: a real moto server (with our patches) and env vars for boto3."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.local.moto import MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The URL of a moto server subprocess that lives for the whole test session."""
    with MotoServer() as server:
        yield server.url


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point boto3 at ``moto_server`` for one test (endpoint, dummy credentials, region)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
