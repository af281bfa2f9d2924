"""The emulator's Lambda proxy integration: real functions in a real moto server, run by the local
Lambda runtime; a whole local stack for the throttling and report checks."""

from __future__ import annotations

import asyncio
import io
import json
import textwrap
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
import requests

from harness import metrics
from harness.local.apigw import Emulator, EmulatorConfig, LambdaIntegration, MetricsConfig
from harness.local.apigw.lambda_backend import handler as backend_handler
from harness.local.stack import LAMBDA_FUNCTION_NAME, LambdaBackend, LocalStack
from harness.report.analysis import who_throttled
from harness.report.server import ServerMetrics
from harness.report.timeline import Timeline
from harness.results import ResultSet
from harness.scenario import LocalSettings, Scenario
from harness.target import resolve_target

PASSWORD = "Passw0rd!Passw0rd"

ECHO = """
import json

def handler(event, context):
    return {"statusCode": 202, "headers": {"x-echo": "yes", "content-type": "application/json"},
            "cookies": ["a=1", "b=2"], "body": json.dumps(event)}
"""
PLAIN = "def handler(event, context):\n    return {'plain': True, 'route': event['routeKey']}\n"
RAISES = "def handler(event, context):\n    raise ValueError('boom')\n"
MALFORMED = "def handler(event, context):\n    return {'statusCode': 'two hundred', 'body': 'x'}\n"
SLOW = "import time\n\ndef handler(event, context):\n    time.sleep(3)\n    return {'statusCode': 200, 'body': 'late'}\n"


def make_zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("app.py", textwrap.dedent(source))
    return buf.getvalue()


@pytest.fixture
def functions(aws_env: dict[str, str]) -> dict[str, str]:
    """One function per behaviour in the session's moto server: {behaviour: function name}."""
    iam, lam = boto3.client("iam"), boto3.client("lambda")
    trust = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    )
    role = iam.create_role(RoleName=f"proxy-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    names = {}
    for kind, source in {"echo": ECHO, "plain": PLAIN, "raises": RAISES, "malformed": MALFORMED, "slow": SLOW}.items():
        name = names[kind] = f"proxy-{kind}-{uuid.uuid4().hex[:6]}"
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": make_zip(source)}, Timeout=10)
    return names


def test_proxy_event_and_response_mapping(functions: dict[str, str], moto_server: str) -> None:
    """The 2.0 event reaches the function; its answer, a plain JSON value, an error, a malformed
    answer and an integration timeout are answered as an HTTP API answers them."""

    async def call(name: str, method: str, path: str, *, timeout: float = 30.0, **kw: Any) -> tuple[int, Any, Any]:
        config = EmulatorConfig(
            metrics=MetricsConfig(enabled=False),
            lambda_integration=LambdaIntegration(function_name=name, endpoint_url=moto_server, timeout=timeout),
        )
        async with Emulator(config) as emu, aiohttp.ClientSession() as http:
            async with http.request(method, emu.url + path, **kw) as r:
                body = await r.read()
                return r.status, body, (r.headers, emu.stats()["lambda"], emu.counts())

    status, body, (headers, stats, _) = asyncio.run(
        call(functions["echo"], "POST", "/orders?x=1&x=2&y=3", data=b'{"qty": 2}', headers={"Cookie": "c1=v1; c2=v2", "X-Custom": "k"})
    )
    assert status == 202 and headers["x-echo"] == "yes"
    assert headers.getall("Set-Cookie") == ["a=1", "b=2"]
    event = json.loads(body)
    assert event["version"] == "2.0" and event["routeKey"] == "POST /orders"
    assert (event["rawPath"], event["rawQueryString"]) == ("/orders", "x=1&x=2&y=3")
    assert event["queryStringParameters"] == {"x": "1,2", "y": "3"}
    assert event["cookies"] == ["c1=v1", "c2=v2"] and event["headers"]["x-custom"] == "k"
    assert event["requestContext"]["http"]["method"] == "POST" and event["requestContext"]["stage"] == "$default"
    assert (event["body"], event["isBase64Encoded"]) == ('{"qty": 2}', False)
    assert "authorizer" not in event["requestContext"]  # no authorizer configured
    assert stats["invocations"] == 1

    status, body, _ = asyncio.run(call(functions["plain"], "GET", "/items/7"))
    assert (status, json.loads(body)) == (200, {"plain": True, "route": "GET /items/{id}"})

    for kind in ("raises", "malformed"):
        status, body, (_, stats, counts) = asyncio.run(call(functions[kind], "GET", "/items"))
        assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"}), kind
        assert counts["routes"]["GET /items"] == {"500": 1}
        assert stats["function_errors" if kind == "raises" else "malformed"] == 1

    status, body, (_, stats, _) = asyncio.run(call(functions["slow"], "GET", "/items", timeout=0.5))
    assert (status, json.loads(body)) == (503, {"message": "Service Unavailable"})
    assert stats["timeouts"] == 1


def test_backend_handler_answers_the_mock_routes() -> None:
    event = {
        "routeKey": "GET /users/{user}/profile",
        "pathParameters": {"user": "bob"},
        "requestContext": {"authorizer": {"jwt": {"claims": {"sub": "s-1", "username": "alice"}, "scopes": None}}},
    }
    answer = backend_handler(event, None)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"user": "bob", "sub": "s-1", "username": "alice"}
    order = backend_handler({"routeKey": "POST /orders", "body": '{"qty": 1}'}, None)
    assert order["statusCode"] == 201 and json.loads(order["body"])["qty"] == 1
    assert backend_handler({"routeKey": "POST /orders", "body": "[1]"}, None)["statusCode"] == 400


def test_scenario_settings_for_the_lambda_integration() -> None:
    settings = LocalSettings(integration="lambda", lambda_reserved_concurrency=5, lambda_latency_ms=200)
    stack = LocalStack.for_scenario(settings)
    assert stack.lambda_backend == LambdaBackend(reserved_concurrency=5, latency_ms=200, timeout=10)
    assert LocalStack.for_scenario(LocalSettings()).lambda_backend is None
    with pytest.raises(ValueError, match='lambda_reserved_concurrency need integration = "lambda"'):
        LocalSettings(lambda_reserved_concurrency=5)
    with pytest.raises(ValueError, match="must be below lambda_timeout"):
        LocalSettings(integration="lambda", lambda_latency_ms=5000, lambda_timeout=5)
    with pytest.raises(ValueError):
        LocalSettings(integration="lambda", lambda_reserved_concurrency=-1)


# --------------------------------------------------------------------------- a whole local stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A local stack whose API sends every route to a slow function with reserved concurrency 1."""
    with LocalStack(log_dir=tmp_path_factory.mktemp("lambda-stack"), lambda_backend=LambdaBackend(reserved_concurrency=1, latency_ms=1200)) as local:
        yield local


def token(stack: LocalStack) -> str:
    info = stack.info
    idp = boto3.client("cognito-idp", endpoint_url=info.endpoint_url, region_name=info.region, aws_access_key_id="testing", aws_secret_access_key="testing")
    name = f"u{uuid.uuid4().hex[:6]}"
    idp.admin_create_user(UserPoolId=info.user_pool_id, Username=name, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=info.user_pool_id, Username=name, Password=PASSWORD, Permanent=True)
    return idp.initiate_auth(ClientId=info.client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})[
        "AuthenticationResult"
    ]["AccessToken"]


def test_stack_deploys_the_backend_function(stack: LocalStack) -> None:
    info = stack.info
    assert info.lambda_function == LAMBDA_FUNCTION_NAME
    assert stack.env()["HARNESS_LOCAL_LAMBDA_FUNCTION"] == LAMBDA_FUNCTION_NAME
    config = json.loads((Path(info.log_dir) / "apigw.json").read_text())
    assert config["lambda_integration"]["function_name"] == LAMBDA_FUNCTION_NAME
    assert config["lambda_integration"]["endpoint_url"] == info.endpoint_url

    access = token(stack)
    r = requests.get(f"{info.api_url}/users/bob/profile", headers={"Authorization": f"Bearer {access}"}, timeout=30)
    assert r.status_code == 200, r.text
    profile = r.json()
    assert profile["user"] == "bob" and profile["username"] and profile["sub"]  # claims passed through
    assert requests.get(f"{info.api_url}/items", timeout=30).status_code == 401  # the authorizer still runs first

    # a run against this stack pulls the function's AWS/Lambda metrics without naming it
    scenario = Scenario.from_dict(
        {
            "name": "lambda",
            "target": {"base_url": "local", "lambda_functions": ["other"]},
            "endpoints": [{"name": "list", "path": "/items"}],
            "load": {"profile": "steady", "rate": 1, "duration": "1s"},
        }
    )
    with stack.activate():
        target = resolve_target(scenario)
    assert target.lambda_functions == ["other", LAMBDA_FUNCTION_NAME]
    assert target.as_dict()["lambda_functions"] == ["other", LAMBDA_FUNCTION_NAME]


def test_lambda_concurrency_throttles_and_who_throttled_names_lambda(stack: LocalStack) -> None:
    info = stack.info
    access = token(stack)
    requests.post(f"{info.api_url}/_admin/counts/reset", timeout=10)
    before = requests.get(f"{info.api_url}/_admin/stats", timeout=10).json()["lambda"]
    results = ResultSet()
    time.sleep(1.05 - time.time() % 1)  # a fresh second: the 401 of the test before is not in this run
    started = time.time()
    results.meta = {"started_at": started}
    answers: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        t0 = time.time()
        r = requests.get(f"{info.api_url}/items", headers={"Authorization": f"Bearer {access}"}, timeout=30)
        with lock:
            answers.append(r.status_code)
            results.record("items", "ok" if r.status_code == 200 else "error", r.status_code, start_time=t0, response_time_ms=(time.time() - t0) * 1000)

    threads = [threading.Thread(target=one) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ended = time.time()
    results.meta["ended_at"] = ended
    # reserved concurrency 1: one invocation runs, the others are throttled and answered 500
    assert sorted(answers) == [200, 500, 500, 500, 500], answers
    counts = requests.get(f"{info.api_url}/_admin/counts", timeout=10).json()
    assert counts["routes"]["GET /items"] == {"200": 1, "500": 4}
    stats = requests.get(f"{info.api_url}/_admin/stats", timeout=10).json()["lambda"]
    assert stats["throttled"] - before["throttled"] == 4 and stats["invocations"] - before["invocations"] == 1

    cloudwatch = boto3.client(
        "cloudwatch", endpoint_url=info.endpoint_url, region_name=info.region, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    queries = metrics.build_queries(api_id=info.api_id, stage=info.stage, lambda_functions=[info.lambda_function])
    start = datetime.fromtimestamp(int(started), tz=UTC)
    deadline = time.monotonic() + 15
    while True:  # both publishers flush every second
        frame = metrics.fetch(cloudwatch, queries, start=start, end=datetime.fromtimestamp(ended + 2, tz=UTC), period=1)
        throttles = frame[(frame.key == "throttles") & (frame.stat == "Sum")].value.sum()
        fivexx = frame[(frame.key == "5xx") & (frame.stat == "Sum")].value.sum()
        if (throttles >= 4 and fivexx >= 4) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert throttles == 4 and fivexx == 4

    findings = who_throttled(Timeline.of(results), ServerMetrics(frame))
    states = {f.layer: f.state for f in findings}
    assert findings[0].layer == "Lambda" and findings[0].state == "throttled"
    assert states["API Gateway"] == "clear" and states["Client"] == "clear"  # 500s, not 429s
