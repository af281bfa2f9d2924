"""Plain ``locust -f locustfiles/api.py`` as a newcomer types it: options that harness cannot
honour are refused once, in one line, before anything starts; a ``--local`` run keeps its
CloudWatch numbers, and ``harness report --pull-metrics`` finds a running local stack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.processes import free_port

pytestmark = pytest.mark.integration  # runs harness commands in subprocesses

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "locustfiles" / "api.py"


def write_scenario(tmp_path: Path, base_url: str = "local", load: str = 'profile = "steady"\nrate = 1\nduration = "60s"\n') -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(f'name = "plain"\n[target]\nbase_url = "{base_url}"\n[[endpoints]]\nname = "a"\npath = "/a"\n[load]\n{load}', encoding="utf-8")
    return path


def locust(tmp_path: Path, *args: str, before: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Plain Locust with the harness locustfile, headless; ``before``: Python run first in its
    process. Still running after ``timeout`` s, it is killed with its process group (the workers
    ``--processes`` forks too) and the test fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    start = ["-c", before + RUN_LOCUST] if before else ["-m", "locust"]
    cmd = [sys.executable, *start, "-f", str(LOCUSTFILE), "--headless", "--results-dir", str(tmp_path / "run"), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**env, "HARNESS_STATE_DIR": str(tmp_path / "state")}, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"locust still running after {timeout:g} s: {proc.communicate()[1][-2000:]}") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


RUN_LOCUST = """
import runpy, sys
sys.argv = ["locust", *sys.argv[1:]]
runpy.run_module("locust", run_name="__main__", alter_sys=True)
"""


def own_master_port() -> list[str]:
    """Locust's master on a free port: not the default 5557, which another test's master may hold."""
    port = str(free_port())
    return ["--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-port", port]


def harness_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return [line for line in proc.stderr.splitlines() if line.startswith("harness: ")]


def test_run_time_is_refused_naming_the_scenario_field_to_set_instead(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, base_url="http://127.0.0.1:9")
    proc = locust(tmp_path, "--scenario", str(path), "-t", "15s")
    assert proc.returncode == 2
    assert harness_lines(proc) == [
        "harness: -t/--run-time 15s: the scenario's steady profile sets the run's length (60 s); leave -t out and pass --set load.duration=15s"
    ]
    assert not (tmp_path / "run" / "results.json").exists()


def test_run_time_on_a_ramp_names_its_step_duration(tmp_path: Path) -> None:
    ramp = 'profile = "ramp"\nfrom_rate = 1\nto_rate = 3\nstep = 1\nstep_duration = "10s"\n'
    proc = locust(tmp_path, "--scenario", str(write_scenario(tmp_path, base_url="http://127.0.0.1:9", load=ramp)), "-t", "5s")
    assert proc.returncode == 2
    [line] = harness_lines(proc)
    assert "ramp profile sets the run's length (30 s)" in line and "a shorter load.step_duration (--set load.step_duration=...)" in line


def test_local_with_processes_is_refused_once_not_once_per_process(tmp_path: Path) -> None:
    proc = locust(tmp_path, "--scenario", str(write_scenario(tmp_path)), "--local", "--processes", "2", *own_master_port())
    assert proc.returncode == 2
    [line] = harness_lines(proc)
    assert "--local runs the local stack inside one Locust process" in line and "harness local up" in line


# Each forked worker three seconds slower than its master (an at-fork hook that runs before
# harness's): the master refuses --local and exits before any worker connected.
SLOW_WORKERS = """
import os, time
os.register_at_fork(after_in_child=lambda: time.sleep(3))
"""


def test_workers_forked_by_a_master_that_exits_early_exit_with_it(tmp_path: Path) -> None:
    # Locust's master forgets workers that have not connected when it exits: they retried for
    # five minutes, holding the output open (make test hung on it twice)
    started = time.monotonic()
    proc = locust(tmp_path, "--scenario", str(write_scenario(tmp_path)), "--local", "--processes", "2", *own_master_port(),
                  before=SLOW_WORKERS, timeout=30)  # fmt: skip
    assert proc.returncode == 2 and time.monotonic() - started < 15, proc.stderr[-2000:]
    assert harness_lines(proc) == [
        "harness: --local runs the local stack inside one Locust process; with --processes or master/workers "
        "start one that every process shares with `harness local up` and leave out --local"
    ]


def test_local_with_a_target_elsewhere_is_refused_before_a_stack_starts(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, base_url="http://127.0.0.1:9")
    proc = locust(tmp_path, "--scenario", str(path), "--local")
    assert proc.returncode == 2
    [line] = harness_lines(proc)
    assert f"{path}: --local starts a local stack, but the scenario's target is http://127.0.0.1:9: nothing would use it; leave out --local" in line
    assert "local stack up" not in proc.stderr
    # harness run --local refuses it the same way
    run = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(path), "--local", "--results-dir", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 2 and "--local starts a local stack, but the scenario's target is http://127.0.0.1:9" in run.stderr
    assert "starting the local stack" not in run.stderr and "Traceback" not in run.stderr


LOAD = 'profile = "steady"\nrate = 10\nduration = "3s"\nvus = 2\n'


def with_users(path: Path) -> Path:
    text = path.read_text().replace("[[endpoints]]", "[auth]\nusers = 2\n[[endpoints]]\n", 1).replace('path = "/a"', 'path = "/items"')
    path.write_text(text, encoding="utf-8")
    return path


def plain_env(tmp_path: Path) -> dict[str, str]:
    """No AWS_* and no HARNESS_* but the state folder: what a newcomer's shell has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "AWS_", "COGNITO_"))}
    return {**env, "HARNESS_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "200"}


def count_in_metrics(run_dir: Path) -> float | None:
    from harness import metrics

    frame = metrics.load(run_dir)
    return None if frame is None else metrics.run_value(frame, "count", "Sum")


@pytest.mark.integration
def test_a_plain_local_run_saves_its_cloudwatch_metrics_before_its_stack_stops(tmp_path: Path) -> None:
    from harness.results import ResultSet

    path = with_users(write_scenario(tmp_path, load=LOAD))
    proc = locust(tmp_path, "--scenario", str(path), "--local", "--only-summary")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = ResultSet.load(tmp_path / "run" / "results.json")
    assert results.total == 30
    assert count_in_metrics(tmp_path / "run") == results.total


@pytest.mark.integration
def test_report_pull_metrics_finds_the_running_local_stack_and_refuses_a_gone_one(tmp_path: Path) -> None:
    from harness.results import ResultSet

    env = plain_env(tmp_path)

    def harness(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)

    path = with_users(write_scenario(tmp_path, load=LOAD))
    run_dir = tmp_path / "run"
    assert harness("local", "up").returncode == 0
    try:
        assert harness("users", "create", "--local", "--count", "2").returncode == 0
        proc = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary", "--scenario", str(path), "--results-dir", str(run_dir)],
            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert not (run_dir / "metrics.csv").exists()
        report = harness("report", str(run_dir), "--pull-metrics")
        assert report.returncode == 0, report.stderr[-3000:]
        assert count_in_metrics(run_dir) == ResultSet.load(run_dir / "results.json").total == 30
    finally:
        assert harness("local", "down").returncode == 0
    gone = harness("report", str(run_dir), "--pull-metrics")
    assert gone.returncode == 3 and "Traceback" not in gone.stderr
    assert f"{run_dir} ran on a local stack at http://127.0.0.1:" in gone.stderr and "rebuild the report without --pull-metrics" in gone.stderr
