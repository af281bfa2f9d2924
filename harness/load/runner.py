"""The headless runner: one Locust run of a scenario, in a child process, into a run folder.

    outcome = run_headless("scenarios/smoke.toml", run_dir=Path("reports/r1"), env=stack.env())
    outcome.results_path        # reports/r1/results.json

Locust runs in its own process (it monkey-patches the interpreter with gevent); Locust's own
CSV, HTML and log land next to ``results.json``. Ctrl-C reaches Locust too; the runner then
waits for it to write what it measured.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["RunOutcome", "run_headless", "LOCUSTFILE"]

# by path: importing it would load Locust, which monkey-patches the importing process
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass
class RunOutcome:
    run_dir: Path
    exit_code: int
    interrupted: bool
    log_path: Path

    @property
    def results_path(self) -> Path:
        return self.run_dir / "results.json"


def run_headless(
    scenario_path: str | Path,
    *,
    run_dir: Path,
    run_id: str,
    env: dict[str, str] | None = None,
    processes: int | None = None,
    override_limits: bool = False,
    on_tick: Callable[[float], None] | None = None,
) -> RunOutcome:
    """Run ``scenario_path`` headless with Locust; returns when Locust has exited."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "locust.log"
    cmd = [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless",
        "--scenario", str(scenario_path),
        "--results-dir", str(run_dir),
        "--run-id", run_id,
        "--csv", str(run_dir / "locust"),
        "--html", str(run_dir / "locust.html"),
        "--logfile", str(log_path),
        "--only-summary",
        "--exit-code-on-error", "0",  # the verdict, not Locust, decides the exit code
    ]  # fmt: skip
    if processes:
        cmd += ["--processes", str(processes)]
    if override_limits:
        cmd.append("--override-limits")
    child_env = {**os.environ, **(env or {})}
    interrupted = False
    with open(run_dir / "locust.out", "wb") as out:
        proc = subprocess.Popen(cmd, env=child_env, stdout=out, stderr=subprocess.STDOUT)
        # CI cancels with SIGTERM, which only reaches us: pass it on so Locust stops gracefully.
        previous = signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
        start = time.time()
        while True:
            try:
                code = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if on_tick:
                    on_tick(time.time() - start)
            except KeyboardInterrupt:
                # The terminal sent SIGINT to Locust too; give it time to write results.
                interrupted = True
                try:
                    code = proc.wait(timeout=30)
                except (subprocess.TimeoutExpired, KeyboardInterrupt):
                    proc.send_signal(signal.SIGTERM)
                    code = proc.wait(timeout=15)
                break
        signal.signal(signal.SIGTERM, previous)
    return RunOutcome(run_dir=run_dir, exit_code=code, interrupted=interrupted, log_path=log_path)
