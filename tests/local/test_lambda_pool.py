"""Warm execution environments (``harness.local.lambda_runtime.pool``) without a server: a
function's code in a directory, environments as real subprocesses."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import LocalStackError
from harness.local.iam import RoleCredentials
from harness.local.lambda_runtime import pool as pool_module
from harness.local.lambda_runtime.function import Function
from harness.local.lambda_runtime.pool import Environments, keep_warm_default

CREDS = RoleCredentials(access_key_id="ASIAEXAMPLE", secret_access_key="secret", session_token="token")

CODE = """
import os

COUNT = 0


def handler(event, context):
    global COUNT
    COUNT += 1
    return {"count": COUNT, "pid": os.getpid()}
"""


def function(name: str = "fn", timeout: float = 5.0) -> Function:
    return Function(
        account_id="123456789012", region="us-east-1", name=name, arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        role="arn:aws:iam::123456789012:role/r", version="$LATEST", handler="app.handler", runtime="python3.11",
        variables={}, timeout=timeout, memory=128, code=b"zip", sha=name,
    )  # fmt: skip


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(textwrap.dedent(CODE))
    return tmp_path


@pytest.fixture
def pool() -> Iterator[Environments]:
    environments = Environments(keep_warm=60)
    yield environments
    environments.close()


def call(pool: Environments, code_dir: Path, func: Function | None = None) -> dict[str, int]:
    outcome = pool.invoke(func or function(), code_dir, CREDS, b"{}", "00000000-0000-0000-0000-000000000000")
    assert outcome.error is None, outcome.error
    return dict(json.loads(outcome.payload))


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_an_idle_environment_is_reused_then_ended_after_keep_warm(pool: Environments, code_dir: Path) -> None:
    first = call(pool, code_dir)
    assert call(pool, code_dir) == {"count": 2, "pid": first["pid"]}
    assert pool.idle() == 1
    pool.keep_warm = 0.2
    time.sleep(0.3)
    pool.expire()
    assert pool.idle() == 0 and not alive(first["pid"])
    assert call(pool, code_dir)["count"] == 1  # a new one


def test_environments_are_per_function_and_capped(pool: Environments, code_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = call(pool, code_dir, function("a")), call(pool, code_dir, function("b"))
    assert a["pid"] != b["pid"] and pool.idle() == 2
    monkeypatch.setattr(pool_module, "MAX_IDLE", 1)
    pool.expire()  # the least recently used goes
    assert pool.idle() == 1 and not alive(a["pid"]) and alive(b["pid"])


def test_close_ends_every_idle_environment_and_keeps_none_after(pool: Environments, code_dir: Path) -> None:
    pid = call(pool, code_dir)["pid"]
    pool.close()
    assert not alive(pid)
    again = call(pool, code_dir)["pid"]
    assert pool.idle() == 0 and not alive(again)  # a closed pool ends each environment after its invocation


def test_keep_warm_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_LOCAL_LAMBDA_KEEP_WARM", raising=False)
    assert keep_warm_default() == 120.0
    monkeypatch.setenv("HARNESS_LOCAL_LAMBDA_KEEP_WARM", "0")
    assert keep_warm_default() == 0.0
    for bad in ("soon", "-1"):
        monkeypatch.setenv("HARNESS_LOCAL_LAMBDA_KEEP_WARM", bad)
        with pytest.raises(LocalStackError, match="HARNESS_LOCAL_LAMBDA_KEEP_WARM=.*set it to 0"):
            keep_warm_default()


def test_the_environment_gets_no_server_secrets(pool: Environments, code_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (code_dir / "env.py").write_text(
        "import os\n\ndef handler(event, context):\n    return {'profile': os.environ.get('AWS_PROFILE'), 'key': os.environ['AWS_ACCESS_KEY_ID']}\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "server-profile")
    func = function("env")
    func = Function(**{**func.__dict__, "handler": "env.handler"})
    outcome = pool.invoke(func, code_dir, CREDS, b"{}", "11111111-1111-1111-1111-111111111111")
    assert json.loads(outcome.payload) == {"profile": None, "key": CREDS.access_key_id}  # the role's, not the server's
