"""``harness fanout --local`` as a user runs it: a subprocess that starts the local stack,
deploys the fan-out stack into it, runs the execution, and writes the same run folder, verdict
and exit code as ``harness run``; and Ctrl-C, which stops the execution and keeps what the
finished shards measured."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.results import ResultSet

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def fanout(tmp_path: Path, run_dir: Path, *extra: str, scenario: str | Path = "scenarios/fanout.toml") -> subprocess.Popen[str]:
    """``harness fanout scenarios/fanout.toml --local`` with 2 workers starting 4 s after planning."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "fanout", str(scenario), "--local", "--results-dir", str(run_dir),
         "--workers", "2", "--set", "fanout.start_lead=4s", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "COLUMNS": "200", "HARNESS_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip


def test_a_local_fanout_run_writes_the_run_folder_judges_the_gates_and_a_failing_one_exits_1(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = fanout(tmp_path, run_dir, "--set", "load.cycles=1", "--gate", "requests > 10", "--gate", "p95 < 0.001ms")
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, err[-3000:]
    # the cost on AWS is printed before the run, then the live progress, then the verdict
    assert "on AWS this run costs about $" in err and "Lambda" in err
    assert "execution succeeded: 2 of 2 shards done, 0 failed" in err
    assert "verdict: FAILED" in out and "requests > 10" in out and "p95 < 0.001ms" in out
    results = ResultSet.load(run_dir / "results.json")
    assert results.meta["status"] == "completed" and results.meta["workers"] == 2
    assert [s["status"] for s in results.meta["shards"]] == ["completed", "completed"]
    assert results.meta["fanout"]["worker_function"].endswith("-worker")
    for name in ("report.html", "summary.md", "junit.xml"):
        assert (run_dir / name).exists(), name
    junit = (run_dir / "junit.xml").read_text()
    # the scenario's own gates are judged too (a loaded machine may fail its p95 or dropped-rate one)
    assert 'failures="0"' not in junit and "requests &gt; 10" in junit and "p95 &lt; 0.001ms" in junit
    verdict = json.loads((run_dir / "verdict.json").read_text())
    passed = {g["expression"]: g["passed"] for g in verdict["gates"]}
    assert passed["requests > 10"] is True and passed["p95 < 0.001ms"] is False  # all passing: exit 0 (test_faults_are_applied_...)


def test_ctrl_c_stops_the_execution_and_keeps_what_was_measured(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = fanout(tmp_path, run_dir, "--set", "load.cycles=6")
    # wait until the workers report requests (their progress goes to S3; the CLI shows it)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        time.sleep(1)
        progress = run_dir / "progress.json"
        if progress.exists() and json.loads(progress.read_text()).get("requests", 0) > 50:
            break
    else:
        proc.kill()
        raise AssertionError(f"the workers never reported requests: {proc.communicate()[1][-3000:]}")
    asked = time.time()
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole process group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "stopping" in err and "StopExecution" in err
    # the workers saw the stop within seconds (the plan had most of a minute to go), ended
    # their shards and saved what they had measured: all of it is in the results
    assert time.time() - asked < 25
    results = ResultSet.load(run_dir / "results.json")
    assert results.meta["status"] == "interrupted"
    assert [s["status"] for s in results.meta["shards"]] == ["interrupted", "interrupted"]
    assert results.total >= 50
    assert "interrupted" in err and "verdict" not in out
    assert not (run_dir / "progress.json").exists()


def faulty(tmp_path: Path, *, at: float, duration: float, length: float) -> Path:
    """A steady 40 rps for ``length`` s with one +250 ms latency fault in the emulator."""
    path = tmp_path / "faulty.toml"
    path.write_text(
        'name = "faulty"\ngates = ["recovery_time < 5s"]\n[target]\nbase_url = "local"\n[auth]\nusers = 6\n'
        '[[endpoints]]\nname = "list items"\npath = "/items"\n'
        f'[load]\nprofile = "steady"\nrate = 40\nduration = "{length:g}s"\nvus = 12\n'
        f'[[faults]]\nname = "slow"\nkind = "latency"\nat = "{at:g}s"\nduration = "{duration:g}s"\nlatency = "250ms"\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.timing  # recovery is judged against a baseline p95 of a few ms
def test_faults_are_applied_by_the_command_on_the_runs_clock(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = fanout(tmp_path, run_dir, scenario=faulty(tmp_path, at=4, duration=3, length=13))
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    assert "1 fault(s), applied from here" in err and "verdict: PASSED" in out
    results = ResultSet.load(run_dir / "results.json")
    assert [s["status"] for s in results.meta["shards"]] == ["completed", "completed"]
    t0 = results.meta["started_at"]  # the workers' shared start instant
    (fault,) = results.meta["faults"]
    assert fault["ended_by"] == "schedule" and fault["error"] is None
    assert fault["planned_start"] == pytest.approx(t0 + 4, abs=0.01) and fault["planned_end"] == pytest.approx(t0 + 7, abs=0.01)
    assert abs(fault["started_at"] - (t0 + 4)) < 0.5 and abs(fault["ended_at"] - (t0 + 7)) < 0.5
    base = int(t0)

    def p95(second: int) -> float | None:
        return results.percentile(0.95, outcomes=None, seconds=range(second, second + 1))

    for second in range(base + 5, base + 7):  # wholly inside the window: every answer is 250 ms late
        assert p95(second) >= 250, second
    for second in (base + 2, base + 3, base + 9, base + 10, base + 11):
        assert p95(second) < 150, second
    (event,) = [e for e in results.recovery["events"] if e["source"] == "fault"]
    assert event["status"] == "recovered" and abs(t0 + event["recovered_at"] - fault["ended_at"]) <= 1.5, event


def test_ctrl_c_during_a_fanout_fault_ends_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = fanout(tmp_path, run_dir, scenario=faulty(tmp_path, at=1, duration=40, length=45))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        progress = run_dir / "progress.json"
        if progress.exists() and json.loads(progress.read_text()).get("requests", 0) > 80:  # past 1 s at 40 rps
            break
    else:
        proc.kill()
        raise AssertionError(f"the workers never reported requests: {proc.communicate()[1][-3000:]}")
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    results = ResultSet.load(run_dir / "results.json")
    (fault,) = results.meta["faults"]
    assert fault["ended_by"] == "interrupted" and fault["started_at"] is not None
    assert fault["ended_at"] < fault["planned_end"] - 10


def test_a_fault_that_cannot_be_applied_refuses_the_run_before_it_starts(tmp_path: Path) -> None:
    path = faulty(tmp_path, at=2, duration=2, length=8)
    path.write_text(path.read_text() + 'route = "GET /nowhere"\n', encoding="utf-8")
    run_dir = tmp_path / "run"
    proc = fanout(tmp_path, run_dir, scenario=path)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 3, err[-3000:]
    assert "GET /nowhere" in err and "costs about" not in err  # refused before the cost, the question and the execution
    assert not (run_dir / "results.json").exists()
