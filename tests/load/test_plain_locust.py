"""Plain ``locust -f locustfiles/api.py`` as a newcomer types it: options that harness cannot
honour are refused once, in one line, before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "locustfiles" / "api.py"


def write_scenario(tmp_path: Path, base_url: str = "local", load: str = 'profile = "steady"\nrate = 1\nduration = "60s"\n') -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(f'name = "plain"\n[target]\nbase_url = "{base_url}"\n[[endpoints]]\nname = "a"\npath = "/a"\n[load]\n{load}', encoding="utf-8")
    return path


def locust(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--results-dir", str(tmp_path / "run"), *args],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env={**env, "HARNESS_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip


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
    proc = locust(tmp_path, "--scenario", str(write_scenario(tmp_path)), "--local", "--processes", "2")
    assert proc.returncode == 2
    [line] = harness_lines(proc)
    assert "--local runs the local stack inside one Locust process" in line and "harness local up" in line


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
