"""Faults on the local stack, end to end: applied on time through the emulator's admin API,
visible in the results when they happened, and always ended: at their end, on Ctrl-C, on
SIGTERM and when an abort rule stops the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness.local.stack import LocalStack
from harness.results import ResultSet

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\n{body}\n[target]\nbase_url = "local"\n[auth]\nusers = 5\n[[endpoints]]\nname = "list items"\npath = "/items"\n',
        encoding="utf-8",
    )
    return path


def emulator_faults(stack: LocalStack) -> list[dict]:
    with urllib.request.urlopen(f"{stack.info.api_url}/_admin/faults", timeout=5) as resp:
        return json.loads(resp.read())["faults"]


def active(stack: LocalStack) -> list[dict]:
    now = time.time()
    return [f for f in emulator_faults(stack) if f["start"] <= now < f["end"]]


def start_run(stack: LocalStack, path: Path, run_dir: Path, *extra: str, metrics: bool = False) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "harness.cli", "run", str(path), "--results-dir", str(run_dir), *([] if metrics else ["--no-metrics"]), *extra]
    return subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **stack.run_env, "COLUMNS": "200"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )


def run_to_end(stack: LocalStack, path: Path, run_dir: Path, *, exit_code: int, timeout: float, metrics: bool = False) -> ResultSet:
    """``harness run`` of ``path`` to its end: it exits ``exit_code``; what it measured."""
    proc = start_run(stack, path, run_dir, metrics=metrics)
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == exit_code, err.decode()[-3000:]
    return ResultSet.load(run_dir / "results.json")


def p95_ms(results: ResultSet, second: int) -> float | None:
    return results.percentile(0.95, outcomes=None, seconds=range(second, second + 1))


@pytest.mark.timing  # recovery is judged against a baseline p95 of a few ms
def test_latency_outage_and_throttle_happen_when_planned_and_are_recorded(stack: LocalStack, tmp_path: Path) -> None:
    path = write(
        tmp_path, "timed",
        '[load]\nprofile = "steady"\nrate = 40\nduration = "25s"\nvus = 12\n'
        '[[faults]]\nname = "slow"\nkind = "latency"\nat = "5s"\nduration = "3s"\nlatency = "150ms"\n'
        '[[faults]]\nname = "down"\nkind = "outage"\nat = "13s"\nduration = "2s"\n'
        '[[faults]]\nname = "squeezed"\nkind = "throttle"\nat = "19s"\nduration = "2s"\nrate = 5\nburst = 1\n',
    )  # fmt: skip
    results = run_to_end(stack, path, tmp_path / "run", exit_code=0, timeout=120)
    t0 = results.meta["started_at"]
    records = {f["name"]: f for f in results.meta["faults"]}
    for name, at, length in (("slow", 5, 3), ("down", 13, 2), ("squeezed", 19, 2)):
        record = records[name]
        assert record["ended_by"] == "schedule" and record["error"] is None
        assert abs(record["started_at"] - (t0 + at)) < 0.5 and abs(record["ended_at"] - (t0 + at + length)) < 0.5
    assert not active(stack)
    base = int(t0)
    # whole seconds wholly inside each window, and clearly outside every window
    for second in range(base + 6, base + 8):
        assert p95_ms(results, second) >= 150
    for second in (base + 2, base + 3, base + 11):
        assert p95_ms(results, second) < 100
    by_second: dict[int, dict[str, int]] = {}
    for (_endpoint, outcome, second), hist in results.windows.items():
        by_second.setdefault(second, {}).setdefault(outcome, 0)
        by_second[second][outcome] += hist.count
    assert by_second[base + 14].get("server", 0) >= 30 and by_second[base + 14].get("ok", 0) == 0
    assert by_second[base + 20].get("throttled", 0) >= 25 and by_second[base + 20].get("ok", 0) <= 10
    assert by_second[base + 11].get("server", 0) == 0 and by_second[base + 11].get("throttled", 0) == 0
    # recovery is measured from each fault's actual end (the emulator is back to normal at once;
    # the faults are spaced by more than the 3 s hold, so each recovery is judged on its own)
    events = {e["name"]: e for e in results.recovery["events"]}
    for name in ("slow", "down", "squeezed"):
        event = events[name]
        assert event["status"] == "recovered", event
        recovered_at = t0 + event["recovered_at"]
        assert abs(recovered_at - records[name]["ended_at"]) <= 1.5 and event["recovery_time"] in (0.0, 1.0, 2.0), (name, event)  # whole seconds


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stopping_a_run_during_a_fault_ends_the_fault(stack: LocalStack, tmp_path: Path, sig: signal.Signals) -> None:
    path = write(
        tmp_path, f"stop-{sig.name}",
        '[load]\nprofile = "steady"\nrate = 20\nduration = "60s"\nvus = 5\n'
        '[[faults]]\nname = "long outage"\nkind = "outage"\nat = "1s"\nduration = "50s"\n',
    )  # fmt: skip
    run_dir = tmp_path / "run"
    proc = start_run(stack, path, run_dir)
    deadline = time.time() + 60
    while not active(stack):
        assert time.time() < deadline and proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        time.sleep(0.2)
    time.sleep(1)
    os.killpg(proc.pid, sig)  # Ctrl-C reaches the whole group; CI's cancel sends SIGTERM
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()[-2000:]
    assert not active(stack)
    [record] = ResultSet.load(run_dir / "results.json").meta["faults"]
    assert record["ended_by"] == "interrupted" and record["ended_at"] - record["started_at"] < 30


def test_an_aborted_run_ends_its_fault(stack: LocalStack, tmp_path: Path) -> None:
    path = write(
        tmp_path, "abort",
        'abort_on = ["server_error_rate > 50% over 2s"]\n'
        '[load]\nprofile = "steady"\nrate = 20\nduration = "60s"\nvus = 5\n'
        '[[faults]]\nname = "long outage"\nkind = "outage"\nat = "2s"\nduration = "50s"\n',
    )  # fmt: skip
    results = run_to_end(stack, path, tmp_path / "run", exit_code=1, timeout=90)
    assert results.meta["status"] == "aborted"
    [record] = results.meta["faults"]
    assert record["ended_by"] == "aborted" and record["ended_at"] - record["started_at"] < 15
    assert not active(stack)


def test_a_fault_the_run_cannot_apply_is_refused_before_load(stack: LocalStack, tmp_path: Path) -> None:
    path = write(
        tmp_path, "badroute",
        '[load]\nprofile = "steady"\nrate = 5\nduration = "10s"\n'
        '[[faults]]\nkind = "latency"\nat = "1s"\nduration = "1s"\nlatency = "1s"\nroute = "GET /nope"\n',
    )  # fmt: skip
    proc = start_run(stack, path, tmp_path / "run")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3
    text = err.decode()
    assert "faults[0]" in text and "GET /nope" in text and "Traceback" not in text
    assert not (tmp_path / "run" / "results.json").exists()


def test_cognito_throttle_during_a_run_no_virtual_user_lacks_a_token(stack: LocalStack, tmp_path: Path) -> None:
    """Tokens are refreshed every few seconds here (refresh_margin near their 1 h life), so the
    refreshes meet the throttling; the pool backs off and keeps the current tokens."""
    path = tmp_path / "cognito.toml"
    path.write_text(
        'name = "cognito"\ngates = ["cognito.throttles > 0"]\n[target]\nbase_url = "local"\n[auth]\nusers = 5\nrefresh_margin = "3595s"\n'
        '[[endpoints]]\nname = "list items"\npath = "/items"\n'
        '[load]\nprofile = "steady"\nrate = 10\nduration = "16s"\nvus = 5\n'
        '[[faults]]\nkind = "cognito_throttle"\nat = "1s"\nduration = "10s"\n',
        encoding="utf-8",
    )
    results = run_to_end(stack, path, tmp_path / "run", exit_code=0, timeout=150, metrics=True)
    # exit 0: the gate cognito.throttles > 0 passed on Cognito's own CloudWatch metrics; the report names Cognito
    summary = (tmp_path / "run" / "summary.md").read_text(encoding="utf-8")
    who = summary[summary.index("### Who throttled") :]
    assert "**Cognito**" in who, who
    stats = results.meta["token_stats"]
    assert stats["throttle_retries"] > 0 and stats["login_failures"] == 0, stats
    counts = results.outcome_counts()
    assert counts["ok"] == results.total >= 150 and counts.get("auth", 0) == 0
    [record] = results.meta["faults"]
    assert record["ended_by"] == "schedule" and record["error"] is None


def test_lambda_concurrency_on_the_local_lambda_integration(tmp_path: Path) -> None:
    """The emulator's routes go to a Lambda function; the fault takes its reserved concurrency
    to 0 for 3 s: API Gateway answers 500 (as an HTTP API does for a throttled Lambda), Lambda's
    Throttles reach CloudWatch, and the previous setting (none) is put back."""
    path = tmp_path / "lambda.toml"
    path.write_text(
        'name = "lambda"\n[target]\nbase_url = "local"\n[auth]\nusers = 3\n'
        '[[endpoints]]\nname = "list items"\npath = "/items"\n'
        '[load]\nprofile = "steady"\nrate = 10\nduration = "12s"\nvus = 5\n'
        '[[faults]]\nname = "no lambda"\nkind = "lambda_concurrency"\nat = "4s"\nduration = "3s"\nreserved = 0\n'
        '[local]\nintegration = "lambda"\n',
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(path), "--local", "--results-dir", str(run_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "COLUMNS": "200", "HARNESS_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = ResultSet.load(run_dir / "results.json")
    [record] = results.meta["faults"]
    assert record["ended_by"] == "schedule" and record["details"]["previous_reserved"] is None
    # it had a schedule that would have put it back had harness died, deleted once harness did
    assert record["details"]["expiry_schedule"].startswith("harness-") and record["details"]["expiry_schedule_deleted"] is True
    assert record["details"]["restore"] == {
        "service": "lambda",
        "operation": "delete_function_concurrency",
        "params": {"FunctionName": record["details"]["function"]},
    }
    base = int(results.meta["started_at"])
    statuses: dict[int, dict[int, int]] = {}
    for (_, status, second), n in results.statuses.items():
        statuses.setdefault(second, {}).setdefault(status, 0)
        statuses[second][status] += n
    assert statuses[base + 5] == {500: statuses[base + 5].get(500, 0)} and statuses[base + 5][500] >= 8
    assert statuses[base + 2].get(500, 0) == 0 and statuses[base + 10].get(500, 0) == 0
    metrics = (run_dir / "metrics.csv").read_text()
    assert "Throttles" in metrics
