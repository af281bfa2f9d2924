"""Fixtures shared by all tests: a real moto server (with our patches), env vars for boto3, and
a whole local stack with test users for the modules that run load (one per module).

It also arranges the suite for ``pytest -n`` (pytest-xdist, ``--dist loadgroup``):
- a test that uses a moto server or a local stack is marked ``integration`` whether or not it
  says so, so that ``-m "not integration"`` (``make test-fast``) never waits on one;
- the tests of a module that share a module-scoped fixture (a stack, a deployed fan-out stack,
  a rendered report) run on one worker, which builds it once, not once per worker;
- the slow ones go first, so that the workers finish together instead of one of them starting
  a 40-second fan-out run while the others are idle.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from harness.auth.users import create_users
from harness.local.moto import MotoServer
from harness.local.stack import LocalStack

SERVER_FIXTURES = frozenset({"moto_server", "stack"})

# Tests send Ctrl-C (SIGINT) to the commands they start. A shell's background job (`make test &`)
# starts with SIGINT ignored, and a child inherits that: the command would never see the Ctrl-C.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    sources: dict[Path, str] = {}
    for item in items:
        if item.get_closest_marker("timing") is not None:
            # `make test` collects its timing phase from the files that say `pytest.mark.timing`:
            # a timing test marked another way would run in neither phase
            source = sources.setdefault(item.path, item.path.read_text(encoding="utf-8"))
            if "pytest.mark.timing" not in source:
                raise pytest.UsageError(f"{item.nodeid}: mark a timing test with `pytest.mark.timing` written out (the Makefile finds them by it)")
        names = set(getattr(item, "fixturenames", ()))
        if names & SERVER_FIXTURES:
            item.add_marker(pytest.mark.integration)
        info = getattr(item, "_fixtureinfo", None)
        shared = info is not None and any(d.scope in ("module", "class", "package") for defs in info.name2fixturedefs.values() for d in defs)
        if shared and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))

    def slowness(item: pytest.Item) -> int:
        slow = item.get_closest_marker("integration") is not None or item.get_closest_marker("browser") is not None
        return 0 if slow else 1

    items.sort(key=slowness)  # stable: each module keeps its order


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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A local stack (moto + the API Gateway emulator) with 6 test users, for one module;
    ``stack.run_env`` is the environment a Locust child needs to reach it."""
    with LocalStack(log_dir=tmp_path_factory.mktemp("stack-logs")) as stack, stack.activate() as env:
        aws = boto3.session.Session(region_name=stack.info.region)
        create_users(
            cognito=aws.client("cognito-idp"), secrets=aws.client("secretsmanager"),
            user_pool_id=stack.info.user_pool_id, count=6, progress=False,
        )  # fmt: skip
        stack.run_env = env
        yield stack


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 (a free port) answering with ``handler``, for the length
    of the ``with``; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
