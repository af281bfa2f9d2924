"""The ``harness`` command: exit codes, one-line errors, and a real run on the local stack."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from harness import metrics
from harness.auth.secret import get_password
from harness.auth.users import create_users
from harness.local.stack import LocalStack
from harness.results import ResultSet

ROOT = Path(__file__).resolve().parents[1]


def harness(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd, env={**os.environ, "COLUMNS": "200", **(env or {})},
    )  # fmt: skip


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The error: exactly one line, the last one, and no traceback."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr
    return errors[0]


# ---- bad usage: exit 2 -------------------------------------------------------------------------


def test_a_bad_scenario_exits_2_with_one_line_naming_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[target]\nbase_url = "local"\n[[endpoints]]\nname = "a"\npath = "/a"\n[load]\nprofile = "steady"\nrate = -5\nduration = "10s"\n')
    proc = harness("run", str(bad))
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert str(bad) in line and "load.rate" in line


def test_a_missing_scenario_file_exits_2(tmp_path: Path) -> None:
    proc = harness("run", str(tmp_path / "nope.toml"))
    assert proc.returncode == 2
    assert "no such file" in one_line_error(proc)


def test_a_bad_gate_exits_2_before_any_load(tmp_path: Path) -> None:
    proc = harness("run", "scenarios/smoke.toml", "--gate", "p95 < 300 apples", "--results-dir", str(tmp_path / "run"))
    assert proc.returncode == 2
    assert "p95 < 300 apples" in one_line_error(proc)
    assert not (tmp_path / "run").exists()


def test_unknown_command_exits_2() -> None:
    assert harness("explode").returncode == 2


def test_scenario_over_the_safety_limit_needs_the_override(tmp_path: Path) -> None:
    fast = tmp_path / "fast.toml"
    fast.write_text('[target]\nbase_url = "local"\n[[endpoints]]\nname = "a"\npath = "/a"\n[load]\nprofile = "steady"\nrate = 5000\nduration = "10s"\n')
    proc = harness("run", str(fast))
    assert proc.returncode == 2
    assert "--override-limits" in one_line_error(proc)


# ---- the run itself failed: exit 3 -------------------------------------------------------------


def test_no_local_stack_running_exits_3_with_what_to_do(tmp_path: Path) -> None:
    env = {"HARNESS_STATE_DIR": str(tmp_path / "state"), "HARNESS_LOCAL_INFO": ""}
    proc = harness("run", "scenarios/smoke.toml", "--results-dir", str(tmp_path / "run"), "--no-metrics", env=env)
    assert proc.returncode == 3
    line = one_line_error(proc)
    assert "harness local up" in line and "--local" in line


# ---- gates on a finished run: exit 0 / 1 -------------------------------------------------------


def make_run(run_dir: Path, latency_ms: float, *, errors: int = 0) -> Path:
    results = ResultSet(run_id=run_dir.name, meta={"scenario": "synthetic", "profile": "steady", "status": "completed", "duration": 10.0})
    for i in range(1000):
        results.record("list items", "ok", 200, start_time=1_700_000_000 + i / 100, response_time_ms=latency_ms + (i % 10))
    for i in range(errors):
        results.record("list items", "server", 500, start_time=1_700_000_000 + i / 100, response_time_ms=latency_ms)
    for second in range(10):
        results.record_pacer(1_700_000_000 + second, target=100 + errors / 10, released=100 + errors // 10)
    results.save(run_dir / "results.json")
    return run_dir


def test_report_gates_pass_exit_0_and_fail_exit_1_with_junit(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", latency_ms=50)
    ok = harness("report", str(run), "--gate", "p95 < 100ms", "--gate", "error_rate < 1%")
    assert ok.returncode == 0, ok.stderr
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["passed"] is True and len(verdict["gates"]) == 2
    failed = harness("report", str(run), "--gate", "p95 < 40ms")
    assert failed.returncode == 1
    junit = (run / "junit.xml").read_text()
    assert "<failure" in junit and "p95 &lt; 40ms" in junit
    assert (run / "report.html").exists() and (run / "summary.md").exists()


def test_a_gate_without_data_fails_rather_than_passes(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", latency_ms=50)
    proc = harness("report", str(run), "--gate", "server.p95 < 250ms")
    assert proc.returncode == 1
    gate = json.loads((run / "verdict.json").read_text())["gates"][0]
    assert gate["passed"] is False and gate["actual"] is None and gate["reason"]


def test_baseline_regression_gate(tmp_path: Path) -> None:
    base = make_run(tmp_path / "base", latency_ms=50)
    slower = make_run(tmp_path / "slower", latency_ms=80)
    same = make_run(tmp_path / "same", latency_ms=50)
    assert harness("report", str(slower), "--baseline", str(base), "--gate", "p95 regression <= 10%").returncode == 1
    assert harness("report", str(same), "--baseline", str(base), "--gate", "p95 regression <= 10%").returncode == 0


def test_report_on_a_folder_without_results_exits_2(tmp_path: Path) -> None:
    proc = harness("report", str(tmp_path))
    assert proc.returncode == 2
    assert "results.json" in one_line_error(proc)


# ---- a real run on the local stack --------------------------------------------------------------


@pytest.mark.integration
def test_harness_run_on_the_local_stack_writes_every_file_and_no_secret(tmp_path: Path) -> None:
    with LocalStack(log_dir=tmp_path / "logs") as stack:
        env = {**stack.env(), "HARNESS_LOCAL_INFO": stack.info.model_dump_json()}
        aws = boto3.session.Session(region_name=stack.info.region, aws_access_key_id="testing", aws_secret_access_key="testing")
        secrets = aws.client("secretsmanager", endpoint_url=stack.info.endpoint_url)
        create_users(cognito=aws.client("cognito-idp", endpoint_url=stack.info.endpoint_url), secrets=secrets, user_pool_id=stack.info.user_pool_id, count=5, progress=False)
        password = get_password(secrets=secrets, user_pool_id=stack.info.user_pool_id)
        run_dir = tmp_path / "run"
        proc = harness("run", "scenarios/smoke.toml", "--results-dir", str(run_dir), "--gate", "p95 < 2s", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("results.json", "metrics.csv", "verdict.json", "junit.xml", "report.html", "summary.md", "locust.html", "locust_stats.csv"):
        assert (run_dir / name).exists(), name
    assert "report.html" in proc.stdout and "PASSED" in proc.stdout
    results = ResultSet.load(run_dir / "results.json")
    assert results.total == 50 and results.outcome_counts()["ok"] == 50
    # CloudWatch (local) agrees with the client: every request counted, server p95 below the client's
    frame = metrics.load(run_dir)
    assert metrics.run_value(frame, "count", "Sum") == results.total
    assert metrics.run_value(frame, "4xx", "Sum") == 0
    server_p95 = metrics.run_value(frame, "latency", "p95")
    assert server_p95 is not None and 0 < server_p95 <= results.percentile(0.95) + 1
    # no secret anywhere: not the password, not a JWT (three base64url parts, two start with '{"')
    jwt = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+")
    for path in run_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert password not in text, path
            assert not jwt.search(text), path
    assert password not in proc.stdout + proc.stderr
    render_in_chromium(run_dir / "report.html", tmp_path)


def render_in_chromium(report: Path, tmp_path: Path) -> None:
    """The real run's report in headless Chromium: verdict, tables and every chart shown,
    nothing fetched from the network."""
    from tests.report.test_browser import CHARTS, CHROMIUM, PROBE, chromium, page_requests

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (`make browser` installs Debian's package)")
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    netlog = tmp_path / "netlog.json"
    dom = chromium("--window-size=1400,3000", "--dump-dom", probe.as_uri(), log=netlog)
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', dom, re.S)
    assert found, dom[-500:]
    page = json.loads(html.unescape(found.group(1)))
    assert page["verdictShown"] and "PASSED" in page["verdict"] and "p95 < 2s" in page["verdict"]
    assert [row["cells"][0].split("\n")[0] for row in page["rows"]] == ["list items", "get item", "my profile", "create order", "Total"]
    images = {img["id"]: img for img in page["images"]}
    assert list(images) == CHARTS
    assert all(img["complete"] and img["naturalWidth"] > 0 and img["height"] > 150 for img in images.values())
    assert [u for u in page_requests(netlog) if not u.startswith(("file:", "data:"))] == []


@pytest.mark.integration
def test_users_create_is_idempotent_and_delete_removes_them(tmp_path: Path) -> None:
    with LocalStack(log_dir=tmp_path / "logs") as stack:
        env = stack.env()
        pool = stack.info.user_pool_id
        first = harness("users", "create", "--pool", pool, "--count", "3", env=env)
        assert first.returncode == 0, first.stderr
        again = harness("users", "create", "--pool", pool, "--count", "4", env=env)
        assert again.returncode == 0, again.stderr
        assert "created 1" in again.stderr and "reused 3" in again.stderr
        cognito = boto3.client("cognito-idp", region_name=stack.info.region, endpoint_url=stack.info.endpoint_url, aws_access_key_id="testing", aws_secret_access_key="testing")
        cognito.admin_create_user(UserPoolId=pool, Username="alice", MessageAction="SUPPRESS")
        names = sorted(u["Username"] for u in cognito.list_users(UserPoolId=pool)["Users"])
        assert names == ["alice", "loadtestuser0", "loadtestuser1", "loadtestuser2", "loadtestuser3"]
        gone = harness("users", "delete", "--pool", pool, env=env)
        assert gone.returncode == 0, gone.stderr
        assert [u["Username"] for u in cognito.list_users(UserPoolId=pool)["Users"]] == ["alice"]
        for proc in (first, again, gone):
            assert "Traceback" not in proc.stderr


@pytest.mark.integration
def test_local_run_serves_in_the_foreground_until_ctrl_c(tmp_path: Path) -> None:
    import signal
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "local", "run"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "COLUMNS": "200"}, start_new_session=True,
    )  # fmt: skip
    exports: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded: the stack starts within its own timeout or exits
            if line.startswith("export "):
                key, _, value = line[len("export ") :].strip().partition("=")
                exports[key] = value.strip("'")
            if "HARNESS_LOCAL_INFO" in exports:
                break
        info = json.loads(exports["HARNESS_LOCAL_INFO"])
        with urllib.request.urlopen(info["api_url"] + "/_admin/health", timeout=5) as resp:
            assert json.loads(resp.read()) == {"status": "ok"}
        assert exports["AWS_ENDPOINT_URL"] == info["endpoint_url"]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(info["api_url"] + "/_admin/health", timeout=2)
