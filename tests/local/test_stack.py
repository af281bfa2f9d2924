"""The local stack: real moto and emulator subprocesses, started and stopped for real."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import jwt
import pytest

from harness.errors import LocalStackError
from harness.local.apigw.config import BackendConfig, Throttle
from harness.local.moto import MotoServer, pid_alive, start_on_free_port, start_process, stop_process
from harness.local.stack import (
    EXPLICIT_AUTH_FLOWS,
    LocalStack,
    LocalStackInfo,
    load_local_info,
    local_down,
    local_status,
    local_up,
    state_file,
)

pytestmark = pytest.mark.integration  # runs harness commands in subprocesses


def get_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return int(resp.status)


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    yield tmp_path / "state"
    local_down()  # never leave a detached stack behind, even when the test failed


def test_local_stack_comes_up_and_goes_away(tmp_path: Path) -> None:
    stack = LocalStack(
        log_dir=tmp_path / "logs",
        throttle=Throttle(rate=50, burst=10),
        backend=BackendConfig(latency_ms=1, latency_sigma=0),
    )
    with stack:
        info = stack.info
        assert info.endpoint_url.startswith("http://127.0.0.1:")
        assert info.api_url.startswith("http://127.0.0.1:")
        assert (info.region, info.api_id, info.stage) == ("us-east-1", "harnesslcl", "$default")
        assert set(info.pids) == {"moto", "emulator"}
        assert json.loads(info.model_dump_json())["user_pool_id"] == info.user_pool_id

        # the emulator got our config and answers
        config = json.loads((tmp_path / "logs" / "apigw.json").read_text())
        assert config["throttle"] == {"rate": 50.0, "burst": 10}
        assert config["authorizer"]["audience"] == [info.client_id]
        assert config["metrics"]["endpoint_url"] == info.endpoint_url
        assert get_status(f"{info.api_url}/_admin/health") == 200

        # env() points boto3 at moto, where the pool and its client exist
        env = stack.env()
        assert env["AWS_ENDPOINT_URL"] == info.endpoint_url
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
        assert json.loads(env["COGNITO_JWKS"])["keys"]
        session = boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_REGION"],
        )
        cognito = session.client("cognito-idp", endpoint_url=env["AWS_ENDPOINT_URL"])
        pool = cognito.describe_user_pool(UserPoolId=info.user_pool_id)["UserPool"]
        assert pool["Name"] == "harness-local"
        client = cognito.describe_user_pool_client(UserPoolId=info.user_pool_id, ClientId=info.client_id)
        assert sorted(client["UserPoolClient"]["ExplicitAuthFlows"]) == sorted(EXPLICIT_AUTH_FLOWS)
        assert "ClientSecret" not in client["UserPoolClient"]

        # a user can sign in, and the token is one the emulator's authorizer expects
        cognito.admin_create_user(UserPoolId=info.user_pool_id, Username="u1", MessageAction="SUPPRESS")
        cognito.admin_set_user_password(UserPoolId=info.user_pool_id, Username="u1", Password="Passw0rd!Passw0rd", Permanent=True)
        tokens = cognito.initiate_auth(
            ClientId=info.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "u1", "PASSWORD": "Passw0rd!Passw0rd"},
        )["AuthenticationResult"]
        claims = jwt.decode(tokens["AccessToken"], options={"verify_signature": False})
        assert claims["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{info.user_pool_id}"
        assert claims["client_id"] == info.client_id
        pids = dict(info.pids)
    assert not any(pid_alive(pid) for pid in pids.values())
    with pytest.raises(LocalStackError, match="not been started"):
        _ = stack.info


def test_local_up_status_down_across_the_state_file(state_dir: Path) -> None:
    assert local_status() is None
    with pytest.raises(LocalStackError, match="no local stack is running"):
        load_local_info()

    info = local_up()
    assert state_file() == state_dir / "local.json"
    assert LocalStackInfo.model_validate_json(state_file().read_text()) == info
    assert Path(info.log_dir) == state_dir / "logs"

    status = local_status()
    assert status is not None and status["healthy"], status
    assert status["moto"]["pid"] == info.pids["moto"]
    assert load_local_info() == info
    assert local_up() == info  # already running: the same stack
    assert get_status(f"{info.api_url}/_admin/health") == 200
    assert json.loads(load_local_info().env()["COGNITO_JWKS"])["keys"]

    assert local_down() is True
    assert not state_file().exists()
    assert not any(pid_alive(pid) for pid in info.pids.values())
    assert local_status() is None
    assert local_down() is False


def test_stale_state_file_is_reported(state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    dead = LocalStackInfo(
        endpoint_url="http://127.0.0.1:9",
        api_url="http://127.0.0.1:9",
        user_pool_id="us-east-1_x",
        client_id="c",
        api_id="a",
        stage="$default",
        pids={"moto": 2**22 + 12345},  # beyond any pid_max default: never a live process
        log_dir=str(state_dir / "logs"),
    )
    state_file().write_text(dead.model_dump_json())
    with pytest.raises(LocalStackError, match="not running any more"):
        load_local_info()
    status = local_status()
    assert status is not None and not status["healthy"]
    assert local_down() is True


def test_moto_server_failure_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = MotoServer(port=port, log_path=tmp_path / "moto.log", start_timeout=20)
        with pytest.raises(LocalStackError) as err:
            server.start()
    message = str(err.value)
    assert "\n" not in message
    assert f"127.0.0.1:{port}" in message and str(tmp_path / "moto.log") in message
    assert "in use" in message
    assert server.process is None


def _fake_server(clash: bool, log: Path) -> subprocess.Popen[bytes]:
    """A process that either fails to bind like a server whose port was taken, or just runs."""
    code = "import sys; sys.exit('OSError: [Errno 98] address already in use')" if clash else "import time; time.sleep(30)"
    return start_process([sys.executable, "-c", code], log_path=log)


def test_a_free_port_taken_before_the_server_binds_it_is_retried_on_another(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    ports: list[int] = []

    def launch(port: int) -> subprocess.Popen[bytes]:
        ports.append(port)
        return _fake_server(clash=len(ports) == 1, log=log)

    proc, port = start_on_free_port("test server", "127.0.0.1", None, launch, lambda p: len(ports) == 2, timeout=10, log_path=log)
    try:
        assert len(ports) == 2 and port == ports[1]
        assert proc.poll() is None
    finally:
        stop_process(proc)


def test_a_port_the_caller_chose_is_not_retried(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    launched: list[int] = []

    def launch(port: int) -> subprocess.Popen[bytes]:
        launched.append(port)
        return _fake_server(clash=True, log=log)

    with pytest.raises(LocalStackError, match="already in use"):
        start_on_free_port("test server", "127.0.0.1", 45678, launch, lambda p: False, timeout=10, log_path=log)
    assert launched == [45678]


def test_moto_server_runs_state_machines(aws_env: dict[str, str]) -> None:
    """The server is configured so Step Functions really execute (moto's default only records)."""
    sfn = boto3.client("stepfunctions")
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"k": 1}, "End": True}}}
    arn = sfn.create_state_machine(name=f"sm-{time.time_ns()}", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r")[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    deadline = time.monotonic() + 10
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish within 10 s"
        time.sleep(0.1)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"k": 1}
