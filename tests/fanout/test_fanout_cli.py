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


def fanout(tmp_path: Path, run_dir: Path, *extra: str) -> subprocess.Popen[str]:
    """``harness fanout scenarios/fanout.toml --local`` with 2 workers starting 4 s after planning."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "fanout", "scenarios/fanout.toml", "--local", "--results-dir", str(run_dir),
         "--workers", "2", "--set", "fanout.start_lead=4s", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "COLUMNS": "200", "HARNESS_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip


def test_a_local_fanout_run_writes_the_run_folder_and_judges_the_gates(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = fanout(tmp_path, run_dir, "--set", "load.cycles=1", "--gate", "requests > 10")
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    # the cost on AWS is printed before the run, then the live progress, then the verdict
    assert "on AWS this run costs about $" in err and "Lambda" in err
    assert "execution succeeded: 2 of 2 shards done, 0 failed" in err
    assert "verdict: PASSED" in out and "requests > 10" in out
    results = ResultSet.load(run_dir / "results.json")
    assert results.meta["status"] == "completed" and results.meta["workers"] == 2
    assert [s["status"] for s in results.meta["shards"]] == ["completed", "completed"]
    assert results.meta["fanout"]["worker_function"].endswith("-worker")
    for name in ("report.html", "summary.md", "junit.xml"):
        assert (run_dir / name).exists(), name
    junit = (run_dir / "junit.xml").read_text()
    assert 'failures="0"' in junit and "requests &gt; 10" in junit


def test_a_failing_gate_exits_1(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = fanout(tmp_path, run_dir, "--set", "load.cycles=1", "--gate", "p95 < 0.001ms")
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, err[-3000:]
    assert "verdict: FAILED" in out


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
