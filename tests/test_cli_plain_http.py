"""``harness run`` against a plain HTTP API (no API Gateway, no ``[auth]``): no AWS at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from harness.results import ResultSet
from tests.conftest import http_server
from tests.test_cli import harness, one_line_error

pytestmark = pytest.mark.integration  # runs harness commands in subprocesses


class _Items(BaseHTTPRequestHandler):
    """GET /items answers 200 with a small JSON list; nothing else is served."""

    def do_GET(self) -> None:
        body = json.dumps([{"id": 1}]).encode()
        self.send_response(200 if self.path == "/items" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def plain_api() -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 (a free port), for one test."""
    with http_server(_Items) as url:
        yield url


def plain_scenario(tmp_path: Path, base_url: str, *, gates: str = "") -> Path:
    path = tmp_path / "plain.toml"
    path.write_text(
        f'name = "plain"\n{gates}\n[target]\nbase_url = "{base_url}"\n'
        '[[endpoints]]\nname = "list items"\npath = "/items"\n'
        '[load]\nprofile = "steady"\nrate = 5\nduration = "3s"\nvus = 2\n'
    )
    return path


def no_aws_env(tmp_path: Path) -> dict[str, str]:
    """No AWS variables at all, and an empty HOME: no ~/.aws either."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true"}


def test_a_plain_http_api_without_auth_runs_with_no_aws_and_says_once_why_server_metrics_are_skipped(tmp_path: Path, plain_api: str) -> None:
    scenario = plain_scenario(tmp_path, plain_api)
    run_dir = tmp_path / "run"
    proc = harness("run", str(scenario), "--results-dir", str(run_dir), "--gate", "error_rate == 0",
                   env=no_aws_env(tmp_path), drop=("AWS_*", "HARNESS_*"), timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = ResultSet.load(run_dir / "results.json")
    assert results.total >= 10 and results.outcome_counts()["ok"] == results.total
    said = [line for line in proc.stderr.splitlines() if "server metrics skipped" in line]
    assert len(said) == 1, proc.stderr
    assert plain_api in said[0] and "not an API Gateway URL" in said[0] and "target.api_id" in said[0]
    assert "signing in" not in proc.stderr and "from the default" not in proc.stderr
    assert "verdict: PASSED" in proc.stdout
    assert not (run_dir / "metrics.csv").exists()


def test_a_server_gate_on_a_plain_http_api_is_refused_before_any_load(tmp_path: Path) -> None:
    scenario = plain_scenario(tmp_path, "http://127.0.0.1:9", gates='gates = ["server.p95 < 250ms"]')
    proc = harness("run", str(scenario), "--results-dir", str(tmp_path / "run"), env=no_aws_env(tmp_path), drop=("AWS_*", "HARNESS_*"), timeout=60)
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert "server.p95 < 250ms" in line and "not an API Gateway URL" in line and "target.api_id" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["check", "scenarios/smoke.toml", "--gate", "lambda.foo == 0"], "unknown metric 'lambda.foo'"),
        (["check", "scenarios/smoke.toml", "--gate", "cognito.bar == 0"], "unknown metric 'cognito.bar'"),
        (["check", "scenarios/smoke.toml", "--gate", "states.baz == 0"], "unknown metric 'states.baz'"),
        (["run", "scenarios/smoke.toml", "--no-metrics", "--gate", "server.p95 < 1s"], "--no-metrics reads no CloudWatch metrics"),
        (["run", "scenarios/smoke.toml", "--gate", "lambda.throttles == 0"], "names no Lambda function of the API: list them in target.lambda_functions"),
        (["run", "scenarios/smoke.toml", "--gate", "states.executions_failed == 0"], "only `harness fanout` runs one"),
    ],
)
def test_a_gate_that_could_never_be_evaluated_is_refused_before_any_load(tmp_path: Path, args: list[str], fragment: str) -> None:
    run_dir = ["--results-dir", str(tmp_path / "run")] if args[0] == "run" else []
    proc = harness(*args, *run_dir, env=no_aws_env(tmp_path), drop=("AWS_*", "HARNESS_*"), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert fragment in one_line_error(proc)
    assert not (tmp_path / "run").exists()


def test_a_lambda_gate_is_accepted_when_the_local_stack_sends_the_routes_to_lambda(tmp_path: Path) -> None:
    proc = harness("check", "scenarios/smoke.toml", "--set", 'local.integration="lambda"', "--gate", "lambda.throttles == 0",
                   env=no_aws_env(tmp_path), drop=("AWS_*", "HARNESS_*"), timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
