"""The API Gateway emulator as a real subprocess, with real Cognito tokens from a real moto server.

Forged tokens are signed with moto's own pool key (public in the moto package) so that each one
fails exactly one check; everything else is the real thing.
"""

from __future__ import annotations

import functools
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
import requests
from jwt.algorithms import RSAAlgorithm

from harness.local.apigw import ROUTE_KEYS, EmulatorConfig

REGION = "us-east-1"
PASSWORD = "Emulator-test-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
UNAUTHORIZED = {"message": "Unauthorized"}
FORBIDDEN = {"message": "Forbidden"}


# --------------------------------------------------------------------------- fixtures


class Pool:
    """A moto user pool with two app clients and one user's tokens from each."""

    def __init__(self, moto_url: str) -> None:
        idp = boto3.client(
            "cognito-idp",
            endpoint_url=moto_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.moto_url = moto_url
        self.id = idp.create_user_pool(PoolName="apigw-test")["UserPool"]["Id"]
        flows = ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
        self.client_id, self.other_client_id = (
            idp.create_user_pool_client(UserPoolId=self.id, ClientName=name, ExplicitAuthFlows=flows)["UserPoolClient"]["ClientId"] for name in ("app", "other")
        )
        idp.admin_create_user(UserPoolId=self.id, Username="alice", MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=self.id, Username="alice", Password=PASSWORD, Permanent=True)
        self.tokens, self.other_tokens = (
            idp.admin_initiate_auth(
                UserPoolId=self.id,
                ClientId=client,
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD},
            )["AuthenticationResult"]
            for client in (self.client_id, self.other_client_id)
        )
        self.access = self.tokens["AccessToken"]
        self.issuer = f"https://cognito-idp.{REGION}.amazonaws.com/{self.id}"
        self.jwks_url = f"{moto_url}/{self.id}/.well-known/jwks.json"

    def forge(self, *, key: Any = None, kid: str = "dummy", **claims: Any) -> str:
        """An access token signed with moto's pool key (or ``key``), with ``claims`` changed."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "forged-sub",
            "client_id": self.client_id,
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "iat": now,
            "exp": now + 3600,
            "username": "alice",
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key or moto_signing_key(), algorithm="RS256", headers={"kid": kid})


@functools.cache
def moto_signing_key() -> Any:
    """moto's Cognito signing key: it ships in the moto package (third-party test data)."""
    from moto.utilities.utils import load_resource

    return RSAAlgorithm.from_jwk(load_resource("cognitoidp/resources/jwks-private.json"))


class EmulatorProcess:
    """``python -m harness.local.apigw`` in a subprocess; ``stop()`` sends SIGTERM."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        EmulatorConfig.model_validate(config)  # fail early on a broken test config
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "apigw.json"
        config_path.write_text(json.dumps(config))
        self.log_path = workdir / "apigw.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.local.apigw", "--config-file", str(config_path)],
            stdout=subprocess.PIPE,
            stderr=open(self.log_path, "wb"),  # noqa: SIM115 - the child holds it
            env={**os.environ, **CREDENTIALS},
        )
        line = self._read_line(timeout=20)
        ready = json.loads(line)
        self.url: str = ready["url"]
        self.admin: str = ready["admin"]
        self.http = requests.Session()
        self.sent: Counter[tuple[str, str]] = Counter()  # (route key, status) -> n, as the test saw it

    def _read_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self.proc.kill()
                raise AssertionError(f"emulator did not start: {self.log_path.read_text()[-2000:]}")
        line = self.proc.stdout.readline().decode()
        if not line:
            raise AssertionError(f"emulator exited: {self.log_path.read_text()[-2000:]}")
        return line

    def call(self, method: str, path: str, route_key: str, *, token: str | None = None, bearer: bool = True, **kw: Any) -> requests.Response:
        """One API request; its (route key, status) is tallied for the counts check."""
        headers = kw.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}" if bearer else token
        response = self.http.request(method, self.url + path, headers=headers, timeout=10, **kw)
        self.sent[(route_key, str(response.status_code))] += 1
        return response

    def admin_call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None) -> requests.Response:
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.http.request(method, f"{self.admin}{path}", data=data, timeout=10)

    def expected_counts(self) -> dict[str, Any]:
        routes: dict[str, dict[str, int]] = {}
        for (key, status), n in sorted(self.sent.items()):
            routes.setdefault(key, {})[status] = n
        return {"routes": routes, "total": sum(self.sent.values())}

    def reset(self) -> None:
        assert self.admin_call("POST", "/counts/reset").status_code == 200
        self.sent.clear()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.http.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def pool(moto_server: str) -> Pool:
    return Pool(moto_server)


def base_config(pool: Pool, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "authorizer": {
            "user_pool_id": pool.id,
            "region": REGION,
            "jwks_url": pool.jwks_url,
            "audience": [pool.client_id],
            "route_scopes": {"POST /orders": ["orders/write"]},
        },
        "backend": {"latency_ms": 1, "latency_sigma": 0.2, "seed": 7},
        "metrics": {"enabled": False},
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="module")
def emulator(pool: Pool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    emu = EmulatorProcess(base_config(pool), tmp_path_factory.mktemp("apigw"))
    try:
        yield emu
    finally:
        assert emu.stop() == 0


@pytest.fixture
def api(emulator: EmulatorProcess) -> EmulatorProcess:
    """The shared emulator with zeroed counts."""
    emulator.reset()
    return emulator


def assert_counts_match(api: EmulatorProcess) -> None:
    assert api.admin_call("GET", "/counts").json() == api.expected_counts()


# --------------------------------------------------------------------------- routes and auth


def test_valid_tokens_reach_every_route(api: EmulatorProcess, pool: Pool) -> None:
    r = api.call("GET", "/items", "GET /items", token=pool.access)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert len(r.json()["items"]) == 5
    assert api.call("GET", "/items/42", "GET /items/{id}", token=pool.access).json()["id"] == "42"
    # the raw token without "Bearer" is accepted, like API Gateway; so is an id token (aud)
    assert api.call("GET", "/items/7", "GET /items/{id}", token=pool.access, bearer=False).status_code == 200
    profile = api.call("GET", "/users/bob/profile", "GET /users/{user}/profile", token=pool.tokens["IdToken"])
    assert profile.status_code == 200
    assert profile.json()["user"] == "bob" and profile.json()["username"] == "alice"
    assert_counts_match(api)


def test_unknown_routes_are_404(api: EmulatorProcess, pool: Pool) -> None:
    for method, path in [("GET", "/nope"), ("DELETE", "/items"), ("GET", "/items/1/extra"), ("GET", "/users//profile")]:
        r = api.call(method, path, "NOT_FOUND", token=pool.access)
        assert (r.status_code, r.json()) == (404, {"message": "Not Found"})
    assert_counts_match(api)


@pytest.fixture(scope="module")
def other_key() -> Any:
    """An RSA key that is not the pool's."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "empty bearer",
        "garbage",
        "other key",
        "tampered",
        "unknown kid",
        "wrong issuer",
        "expired",
        "not yet valid",
        "wrong client",
        "other app client",
        "bad token_use",
        "hs256",
    ],
)
def test_bad_tokens_are_401(api: EmulatorProcess, pool: Pool, other_key: Any, case: str) -> None:
    now = int(time.time())
    header, payload, signature = pool.access.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["username"] = "mallory"
    tampered = ".".join([header, jwt.utils.base64url_encode(json.dumps(claims).encode()).decode(), signature])
    tokens: dict[str, Callable[[], str | None]] = {
        "missing": lambda: None,
        "empty bearer": lambda: "",
        "garbage": lambda: "not-a-jwt",
        "other key": lambda: pool.forge(key=other_key),
        "tampered": lambda: tampered,
        "unknown kid": lambda: pool.forge(key=other_key, kid="rotated"),
        "wrong issuer": lambda: pool.forge(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"),
        "expired": lambda: pool.forge(iat=now - 7200, exp=now - 3600),
        "not yet valid": lambda: pool.forge(nbf=now + 600),
        "wrong client": lambda: pool.forge(client_id="someone-else"),
        "other app client": lambda: pool.other_tokens["AccessToken"],
        "bad token_use": lambda: pool.forge(token_use="refresh"),
        "hs256": lambda: jwt.encode({"iss": pool.issuer, "client_id": pool.client_id, "exp": now + 60}, "k" * 32, "HS256"),
    }
    token = tokens[case]()
    r = api.call("GET", "/items", "GET /items", token=token)
    assert r.status_code == 401
    assert r.text == '{"message":"Unauthorized"}'
    assert r.headers["www-authenticate"].startswith("Bearer")
    # the forged-but-valid control shows the 401 came from the one claim changed
    assert api.call("GET", "/items", "GET /items", token=pool.forge()).status_code == 200
    assert_counts_match(api)


def test_scopes(api: EmulatorProcess, pool: Pool) -> None:
    # Cognito's access token holds only aws.cognito.signin.user.admin; POST /orders needs orders/write
    r = api.call("POST", "/orders", "POST /orders", token=pool.access, json={"sku": "a1", "qty": 2})
    assert (r.status_code, r.text) == (403, '{"message":"Forbidden"}')
    r = api.call("POST", "/orders", "POST /orders", token=pool.tokens["IdToken"], json={"sku": "a1"})
    assert r.status_code == 403  # an id token has no scopes at all
    token = pool.forge(scope="openid orders/write")
    r = api.call("POST", "/orders", "POST /orders", token=token, json={"sku": "a1", "qty": 2})
    assert r.status_code == 201
    body = r.json()
    assert body["sku"] == "a1" and body["qty"] == 2 and body["orderId"].startswith("ord-")
    assert_counts_match(api)


# --------------------------------------------------------------------------- throttling


def test_route_and_stage_throttling(api: EmulatorProcess, pool: Pool) -> None:
    r = api.admin_call("PUT", "/throttle", {"route_throttles": {"GET /items/{id}": {"rate": 5, "burst": 5}}})
    assert r.status_code == 200
    assert r.json()["route_throttles"] == {"GET /items/{id}": {"rate": 5.0, "burst": 5}}
    try:
        t0 = time.monotonic()
        statuses = [api.call("GET", f"/items/{i}", "GET /items/{id}", token=pool.access).status_code for i in range(20)]
        elapsed = time.monotonic() - t0
        throttled = api.call("GET", "/items/x", "GET /items/{id}", token=pool.access)
    finally:
        api.admin_call("PATCH", "/throttle", {"route_throttles": {"GET /items/{id}": None}})
    ok = statuses.count(200)
    assert statuses.count(429) == 20 - ok
    # a full bucket of 5, refilled at 5/s while the 20 requests ran
    assert abs(ok - min(20, 5 + int(5 * elapsed))) <= 1, (ok, elapsed)
    assert statuses[:5] == [200] * 5
    if throttled.status_code == 429:
        assert throttled.text == '{"message":"Too Many Requests"}'
    # other routes were not throttled by the route limit
    assert api.call("GET", "/items", "GET /items", token=pool.access).status_code == 200

    # the stage's default limit applies to each route separately, as on AWS; throttling comes before the authorizer
    default = api.admin_call("GET", "/config").json()["throttle"]
    assert api.admin_call("PUT", "/throttle", {"throttle": {"rate": 0.05, "burst": 3}}).status_code == 200
    try:
        statuses = [api.call("GET", "/items", "GET /items", token=None).status_code for _ in range(6)]
        others = [api.call("GET", "/items/x", "GET /items/{id}", token=None).status_code for _ in range(4)]
    finally:
        api.admin_call("PUT", "/throttle", {"throttle": default})
    assert statuses == [401, 401, 401, 429, 429, 429]
    assert others == [401, 401, 401, 429]  # a bucket of its own, full, with the stage's limits
    assert_counts_match(api)


def test_a_throttle_fault_lowers_each_routes_limit_separately(api: EmulatorProcess) -> None:
    r = api.admin_call("POST", "/faults", {"kind": "throttle", "after": 0, "duration": 60, "throttle": {"rate": 0.01, "burst": 2}})
    assert r.status_code == 201, r.text
    try:
        items = [api.call("GET", "/items", "GET /items", token=None).status_code for _ in range(3)]
        item = [api.call("GET", "/items/x", "GET /items/{id}", token=None).status_code for _ in range(3)]
    finally:
        api.admin_call("DELETE", f"/faults/{r.json()['fault']['id']}")
    assert items == [401, 401, 429] and item == [401, 401, 429]
    assert_counts_match(api)


# --------------------------------------------------------------------------- backend and admin


def test_admin_backend_changes_apply_while_running(api: EmulatorProcess, pool: Pool) -> None:
    r = api.admin_call("PATCH", "/backend", {"error_rate": 1.0})
    assert r.status_code == 200 and r.json()["backend"]["error_rate"] == 1.0
    try:
        r = api.call("GET", "/items", "GET /items", token=pool.access)
        assert (r.status_code, r.json()) == (500, {"message": "Internal Server Error"})
        api.admin_call("PUT", "/backend", {"error_status": 502})
        assert api.call("GET", "/items/1", "GET /items/{id}", token=pool.access).status_code == 502
        api.admin_call("PUT", "/backend", {"error_rate": 0.0, "latency_ms": 300, "latency_sigma": 0})
        t0 = time.monotonic()
        assert api.call("GET", "/items", "GET /items", token=pool.access).status_code == 200
        assert time.monotonic() - t0 >= 0.29
    finally:
        restore = {"error_rate": 0.0, "error_status": 500, "latency_ms": 1, "latency_sigma": 0.2}
        api.admin_call("PUT", "/backend", restore)
    config = api.admin_call("GET", "/config").json()
    assert config["backend"]["latency_ms"] == 1 and config["backend"]["error_rate"] == 0
    assert_counts_match(api)


def test_fault_windows(api: EmulatorProcess, pool: Pool) -> None:
    r = api.admin_call("POST", "/faults", {"kind": "outage", "after": 0, "duration": 3.0, "routes": ["GET /items"]})
    assert r.status_code == 201
    fault = r.json()["fault"]
    assert fault["kind"] == "outage" and fault["end"] - fault["start"] == pytest.approx(3.0)
    r = api.call("GET", "/items", "GET /items", token=pool.access)
    assert (r.status_code, r.json()) == (503, {"message": "Service Unavailable"})
    assert api.call("GET", "/items/1", "GET /items/{id}", token=pool.access).status_code == 200  # other route
    time.sleep(max(0.0, fault["end"] - time.time()) + 0.05)
    assert api.call("GET", "/items", "GET /items", token=pool.access).status_code == 200  # window over

    now = time.time()
    r = api.admin_call("POST", "/faults", {"kind": "error", "start": now - 1, "end": now + 60, "status": 504})
    assert r.status_code == 201
    assert api.call("GET", "/items/2", "GET /items/{id}", token=pool.access).status_code == 504
    listed = {f["id"] for f in api.admin_call("GET", "/faults").json()["faults"]}
    assert {fault["id"], r.json()["fault"]["id"]} <= listed  # ended faults stay listed (with their real end) too
    assert api.admin_call("DELETE", "/faults").json() == {"faults": []}
    assert api.call("GET", "/items/2", "GET /items/{id}", token=pool.access).status_code == 200
    assert_counts_match(api)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/backend", {"error_rate": 2}),
        ("PATCH", "/backend", {"bogus": 1}),
        ("PUT", "/backend", [1, 2]),
        ("PUT", "/throttle", {"throttle": {"rate": 0, "burst": 1}}),
        ("PUT", "/throttle", {"route_throttles": {"GET /nope": {"rate": 1, "burst": 1}}}),
        ("PATCH", "/throttle", {"throttle": {"rate": 5, "burst": 5}, "route_throttles": {"GET /nope": {"rate": 1, "burst": 1}}}),
        ("PUT", "/throttle", {}),
        ("PUT", "/throttle", {"route_throttles": {"GET /items": None}}),  # only PATCH removes with null
        ("POST", "/faults", {"kind": "outage", "after": 0, "duration": 1, "routes": ["GET /nope"]}),
        ("PUT", "/backend", {"faults": [{"kind": "outage", "start": 1, "end": 2, "routes": ["GET /nope"]}]}),
        ("POST", "/faults", {"kind": "outage"}),
        ("POST", "/faults", {"kind": "meteor", "after": 0, "duration": 1}),
        ("POST", "/faults", {"kind": "outage", "after": 0, "duration": 1, "start": 1}),
        ("POST", "/faults", {"kind": "outage", "start": 10, "end": 5}),
    ],
)
def test_bad_admin_input_is_400(api: EmulatorProcess, method: str, path: str, body: Any) -> None:
    before = api.admin_call("GET", "/config").json()
    r = api.admin_call(method, path, body)
    assert r.status_code == 400
    message = r.json()["message"]
    assert message and "\n" not in message
    if "GET /nope" in json.dumps(body):
        assert "unknown route key 'GET /nope'" in message
    assert api.admin_call("GET", "/config").json() == before


def test_admin_misc(api: EmulatorProcess, pool: Pool) -> None:
    assert api.admin_call("GET", "/health").json()["status"] == "ok"
    assert api.admin_call("PUT", "/backend", raw=b"{not json").status_code == 400
    assert api.admin_call("GET", "/nothing").status_code == 404
    config = api.admin_call("GET", "/config").json()
    assert EmulatorConfig.model_validate(config).authorizer.user_pool_id == pool.id
    api.call("GET", "/items", "GET /items", token=pool.access)
    api.call("GET", "/items", "GET /items")
    expected = api.expected_counts()
    assert expected == {"routes": {"GET /items": {"200": 1, "401": 1}}, "total": 2}
    assert api.admin_call("POST", "/counts/reset").json() == expected  # returns what it cleared
    assert api.admin_call("GET", "/counts").json() == {"routes": {}, "total": 0}
    stats = api.admin_call("GET", "/stats").json()
    assert stats["authorizer"]["jwks_fetches"] >= 1 and stats["metrics"]["put_errors"] == 0


def test_counts_reconcile_a_mixed_run(api: EmulatorProcess, pool: Pool) -> None:
    api.admin_call("PUT", "/throttle", {"route_throttles": {"GET /users/{user}/profile": {"rate": 1, "burst": 2}}})
    try:
        for i in range(30):
            kind = i % 6
            if kind == 0:
                api.call("GET", "/items", "GET /items", token=pool.access)
            elif kind == 1:
                api.call("GET", f"/items/{i}", "GET /items/{id}", token=pool.access)
            elif kind == 2:
                api.call("GET", f"/users/u{i}/profile", "GET /users/{user}/profile", token=pool.access)
            elif kind == 3:
                api.call("POST", "/orders", "POST /orders", token=pool.access, json={"i": i})  # 403
            elif kind == 4:
                api.call("GET", "/items", "GET /items", token="garbage")
            else:
                api.call("PUT", "/items", "NOT_FOUND", token=pool.access)
    finally:
        api.admin_call("PATCH", "/throttle", {"route_throttles": {"GET /users/{user}/profile": None}})
    counts = api.admin_call("GET", "/counts").json()
    assert counts == api.expected_counts()
    assert set(counts["routes"]) <= {*ROUTE_KEYS, "NOT_FOUND"}
    assert "429" in counts["routes"]["GET /users/{user}/profile"]


# --------------------------------------------------------------------------- CloudWatch


def test_metrics_reach_cloudwatch(pool: Pool, tmp_path: Path) -> None:
    api_id = f"m{int(time.time() * 1000) % 10**8}"
    config = base_config(
        pool,
        api_id=api_id,
        stage="$default",
        route_throttles={"GET /items/{id}": {"rate": 0.01, "burst": 1}},
        backend={"latency_ms": 2, "latency_sigma": 0},
        metrics={"enabled": True, "endpoint_url": pool.moto_url, "region": REGION, "interval": 0.3},
    )
    emu = EmulatorProcess(config, tmp_path)
    try:
        for _ in range(4):
            emu.call("GET", "/items", "GET /items", token=pool.access)  # 4 x 200
        emu.call("GET", "/items", "GET /items")  # 401
        deadline = time.monotonic() + 10
        while emu.admin_call("GET", "/stats").json()["metrics"]["put_calls"] == 0:  # a periodic publish
            assert time.monotonic() < deadline, "no metrics published within 10 s"
            time.sleep(0.1)
        emu.call("GET", "/items/1", "GET /items/{id}", token=pool.access)  # 200
        emu.call("GET", "/items/2", "GET /items/{id}", token=pool.access)  # 429
        emu.call("GET", "/nope", "NOT_FOUND")  # 404
        errors = emu.admin_call("PATCH", "/backend", {"error_rate": 1})
        assert errors.status_code == 200
        emu.call("GET", "/items", "GET /items", token=pool.access)  # 500
        assert emu.admin_call("GET", "/counts").json() == emu.expected_counts()
    finally:
        assert emu.stop() == 0  # SIGTERM flushes what is left

    cloudwatch = boto3.client(
        "cloudwatch",
        endpoint_url=pool.moto_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    now = datetime.now(UTC)

    def stats(name: str) -> dict[str, float]:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/ApiGateway",
            MetricName=name,
            Dimensions=[{"Name": "ApiId", "Value": api_id}, {"Name": "Stage", "Value": "$default"}],
            StartTime=now - timedelta(minutes=10),
            EndTime=now + timedelta(minutes=5),
            Period=60,
            Statistics=["Sum", "SampleCount"],
        )["Datapoints"]
        return {
            "Sum": round(sum(p["Sum"] for p in points), 6),
            "SampleCount": sum(p["SampleCount"] for p in points),
            "units": {p["Unit"] for p in points},
        }

    sent = 9  # 5 x 200, 1 x 401, 1 x 429, 1 x 404, 1 x 500
    assert stats("Count") == {"Sum": sent, "SampleCount": sent, "units": {"Count"}}
    assert stats("4xx") == {"Sum": 3, "SampleCount": sent, "units": {"Count"}}
    assert stats("5xx") == {"Sum": 1, "SampleCount": sent, "units": {"Count"}}
    latency = stats("Latency")
    assert latency["SampleCount"] == sent and latency["units"] == {"Milliseconds"}
    integration = stats("IntegrationLatency")
    assert integration["SampleCount"] == 6  # only requests that reached the backend
    assert integration["Sum"] >= 6 * 2.0 and latency["Sum"] >= integration["Sum"]


# --------------------------------------------------------------------------- in process


def test_token_bucket_math() -> None:
    from harness.local.apigw.config import Throttle
    from harness.local.apigw.throttle import Throttler

    throttler = Throttler(Throttle(rate=10, burst=3), {}, now=100.0)
    assert [throttler.allow("GET /items/{id}", 100.0) for _ in range(4)] == [True, True, True, False]
    assert throttler.allow("GET /items/{id}", 100.1)  # 0.1 s x 10/s = one token
    assert not throttler.allow("GET /items/{id}", 100.1)
    throttler.set_stage(Throttle(rate=1, burst=1), 101.0)
    assert throttler.defaults.buckets["GET /items/{id}"].tokens == 1.0  # capped at the new burst
    assert throttler.allow("GET /items/{id}", 1000.0) and not throttler.allow("GET /items/{id}", 1000.0)


def test_the_stages_default_limit_applies_to_each_route_separately_as_on_aws() -> None:
    from harness.local.apigw.config import Throttle
    from harness.local.apigw.throttle import Throttler

    throttler = Throttler(Throttle(rate=1, burst=2), {}, now=100.0)
    assert [throttler.allow("GET /items", 100.0) for _ in range(3)] == [True, True, False]
    # another route has a bucket of its own with the stage's limits: not emptied by the first
    assert [throttler.allow("GET /items/{id}", 100.0) for _ in range(3)] == [True, True, False]


def test_a_route_with_its_own_limit_is_not_held_to_the_stages_default() -> None:
    from harness.local.apigw.config import Throttle
    from harness.local.apigw.throttle import Throttler

    throttler = Throttler(Throttle(rate=1, burst=1), {"GET /items": Throttle(rate=1, burst=4)}, now=100.0)
    assert [throttler.allow("GET /items", 100.0) for _ in range(5)] == [True, True, True, True, False]
    throttler.set_routes({}, 100.0)  # the override removed: the stage's default applies again
    assert [throttler.allow("GET /items", 100.0) for _ in range(2)] == [True, False]


def test_in_process_api_named_stage_and_jwks_outage() -> None:
    """``Emulator`` from code: a named stage prefixes paths; an unreachable JWKS means 401."""
    import asyncio

    import aiohttp

    from harness.local.apigw import AuthorizerConfig, Emulator, MetricsConfig
    from harness.processes import free_port

    async def run() -> None:
        closed = free_port()
        config = EmulatorConfig(
            stage="prod",
            metrics=MetricsConfig(enabled=False),
            authorizer=AuthorizerConfig(user_pool_id="us-east-1_x", jwks_url=f"http://127.0.0.1:{closed}/jwks.json", route_scopes={}),
        )
        async with Emulator(config) as emu, aiohttp.ClientSession() as http:
            assert emu.url.endswith("/prod")
            async with http.get(f"{emu.url}/items", headers={"Authorization": "Bearer a.b.c"}) as r:
                assert r.status == 401
            async with http.get(f"{emu.url.removesuffix('/prod')}/items") as r:
                assert r.status == 404  # no stage prefix
            async with http.get(f"{emu.admin_url}/stats") as r:
                stats = await r.json()
            assert stats["authorizer"]["jwks_errors"] >= 1
            assert emu.counts() == {"routes": {"GET /items": {"401": 1}, "NOT_FOUND": {"404": 1}}, "total": 2}

        plain = EmulatorConfig(metrics=MetricsConfig(enabled=False))
        async with Emulator(plain) as emu, aiohttp.ClientSession() as http:
            async with http.get(f"{emu.url}/users/x/profile") as r:  # no authorizer: no auth
                assert r.status == 200 and (await r.json())["user"] == "x"

    asyncio.run(run())


@pytest.mark.integration  # starts the emulator as a program
def test_command_line(tmp_path: Path) -> None:
    """Exit 0 after SIGINT, 2 for a config that is missing or invalid, 3 for an unknown route key."""
    emu = EmulatorProcess({"port": 0, "metrics": {"enabled": False}}, tmp_path / "ok")
    assert emu.http.get(f"{emu.admin}/health", timeout=5).json()["status"] == "ok"
    emu.proc.send_signal(signal.SIGINT)
    assert emu.proc.wait(20) == 0
    emu.http.close()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness.local.apigw", *args], capture_output=True, text=True, timeout=30)

    missing = run("--config-file", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    (tmp_path / "bad.json").write_text(json.dumps({"throttle": {"rate": -1, "burst": 1}}))
    bad = run("--config-file", str(tmp_path / "bad.json"))
    assert bad.returncode == 2 and "throttle.rate" in bad.stderr
    (tmp_path / "route.json").write_text(json.dumps({"route_throttles": {"GET /nope": {"rate": 1, "burst": 1}}}))
    route = run("--config-file", str(tmp_path / "route.json"), "--port", "0")
    assert route.returncode == 3 and "GET /nope" in route.stderr


def test_public_api() -> None:
    import harness.local.apigw as apigw

    assert sorted(apigw.__all__) == sorted(
        [
            "Emulator",
            "serve",
            "EmulatorConfig",
            "AuthorizerConfig",
            "BackendConfig",
            "Fault",
            "LambdaIntegration",
            "MetricsConfig",
            "Throttle",
            "ROUTE_KEYS",
            "NOT_FOUND_KEY",
        ]
    )
    assert all(hasattr(apigw, name) for name in apigw.__all__)


def test_metrics_failures_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio
    import logging

    import aiohttp

    from harness.local.apigw import Emulator, MetricsConfig
    from harness.processes import free_port

    unreachable = MetricsConfig(endpoint_url=f"http://127.0.0.1:{free_port()}", interval=0.1)

    async def run() -> dict[str, Any]:
        async with Emulator(EmulatorConfig(metrics=unreachable)) as emu, aiohttp.ClientSession() as http:
            for _ in range(3):
                async with http.get(f"{emu.url}/items") as r:
                    assert r.status == 200
                await asyncio.sleep(0.3)  # a few publishing rounds
        return emu.stats()["metrics"]

    with caplog.at_level(logging.WARNING, logger="harness.local.apigw.metrics"):
        with pytest.MonkeyPatch.context() as mp:
            for name, value in CREDENTIALS.items():
                mp.setenv(name, value)
            stats = asyncio.run(run())
    assert stats["put_errors"] >= 2 and stats["put_calls"] == 0 and stats["data_dropped"] >= 2 * 5
    assert "EndpointConnectionError" in stats["last_error"]
    warnings = [r for r in caplog.records if r.name == "harness.local.apigw.metrics"]
    assert len(warnings) == 1
