"""The ``harness`` command: exit codes, one-line errors, and a real run on the local stack."""

from __future__ import annotations

import html
import io
import json
import os
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import boto3
import pytest

from harness import metrics
from harness.auth.secret import get_password
from harness.auth.users import create_users
from harness.cli import main
from harness.local.stack import LocalStack
from harness.results import ResultSet

pytestmark = pytest.mark.integration  # runs harness commands in subprocesses

ROOT = Path(__file__).resolve().parents[1]


def harness(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 180, drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``harness ARGS`` in a subprocess (its output is not a terminal); ``drop`` leaves
    variables out of the environment (names ending in ``*`` are prefixes)."""
    base = {k: v for k, v in os.environ.items() if not any(k == d or (d.endswith("*") and k.startswith(d[:-1])) for d in drop)}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd, env={**base, "COLUMNS": "200", **(env or {})},
    )  # fmt: skip


def report(*args: str) -> subprocess.CompletedProcess[str]:
    """``harness report ARGS`` run by ``harness.cli.main`` in this process, its output captured as
    a subprocess's would be: the same command, without an interpreter's start and imports (the
    report tests run it two dozen times; the commands that start servers or load stay subprocesses)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["report", *args])
    return subprocess.CompletedProcess(["harness", "report", *args], code, out.getvalue(), err.getvalue())


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


def test_a_plan_of_zero_requests_exits_2_before_any_load(tmp_path: Path) -> None:
    idle = tmp_path / "idle.toml"
    idle.write_text('[target]\nbase_url = "local"\n[[endpoints]]\nname = "a"\npath = "/a"\n[load]\nprofile = "steady"\nrate = 0.1\nduration = "5s"\n')
    for command in ("run", "check"):
        proc = harness(command, str(idle), "--local", "--results-dir", str(tmp_path / "run")) if command == "run" else harness(command, str(idle))
        assert proc.returncode == 2
        line = one_line_error(proc)
        assert str(idle) in line and "load.rate: " in line and "raise load.rate or load.duration" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command, scenario", [("run", "smoke"), ("probe", "probe"), ("fanout", "fanout")])
def test_a_run_id_that_is_a_path_exits_2_and_writes_nothing(tmp_path: Path, command: str, scenario: str) -> None:
    proc = harness(command, str(ROOT / f"scenarios/{scenario}.toml"), "--local", "--run-id", "../../evil", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--run-id '../../evil': a run id is a name: letters, digits, '-' and '_'" in one_line_error(proc)
    assert not list(tmp_path.iterdir()) and not (tmp_path.parent.parent / "evil").exists()


@pytest.mark.parametrize("command, scenario", [("run", "smoke"), ("probe", "probe"), ("fanout", "fanout")])
def test_an_earlier_run_is_never_overwritten_without_overwrite(tmp_path: Path, command: str, scenario: str) -> None:
    earlier = make_run(tmp_path / "reports" / "uni-1", latency_ms=50)
    before = (earlier / "results.json").read_bytes()
    for where in (("--run-id", "uni-1"), ("--results-dir", "reports/uni-1")):
        proc = harness(command, str(ROOT / f"scenarios/{scenario}.toml"), "--local", *where, cwd=tmp_path)
        assert proc.returncode == 2
        line = one_line_error(proc)
        assert "reports/uni-1: a run folder that already holds a run" in line and "--overwrite" in line
    assert (earlier / "results.json").read_bytes() == before and sorted(p.name for p in earlier.iterdir()) == ["results.json"]


def test_plain_locust_refuses_a_bad_run_id_and_an_earlier_run(tmp_path: Path) -> None:
    earlier = make_run(tmp_path / "reports" / "uni-1", latency_ms=50)
    base = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "api.py"), "--headless", "--scenario", str(ROOT / "scenarios/smoke.toml")]
    for extra, said in ((["--run-id", "../evil"], "a run id is a name"), (["--run-id", "uni-1"], "reports/uni-1: a run folder that already holds a run")):
        proc = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert said in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in earlier.iterdir()) == ["results.json"] and not (tmp_path / "evil").exists()


def test_unknown_command_exits_2() -> None:
    assert harness("explode").returncode == 2


def test_scenario_over_the_safety_limit_needs_the_override(tmp_path: Path) -> None:
    fast = tmp_path / "fast.toml"
    fast.write_text('[target]\nbase_url = "local"\n[[endpoints]]\nname = "a"\npath = "/a"\n[load]\nprofile = "steady"\nrate = 5000\nduration = "10s"\n')
    proc = harness("run", str(fast))
    assert proc.returncode == 2
    assert "--override-limits" in one_line_error(proc)


AWS_SCENARIO = """name = "aws"
[target]
base_url = "https://abc123.execute-api.eu-west-1.amazonaws.com"
[auth]
user_pool_id = "eu-west-1_AbCdEf123"
client_id = "1example23456789"
users = 5
[[endpoints]]
name = "list items"
path = "/items"
[load]
profile = "steady"
rate = 5
duration = "10s"
"""


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--processes", "0"], "--processes 0: give the number of Locust processes (1 or more), or -1 for one per core"),
        (["--processes", "-3", "--local"], "--processes -3:"),
        (["--period", "0"], "--period 0: must be at least 1"),
        (["--gate", '"list itemz".p95 < 200ms'], "the scenario has no endpoint 'list itemz' (did you mean 'list items'?"),
        (["--gate", "p95 regression <= 10%"], "compares with a baseline run: pass --baseline"),
        (["--gate", "error_rate < 1"], "a bare 1 is ambiguous for a rate: write 1% (read as a percentage) or 100% (read as a fraction)"),
        (["--set", "load.rate=fast"], "with --set load.rate=fast: load.rate: "),
        (["--set", "load.rate"], "write FIELD=VALUE"),
    ],
)
def test_bad_usage_exits_2_before_anything_starts(tmp_path: Path, args: list[str], fragment: str) -> None:
    """Every option, gate and override is checked before a local stack, a test user or a request."""
    env = {"HARNESS_STATE_DIR": str(tmp_path / "state")}
    proc = harness("run", "scenarios/smoke.toml", "--results-dir", str(tmp_path / "run"), *args, env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert fragment in one_line_error(proc)
    assert not (tmp_path / "run").exists() and not (tmp_path / "state").exists()


def test_a_baseline_without_results_exits_2_before_the_run(tmp_path: Path) -> None:
    proc = harness("run", "scenarios/smoke.toml", "--baseline", str(tmp_path), "--results-dir", str(tmp_path / "run"))
    assert proc.returncode == 2
    assert one_line_error(proc).startswith(f"error: --baseline {tmp_path}: {tmp_path / 'results.json'}: no results here")


def test_conflicting_regions_exit_2(tmp_path: Path) -> None:
    scenario = tmp_path / "aws.toml"
    scenario.write_text(AWS_SCENARIO.replace('user_pool_id = "eu-west-1_', 'user_pool_id = "us-east-1_'))
    proc = harness("run", str(scenario), "--results-dir", str(tmp_path / "run"))
    assert proc.returncode == 2
    assert "target.base_url: the target URL names region eu-west-1, but the user pool id names us-east-1" in one_line_error(proc)


def test_a_typo_is_named_first_and_verbose_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "typo.toml"
    bad.write_text('[target]\nbase_url = "local"\n[[endpoints]]\nname = "a"\npath = "/a"\n[load]\nprofile = "steady"\nrat = 5\nduration = "10s"\n')
    proc = harness("check", str(bad))
    assert proc.returncode == 2
    assert "load.rat: is not a known field; did you mean rate?" in one_line_error(proc)
    assert "load.rate: is required" not in proc.stderr
    assert "(+1 more; -v lists them)" in proc.stderr
    verbose = harness("-v", "check", str(bad))
    assert verbose.returncode == 2 and f"{bad}: load.rate: is required; add it" in verbose.stderr


def test_verbose_after_the_command_lists_every_problem_and_then_does_not_offer_to_list_them(tmp_path: Path) -> None:
    bad = tmp_path / "typo.toml"
    bad.write_text('[target]\nbase_url = "local"\n[[endpoints]]\nname = "a"\npath = "/a"\n[load]\nprofile = "steady"\nrat = 5\nduration = "10s"\n')
    for argv in (("check", str(bad), "-v"), ("-v", "check", str(bad))):
        proc = harness(*argv)
        assert proc.returncode == 2, proc.stderr
        assert f"{bad}: load.rate: is required; add it" in proc.stderr and f"{bad}: load.rat: is not a known field" in proc.stderr
        assert "-v lists them" not in proc.stderr
        assert one_line_error(proc) == f"error: {bad}: 2 problems, listed above; fix each"


def test_users_bad_usage_exits_2_and_local_hints_only_where_local_exists(tmp_path: Path) -> None:
    env = {"HARNESS_STATE_DIR": str(tmp_path / "state"), "HARNESS_LOCAL_INFO": ""}
    negative = harness("users", "create", "--count", "-3", "--local", env=env)
    assert negative.returncode == 2 and "--count -3: must be at least 1" in one_line_error(negative)
    delete = harness("users", "delete", "--count", "5", "--pool", "eu-west-1_AbC", env=env)
    assert delete.returncode == 2 and "--count is for create" in one_line_error(delete)
    for args in (["users", "create", "--count", "3", "--local"], ["local", "env"]):
        proc = harness(*args, env=env)
        assert proc.returncode == 3
        line = one_line_error(proc)
        assert "harness local up" in line and "--local" not in line
    assert "--count COUNT" in harness("users", "--help").stdout and "delete takes no count" in harness("users", "--help").stdout


def test_no_aws_credentials_fail_in_seconds_before_any_load(tmp_path: Path) -> None:
    scenario = tmp_path / "aws.toml"
    scenario.write_text(AWS_SCENARIO)
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true"}
    proc = harness("run", str(scenario), "--results-dir", str(tmp_path / "run"), env=env, drop=("AWS_*", "HARNESS_*"), timeout=60)
    assert proc.returncode == 3
    line = one_line_error(proc)
    assert "checking the AWS credentials (region eu-west-1): no AWS credentials found" in line
    assert "region eu-west-1" in line and not (tmp_path / "run").exists()
    assert "verdict" not in proc.stdout


def test_check_shows_the_plan_and_sends_nothing(tmp_path: Path) -> None:
    proc = harness("check", "scenarios/burst.toml", "--gate", "p99 < 1s", "--set", "auth.users=60")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for fragment in ("valid; nothing was sent", "burst, 4 endpoints", "6,808", "peak rate", "300.0 rps", "virtual users", "60 in pool local",
                     "p95 < 250ms, server_error_rate < 1%, achieved_rate >= 95% of target, p99 < 1s", "list items", "50.0%", "3,404"):  # fmt: skip
        assert fragment in text, fragment
    aws = tmp_path / "aws.toml"
    aws.write_text(AWS_SCENARIO)
    assert "eu-west-1 (from the user pool id)" in harness("check", str(aws)).stdout
    assert harness("check", str(tmp_path / "nope.toml")).returncode == 2


def test_check_of_a_scenario_without_auth_says_so_in_plain_text(tmp_path: Path) -> None:
    plain = tmp_path / "open.toml"
    plain.write_text(
        'name = "open"\n[target]\nbase_url = "local"\n[[endpoints]]\nname = "a [b]"\npath = "/a"\n[load]\nprofile = "steady"\nrate = 5\nduration = "10s"\n'
    )
    proc = harness("check", str(plain))
    assert proc.returncode == 0, proc.stderr
    assert "none (no [auth])" in proc.stdout and "a [b]" in proc.stdout


def test_fanout_names_the_workers_flag_when_it_is_over_the_limit() -> None:
    proc = harness("fanout", "scenarios/fanout.toml", "--workers", "1001")
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert line.startswith("error: --workers 1001: ") and "over the safety limit of 1000" in line and "execution input" not in line


@pytest.mark.parametrize(
    ("base_url", "fault", "says"),
    [
        ("local", 'kind = "stage_throttle"\nrate = 1\nburst = 1', 'works on AWS only; on the local stack use kind = "throttle"'),
        ("http://127.0.0.1:9", 'kind = "latency"\nlatency = 1', 'is applied through the local stack, but target.base_url is not "local"'),
    ],
)
def test_check_refuses_a_fault_kind_its_target_cannot_take_with_exit_2(tmp_path: Path, base_url: str, fault: str, says: str) -> None:
    scenario = tmp_path / "f.toml"
    scenario.write_text(
        f'name = "f"\n[target]\nbase_url = "{base_url}"\n[[endpoints]]\nname = "a"\npath = "/a"\n'
        f'[load]\nprofile = "steady"\nrate = 5\nduration = "20s"\n[[faults]]\nat = 2\nduration = 3\n{fault}\n'
    )
    for command in ("check", "run"):
        proc = harness(command, str(scenario))
        assert proc.returncode == 2, proc.stderr
        assert says in one_line_error(proc)


LEAD_SCENARIO = """name = "lead"
[target]
base_url = "local"
[auth]
users = 40
login_rate = 5
[[endpoints]]
name = "a"
path = "/a"
[load]
profile = "steady"
rate = 50
duration = "20s"
vus = 60
[fanout]
workers = 2
start_lead = "1s"
"""


def test_check_warns_and_fanout_refuses_before_load_a_start_lead_shorter_than_the_sign_in(tmp_path: Path) -> None:
    scenario = tmp_path / "lead.toml"
    scenario.write_text(LEAD_SCENARIO)
    check = harness("check", str(scenario))
    assert check.returncode == 0, check.stderr
    assert ("warning: harness fanout: fanout.start_lead: 1 s is too short: each of 2 workers signs in 30 users at 5/s "
            "(fanout.sign_in_budget 100/s shared by all") in check.stderr and "set it to at least 8 s" in check.stderr  # fmt: skip
    assert "(harness fanout refuses it)" in check.stderr
    fanout = harness("fanout", str(scenario), "--workers", "4", env={"HARNESS_STATE_DIR": str(tmp_path / "state"), "HARNESS_LOCAL_INFO": ""})
    assert fanout.returncode == 2, fanout.stderr
    assert f"error: {scenario}: fanout.start_lead: 1 s is too short: each of 4 workers signs in 15 users at 5/s" in fanout.stderr
    assert "set it to at least 5 s" in fanout.stderr and "stack" not in fanout.stderr  # refused before any stack is looked for
    enough = tmp_path / "enough.toml"
    enough.write_text(LEAD_SCENARIO.replace('start_lead = "1s"', 'start_lead = "10s"'))
    assert "warning" not in harness("check", str(enough)).stderr


def test_overlapping_faults_of_one_kind_are_warned_about_since_they_add_up(tmp_path: Path) -> None:
    scenario = tmp_path / "overlap.toml"
    faults = '[[faults]]\nkind = "latency"\nat = 2\nduration = 5\nlatency = "100ms"\n[[faults]]\nkind = "latency"\nat = 4\nduration = 5\nlatency = "200ms"\n'
    scenario.write_text(LEAD_SCENARIO.replace('start_lead = "1s"', 'start_lead = "10s"') + faults)
    proc = harness("check", str(scenario))
    assert proc.returncode == 0, proc.stderr
    assert ("warning: faults[1] ('latency at 4s') overlaps faults[0] ('latency at 2s') from 4 to 7 s: "
            "both latency faults apply at once there, so their effects add up") in proc.stderr  # fmt: skip
    apart = tmp_path / "apart.toml"
    apart.write_text(
        scenario.read_text()
        .replace('latency = "200ms"', 'latency = "200ms"\nroute = "GET /a"')
        .replace('latency = "100ms"', 'latency = "100ms"\nroute = "GET /b"')
    )
    assert "warning" not in harness("check", str(apart)).stderr


def test_output_that_is_not_a_terminal_is_not_wrapped() -> None:
    code = "from harness.cli import out, err; out.print('harness/' + 'p' * 300 + '/test-users'); err.print('x ' * 200)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.stdout.splitlines() == ["harness/" + "p" * 300 + "/test-users"]
    assert len(proc.stderr.splitlines()) == 1


def test_report_help_says_what_it_rewrites() -> None:
    text = " ".join(harness("report", "--help").stdout.split())
    assert "rewrites the folder's verdict.json, junit.xml, report.html and summary.md in place" in text
    for option in (
        "--baseline BASELINE an earlier run folder",
        "--gate EXPR a gate to judge the run by",
        "--pull-metrics pull the run's CloudWatch",
        "--period PERIOD CloudWatch period",
    ):
        assert option in text, option


# ---- the run itself failed: exit 3 -------------------------------------------------------------


def test_no_local_stack_running_exits_3_with_what_to_do(tmp_path: Path) -> None:
    env = {"HARNESS_STATE_DIR": str(tmp_path / "state"), "HARNESS_LOCAL_INFO": ""}
    proc = harness("run", "scenarios/smoke.toml", "--results-dir", str(tmp_path / "run"), "--no-metrics", env=env)
    assert proc.returncode == 3
    line = one_line_error(proc)
    assert "harness local up" in line and "--local" in line


# ---- gates on a finished run: exit 0 / 1 -------------------------------------------------------


def make_run(run_dir: Path, latency_ms: float, *, errors: int = 0, status: str = "completed", error: str | None = None) -> Path:
    results = ResultSet(run_id=run_dir.name, meta={"scenario": "synthetic", "profile": "steady", "status": status, "duration": 10.0, "error": error})
    for i in range(1000):
        results.record("list items", "ok", 200, start_time=1_700_000_000 + i / 100, response_time_ms=latency_ms + (i % 10))
    for i in range(errors):
        results.record("list items", "server", 500, start_time=1_700_000_000 + i / 100, response_time_ms=latency_ms)
    for second in range(10):
        results.record_pacer(1_700_000_000 + second, target=100 + errors / 10, released=100 + errors // 10)
    results.save(run_dir / "results.json")
    return run_dir


def test_drops_from_late_fanout_workers_are_said_as_late_starts_on_the_terminal_and_in_the_report(tmp_path: Path) -> None:
    run = tmp_path / "late"
    results = ResultSet(run_id="late", meta={"scenario": "synthetic", "profile": "steady", "status": "completed", "duration": 10.0, "workers": 16,
                                             "shards": [{"segment": 0, "index": i, "status": "completed", "late_start_ms": 14_000.0 if i >= 14 else 0.0,
                                                         "skipped": 30 if i >= 14 else 0} for i in range(16)],
                                             "generator": {"late_start_ms": 14_000.0, "skipped": 60}})  # fmt: skip
    for i in range(940):
        results.record("list items", "ok", 200, start_time=1_700_000_000 + i / 100, response_time_ms=20.0)
    for second in range(10):
        results.record_pacer(1_700_000_000 + second, target=100, released=94, dropped=6)
    results.save(run / "results.json")
    proc = report(str(run))
    assert proc.returncode == 0, proc.stderr
    said = "60 of them were skipped by 2 workers that started late (up to 14.0 s): raise fanout.start_lead"
    assert f"dropped 60 ({said})" in proc.stdout
    html = (run / "report.html").read_text()
    assert said in html and "add virtual users" not in html


def test_report_gates_pass_exit_0_and_fail_exit_1_with_junit(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", latency_ms=50)
    ok = report(str(run), "--gate", "p95 < 100ms", "--gate", "error_rate < 1%")
    assert ok.returncode == 0, ok.stderr
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["passed"] is True and len(verdict["gates"]) == 2
    failed = report(str(run), "--gate", "p95 < 40ms")
    assert failed.returncode == 1
    junit = (run / "junit.xml").read_text()
    assert "<failure" in junit and "p95 &lt; 40ms" in junit
    assert (run / "report.html").exists() and (run / "summary.md").exists()


def junit_cases(run: Path) -> tuple[Any, list[Any]]:
    import xml.etree.ElementTree as ET

    suite = ET.parse(run / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    return suite, suite.findall("testcase")


def test_junit_gives_each_case_and_the_suite_the_runs_duration(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", latency_ms=50)
    assert report(str(run), "--gate", "p95 < 100ms", "--gate", "p95 < 40ms").returncode == 1
    suite, cases = junit_cases(run)
    assert suite.get("time") == "10.000" and [c.get("time") for c in cases] == ["10.000", "10.000"]


@pytest.mark.parametrize(
    "status, outcome, code, extra",
    [("interrupted", "not judged", 130, None), ("aborted", "aborted", 1, "failure"), ("failed", "run failed", 3, "error")],
)
def test_a_run_not_judged_skips_its_gates_in_junit_and_says_why_in_the_verdict(tmp_path: Path, status: str, outcome: str, code: int, extra: str | None) -> None:
    """`harness report` on an interrupted (aborted, failed) run: CI must not read a gate failure
    where the run was stopped; the gates are skipped with the reason, the verdict names the outcome."""
    run = make_run(tmp_path / "run", latency_ms=50, status=status, error="stopped here" if status != "interrupted" else None)
    proc = report(str(run), "--gate", "p95 < 40ms", "--gate", "p95 < 100ms")
    assert proc.returncode == code, proc.stderr
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["status"] == status and verdict["outcome"] == outcome
    assert verdict["passed"] is (False if status == "aborted" else None)
    assert verdict["reason"].startswith("not judged: ") and "after 10 s" in verdict["reason"]
    suite, cases = junit_cases(run)
    gates = [c for c in cases if c.get("classname") == "harness.gates"]
    assert len(gates) == 2 and all(c.find("skipped") is not None and c.find("failure") is None for c in gates)
    assert gates[0].find("skipped").get("message").startswith(verdict["reason"])
    assert suite.get("skipped") == "2"
    others = [c for c in cases if c.get("classname") == "harness.run"]
    if extra is None:
        assert not others and suite.get("failures") == "0" and suite.get("errors") == "0"
    else:
        assert len(others) == 1 and others[0].find(extra).get("message") == verdict["reason"] and "stopped here" in verdict["reason"]


def test_a_completed_run_records_its_outcome_in_the_verdict(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", latency_ms=50)
    assert report(str(run)).returncode == 0
    verdict = json.loads((run / "verdict.json").read_text())
    assert (verdict["status"], verdict["outcome"], verdict["passed"]) == ("completed", "no gates", True)
    assert report(str(run), "--gate", "p95 < 40ms").returncode == 1
    verdict = json.loads((run / "verdict.json").read_text())
    assert (verdict["status"], verdict["outcome"], verdict["passed"]) == ("completed", "failed", False)


def test_a_gate_without_data_fails_rather_than_passes(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", latency_ms=50)
    proc = report(str(run), "--gate", "server.p95 < 250ms")
    assert proc.returncode == 1
    gate = json.loads((run / "verdict.json").read_text())["gates"][0]
    assert gate["passed"] is False and gate["actual"] is None and gate["reason"]


def test_baseline_regression_gate(tmp_path: Path) -> None:
    base = make_run(tmp_path / "base", latency_ms=50)
    slower = make_run(tmp_path / "slower", latency_ms=80)
    same = make_run(tmp_path / "same", latency_ms=50)
    assert report(str(slower), "--baseline", str(base), "--gate", "p95 regression <= 10%").returncode == 1
    assert report(str(same), "--baseline", str(base), "--gate", "p95 regression <= 10%").returncode == 0


def test_the_terminal_says_what_happened_and_a_verdict_only_for_a_judged_run(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", latency_ms=50)
    none = report(str(run))
    assert none.returncode == 0 and "no gates: measured, not judged" in none.stdout and "verdict" not in none.stdout
    judged = report(str(run), "--gate", "p95 < 100ms")
    assert "verdict: PASSED" in judged.stdout
    for status, code, said in (("interrupted", 130, "interrupted: the results above cover what was measured until then; the run was not judged"),
                               ("failed", 3, "run failed: 3 of 5 virtual users signed in")):  # fmt: skip
        data = json.loads((run / "results.json").read_text())
        data["meta"].update(status=status, error="3 of 5 virtual users signed in" if status == "failed" else None)
        (run / "results.json").write_text(json.dumps(data))
        proc = report(str(run), "--gate", "p95 < 100ms")
        assert proc.returncode == code, proc.stderr
        assert said in proc.stderr and "verdict" not in proc.stdout and "PASSED" not in proc.stdout


def test_a_failed_run_never_waits_for_cloudwatch(tmp_path: Path) -> None:
    import time

    run = make_run(tmp_path / "run", latency_ms=50)
    data = json.loads((run / "results.json").read_text())
    data["meta"].update(
        status="failed", error="no test user could sign in", ended_at=time.time(), target={"api_id": "abc123", "stage": "$default", "region": "eu-west-1"}
    )
    (run / "results.json").write_text(json.dumps(data))
    started = time.time()
    proc = harness("report", str(run), "--pull-metrics", env={"HARNESS_METRICS_DELAY": "60"}, timeout=50)
    assert proc.returncode == 3 and time.time() - started < 20
    assert "server metrics not pulled: the run failed" in proc.stderr and "run failed: no test user could sign in" in proc.stderr


def test_a_report_gate_for_an_unknown_endpoint_exits_2(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", latency_ms=50)
    proc = report(str(run), "--gate", '"list itemz".p95 < 1s')
    assert proc.returncode == 2 and "did you mean 'list items'?" in one_line_error(proc)


def test_baseline_regressions_are_listed_on_the_terminal(tmp_path: Path) -> None:
    base = make_run(tmp_path / "base", latency_ms=50)
    slower = make_run(tmp_path / "slower", latency_ms=80)
    proc = report(str(slower), "--baseline", str(base))
    assert "Regressed against the baseline: latency" in proc.stdout
    assert re.search(r"Total p95: [\d.]+ ms → [\d.]+ ms \(\+[\d.]+ %\)", proc.stdout)
    assert "- Total p95:" in (slower / "summary.md").read_text()


def test_report_on_a_folder_without_results_exits_2(tmp_path: Path) -> None:
    proc = report(str(tmp_path))
    assert proc.returncode == 2
    assert "results.json" in one_line_error(proc)


# ---- a real run on the local stack --------------------------------------------------------------


@pytest.mark.integration
def test_harness_run_on_the_local_stack_writes_every_file_and_no_secret(tmp_path: Path) -> None:
    with LocalStack(log_dir=tmp_path / "logs") as stack:
        env = {**stack.env(), "HARNESS_LOCAL_INFO": stack.info.model_dump_json()}
        aws = boto3.session.Session(region_name=stack.info.region, aws_access_key_id="testing", aws_secret_access_key="testing")
        secrets = aws.client("secretsmanager", endpoint_url=stack.info.endpoint_url)
        create_users(
            cognito=aws.client("cognito-idp", endpoint_url=stack.info.endpoint_url),
            secrets=secrets,
            user_pool_id=stack.info.user_pool_id,
            count=5,
            progress=False,
        )
        password = get_password(secrets=secrets, user_pool_id=stack.info.user_pool_id)
        run_dir = tmp_path / "run"
        proc = harness("run", "scenarios/smoke.toml", "--results-dir", str(run_dir), "--gate", "p95 < 2s", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("results.json", "metrics.csv", "verdict.json", "junit.xml", "report.html", "summary.md", "locust.html", "locust_stats.csv", "locust.out"):
        assert (run_dir / name).exists(), name
    assert not (run_dir / "progress.json").exists()  # the live progress is gone with the run
    assert "report.html" in proc.stdout and "verdict: PASSED" in proc.stdout
    # not a terminal: plain progress lines (elapsed of total, planned vs achieved, p95, errors, dropped)
    assert re.search(
        r"^\d:\d\d / \d:\d\d \(\d+%\) · planned [\d.]+ rps, achieved [\d.]+ rps · [\d,]+ requests · p95 [\d.]+ ms · errors: none · dropped 0$",
        proc.stderr,
        re.M,
    ), proc.stderr
    assert "region us-east-1 (from the local stack)" in proc.stderr
    log = (run_dir / "locust.log").read_text()
    assert log.count("results written") == 1 and f"build the report with: harness report {run_dir}" in log
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
    # a chart with nothing in it is one sentence (a clean smoke run: no errors, no drops, no throttling)
    sentences = re.findall(r'<p class="chart-sentence" id="([^"]+)">', report.read_text())
    assert sentences == ["chart-throttles", "chart-errors", "chart-dropped"]
    assert list(images) == [c for c in CHARTS if c not in sentences]
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
        cognito = boto3.client(
            "cognito-idp", region_name=stack.info.region, endpoint_url=stack.info.endpoint_url, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
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

    scenario = tmp_path / "lambda.toml"  # --scenario: the stack as its [local] table says
    scenario.write_text(
        'name = "l"\n[target]\nbase_url = "local"\n[[endpoints]]\nname = "a"\npath = "/items"\n'
        '[load]\nprofile = "steady"\nrate = 1\nduration = 1\n[local]\nthrottle_rate = 50\nthrottle_burst = 10\nintegration = "lambda"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "local", "run", "--scenario", str(scenario)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
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
            assert json.loads(resp.read())["status"] == "ok"
        assert exports["AWS_ENDPOINT_URL"] == info["endpoint_url"]
        with urllib.request.urlopen(info["api_url"] + "/_admin/config", timeout=5) as resp:
            config = json.loads(resp.read())
        assert config["throttle"] == {"rate": 50.0, "burst": 10} and info["lambda_function"]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # say where it hung (it did once on a loaded machine)
            proc.kill()
            raise AssertionError(f"harness local run did not stop on Ctrl-C: {proc.communicate()[1][-3000:]}") from None
    assert proc.returncode == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(info["api_url"] + "/_admin/health", timeout=2)


# ---- stopping a run, and the local stack -------------------------------------------------------


def start_run(tmp_path: Path, name: str, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    """``harness run --local`` of the smoke scenario stretched to a minute, in its own process
    group (as a terminal runs it); returns once the load is running."""
    import time

    run_dir = tmp_path / name
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "scenarios/smoke.toml", "--local", "--set", "load.duration=60s", "--results-dir", str(run_dir), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "COLUMNS": "200", "HARNESS_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        progress = run_dir / "progress.json"
        try:
            if json.loads(progress.read_text()).get("requests", 0) >= 10:
                return proc, run_dir
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the run did not start: {proc.communicate()[1][-2000:]}")


@pytest.mark.integration
def test_ctrl_c_keeps_the_local_stack_until_the_metrics_are_pulled(tmp_path: Path) -> None:
    """A real Ctrl-C reaches the whole process group: moto and the emulator (in sessions of
    their own) survive it, so the interrupted run still gets its CloudWatch numbers."""
    import signal
    import time

    proc, run_dir = start_run(tmp_path, "run")
    asked = time.time()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-3000:]
    assert time.time() - asked < 15
    results = ResultSet.load(run_dir / "results.json")
    assert results.meta["status"] == "interrupted" and results.total >= 10
    frame = metrics.load(run_dir)
    assert frame is not None and metrics.run_value(frame, "count", "Sum") == results.total
    assert (run_dir / "report.html").exists()
    assert (run_dir / "locust.log").read_text().count("results written") == 1
    assert "interrupted: the results above cover what was measured until then; the run was not judged" in err
    assert "verdict" not in out and "PASSED" not in out


@pytest.mark.integration
def test_ctrl_c_to_harness_alone_stops_locust_within_seconds(tmp_path: Path) -> None:
    import signal
    import time

    proc, run_dir = start_run(tmp_path, "run", "--gate", "p95 < 2s", "--gate", "achieved_rate >= 100% of target")
    asked = time.time()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-3000:]
    assert time.time() - asked < 10  # Locust stops on one SIGTERM; nobody waits 30 s
    results = ResultSet.load(run_dir / "results.json")
    assert results.meta["status"] == "interrupted"
    assert "(not judged) PASS p95 < 2s" in out and "verdict" not in out
    # planned counts what came due by the stop, not the rest of the minute
    pacer = results.pacer_totals()
    assert pacer.target == pacer.released + pacer.dropped
    assert f"planned {pacer.target:,.0f} requests, released {pacer.released:,} (100.0%), dropped 0" in out or pacer.dropped
    # CI reads the interruption, not a gate failure
    assert "(not judged) PASS achieved_rate >= 100% of target" in out or pacer.dropped
    junit = (run_dir / "junit.xml").read_text()
    assert "<failure" not in junit and junit.count("<skipped") == 2 and "not judged: the run was interrupted" in junit
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert (verdict["status"], verdict["outcome"], verdict["passed"]) == ("interrupted", "not judged", None)


@pytest.mark.integration
def test_checks_against_a_running_local_stack(tmp_path: Path) -> None:
    """With a stack from `harness local up`: a second one is refused; a wrong pool and missing
    test users fail in one line before any load."""
    env = {"HARNESS_STATE_DIR": str(tmp_path / "state"), "HARNESS_LOCAL_INFO": ""}
    up = harness("local", "up", env=env)
    assert up.returncode == 0, up.stderr
    try:
        second = harness("run", "scenarios/smoke.toml", "--local", "--results-dir", str(tmp_path / "run"), env=env)
        assert second.returncode == 2
        assert "a local stack is already running" in one_line_error(second) and "harness local down" in second.stderr
        wrong = tmp_path / "wrong.toml"
        wrong.write_text((ROOT / "scenarios/smoke.toml").read_text().replace('user_pool_id = "local"', 'user_pool_id = "us-east-1_nope"'))
        proc = harness("run", str(wrong), "--results-dir", str(tmp_path / "run"), env=env)
        assert proc.returncode == 3
        assert "user pool us-east-1_nope not found in us-east-1" in one_line_error(proc)
        proc = harness("run", "scenarios/smoke.toml", "--results-dir", str(tmp_path / "run"), env=env)
        assert proc.returncode == 3
        line = one_line_error(proc)
        assert "no test-user password for pool" in line and "harness users create" in line
        assert not (tmp_path / "run").exists()
        cleanup = harness("cleanup", "--local", env=env)
        assert cleanup.returncode == 3
        assert "stack harness-fanout does not exist in the running local stack; deploy it first with `harness deploy --local`" in one_line_error(cleanup)
    finally:
        assert harness("local", "down", env=env).returncode == 0


@pytest.mark.integration
def test_local_up_on_a_running_stack_applies_its_settings_and_run_refuses_a_scenario_it_does_not_follow(tmp_path: Path) -> None:
    import urllib.request

    env = {"HARNESS_STATE_DIR": str(tmp_path / "state"), "HARNESS_LOCAL_INFO": ""}
    up = harness("local", "up", "--throttle-rate", "1000", env=env)
    assert up.returncode == 0, up.stderr
    info = json.loads((tmp_path / "state" / "local.json").read_text())

    def throttle() -> dict:
        with urllib.request.urlopen(info["api_url"] + "/_admin/config", timeout=5) as resp:
            return json.loads(resp.read())["throttle"]

    try:
        again = harness("local", "up", "--throttle-rate", "5", "--throttle-burst", "5", env=env)
        assert again.returncode == 0, again.stderr
        assert "already running; changed now: throttle 5 rps, burst 5 where the running stack has throttle 1000 rps, burst 1000" in again.stdout
        assert throttle() == {"rate": 5.0, "burst": 5}
        assert json.loads((tmp_path / "state" / "local.json").read_text())["pids"] == info["pids"]  # the same stack

        lambda_scenario = tmp_path / "lambda.toml"
        lambda_scenario.write_text(
            'name = "l"\n[target]\nbase_url = "local"\n[[endpoints]]\nname = "a"\npath = "/items"\n'
            '[load]\nprofile = "steady"\nrate = 1\nduration = 1\n[local]\nintegration = "lambda"\n'
        )
        refused = harness("local", "up", "--scenario", str(lambda_scenario), env=env)
        assert refused.returncode == 3
        assert ("a running local stack cannot change this: routes sent to a Lambda function where the running stack has the mock backend; "
                "stop it with `harness local down`") in one_line_error(refused)  # fmt: skip
        assert throttle() == {"rate": 5.0, "burst": 5}  # refused before anything changed

        probe = harness("probe", "scenarios/probe.toml", "--no-metrics", "--results-dir", str(tmp_path / "run"), env=env)
        assert probe.returncode == 2
        line = one_line_error(probe)
        assert "scenarios/probe.toml: [local] asks for throttle 110 rps, burst 20 where the running stack has throttle 5 rps, burst 5" in line
        assert "`harness local up --scenario scenarios/probe.toml`" in line and not (tmp_path / "run").exists()

        fixed = harness("local", "up", "--scenario", "scenarios/probe.toml", env=env)
        assert fixed.returncode == 0 and "throttle 110 rps, burst 20" in fixed.stdout
        assert throttle() == {"rate": 110.0, "burst": 20}
        probe = harness("probe", "scenarios/probe.toml", "--no-metrics", "--results-dir", str(tmp_path / "run"), env=env)
        assert probe.returncode == 3 and "no test-user password" in one_line_error(probe)  # past the check: no users yet
    finally:
        assert harness("local", "down", env=env).returncode == 0


def test_cleanup_local_without_a_stack_says_a_local_fanout_run_leaves_nothing_to_clean_up(tmp_path: Path) -> None:
    env = {"HARNESS_STATE_DIR": str(tmp_path / "state"), "HARNESS_LOCAL_INFO": ""}
    proc = harness("cleanup", "--local", env=env, drop=("AWS_*",))
    assert proc.returncode == 3
    line = one_line_error(proc)
    assert "no local stack is running" in line
    assert "`harness fanout --local` runs on a stack of its own, which is gone with its test users when the run ends: nothing is left to clean up" in line
    assert "`harness local up`, `harness deploy --local`" in line


@pytest.mark.integration
def test_a_foreground_local_run_is_found_by_other_commands_until_it_stops(tmp_path: Path) -> None:
    """`harness local run` records its stack as `local up` does: status, env and run see it;
    once it stops they say no stack is running."""
    import signal

    env = {"HARNESS_STATE_DIR": str(tmp_path / "state"), "HARNESS_LOCAL_INFO": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "local", "run"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "COLUMNS": "200", **env}, start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info = None
        for line in proc.stdout:  # bounded: the stack starts within its own timeout or exits
            if line.startswith("export HARNESS_LOCAL_INFO="):
                info = json.loads(line.partition("=")[2].strip().strip("'"))
                break
        assert info is not None, proc.communicate()[1][-2000:]
        status = harness("local", "status", env=env)
        assert status.returncode == 0, status.stdout + status.stderr
        assert info["api_url"] in status.stdout and '"healthy": true' in status.stdout
        assert f"export AWS_ENDPOINT_URL={info['endpoint_url']}" in harness("local", "env", env=env).stdout
        run = harness("run", "scenarios/smoke.toml", "--no-metrics", "--results-dir", str(tmp_path / "run"), env=env)
        assert run.returncode == 3  # it found the stack: what it misses are the test users
        assert f"no test-user password for pool {info['user_pool_id']}" in one_line_error(run)
        second = harness("local", "run", env=env)
        assert second.returncode == 2 and "a local stack is already running" in one_line_error(second)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # never leave its stack behind
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0
    assert not (tmp_path / "state" / "local.json").exists()
    gone = harness("local", "status", env=env)
    assert gone.returncode == 1 and "no local stack is running" in gone.stdout


def test_cleanup_gives_up_waiting_after_its_timeout(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Every wait is bounded: a cleanup execution that runs on is named, not waited for forever."""
    import harness.aws
    import harness.fanout.deploy
    from harness.cli import main
    from harness.fanout.launch import FanoutStack

    class StepFunctions:
        def start_execution(self, **_: object) -> dict:
            return {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:cleanup:c1"}

        def describe_execution(self, **_: object) -> dict:
            return {"status": "RUNNING"}

    class Aws:
        def __init__(self, region: str | None = None, **_: object) -> None:
            self.region = region or "us-east-1"

        def client(self, name: str) -> object:
            return StepFunctions() if name == "stepfunctions" else object()

    monkeypatch.setattr(harness.aws, "AwsContext", Aws)
    monkeypatch.setattr(harness.fanout.deploy, "stack_outputs", lambda *_, **__: {})
    monkeypatch.setattr(FanoutStack, "of", classmethod(lambda cls, _: type("S", (), {"cleanup_state_machine": "arn:sm"})()))
    assert main(["cleanup", "--input", '{"NumberOfUsers": "5"}', "--timeout", "1.5"]) == 3
    assert "still running after 1.5 s (--timeout); it goes on by itself: arn:aws:states" in capsys.readouterr().err
    assert main(["cleanup", "--input", '{"NumberOfUsers": "5"}', "--timeout", "0"]) == 2
