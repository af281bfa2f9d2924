"""The headless runner: one Locust run of a scenario, in a child process, into a run folder.

    outcome = run_headless("scenarios/smoke.toml", run_dir=Path("reports/r1"), env=stack.env())
    outcome.results_path        # reports/r1/results.json

Locust runs in its own process (it monkey-patches the interpreter with gevent); Locust's own
CSV, HTML and log land next to ``results.json``, and what it prints goes to ``locust.out``.
Ctrl-C (or SIGTERM) stops Locust within seconds; it still writes what it measured.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.processes import free_port
from harness.progress import PROGRESS_FILE

__all__ = ["RunOutcome", "run_headless", "LOCUSTFILE", "STOP_TIMEOUT"]

# by path: importing it would load Locust, which monkey-patches the importing process
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
#: seconds Locust gets to write its results after being asked to stop, before it is killed
STOP_TIMEOUT = 15.0


@dataclass
class RunOutcome:
    """How a run ended, the same for ``run_headless`` and ``harness.fanout.run.run_fanout``:
    its folder, Locust's exit code (0 for a fan-out run), whether it was stopped before its
    end, Locust's log (None for a fan-out run) and a one-line summary (a fan-out run's)."""

    run_dir: Path
    exit_code: int
    interrupted: bool
    log_path: Path | None
    summary: str = ""

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
    overrides: Sequence[str] = (),
    on_tick: Callable[[float], None] | None = None,
    stop_timeout: float = STOP_TIMEOUT,
    probe_gates: Sequence[str] | None = None,
    overwrite: bool = False,
) -> RunOutcome:
    """Run ``scenario_path`` headless with Locust; returns when Locust has exited.

    ``overrides`` are ``--set FIELD=VALUE`` texts. ``probe_gates`` (a list, maybe empty) makes
    the run a probe (``harness.probe``) judged by the scenario's gates plus these. ``on_tick(elapsed)`` is called twice a
    second; meanwhile Locust writes ``progress.json`` into ``run_dir`` (``harness.progress``),
    which is removed when the run is over.

    Locust runs in a session of its own, so a Ctrl-C in the terminal reaches only this process,
    which stops Locust once with SIGTERM (Locust then writes what it measured) and waits at
    most ``stop_timeout`` seconds for it. A second Ctrl-C kills it.

    ``run_id`` must be a name (``harness.runs.is_run_id``), and ``run_dir`` must not hold a run
    already unless ``overwrite`` (``harness.runs.claim_run_dir``): ``UsageError`` otherwise.
    """
    from harness.errors import UsageError
    from harness.runs import RUN_ID_RULE, claim_run_dir, is_run_id

    if not is_run_id(run_id):
        raise UsageError(f"run id {run_id!r}: {RUN_ID_RULE}")
    claim_run_dir(run_dir, overwrite=overwrite)
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "locust.log"
    progress_path = run_dir / PROGRESS_FILE
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
        "--progress-file", str(progress_path),
        "--exit-code-on-error", "0",  # the verdict, not Locust, decides the exit code
        "--overwrite",  # the folder is this run's: claimed above, locust.out is already in it
    ]  # fmt: skip
    if processes:
        # the master and the workers it forks talk over a port of their own on 127.0.0.1, not
        # Locust's default 5557 on every interface: two multi-process runs on one machine (CI
        # jobs side by side) would otherwise share one master, or one of them fail to bind
        port = str(free_port())
        cmd += ["--processes", str(processes), "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                "--master-host", "127.0.0.1", "--master-port", port]  # fmt: skip
    if override_limits:
        cmd.append("--override-limits")
    for item in overrides:
        cmd += ["--set", item]
    if probe_gates is not None:
        cmd.append("--probe")
        for gate in probe_gates:
            cmd += ["--probe-gate", gate]
    child_env = {**os.environ, **(env or {})}
    interrupted = False
    with open(run_dir / "locust.out", "wb") as out:
        proc = subprocess.Popen(cmd, env=child_env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        stop = _Stopper(proc)
        # CI cancels with SIGTERM: stop Locust the same way as on Ctrl-C
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.request())
        try:
            start = time.time()
            code: int | None = None
            while code is None:
                try:
                    try:
                        code = proc.wait(timeout=0.5)
                    except subprocess.TimeoutExpired:
                        if stop.requested_at is not None and time.time() - stop.requested_at > stop_timeout:
                            stop.kill()
                        elif on_tick:
                            on_tick(time.time() - start)
                except KeyboardInterrupt:
                    if stop.requested_at is not None:
                        stop.kill()  # a second Ctrl-C: now
                    else:
                        stop.request()
            interrupted = stop.requested_at is not None
            if on_tick:
                on_tick(time.time() - start)  # the final snapshot: the run as it ended
        except BaseException:
            stop.kill()
            proc.wait()
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
            progress_path.unlink(missing_ok=True)
    return RunOutcome(run_dir=run_dir, exit_code=code, interrupted=interrupted, log_path=log_path)


class _Stopper:
    """Stops the Locust process: once with SIGTERM (it writes its results), then for good."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.requested_at: float | None = None

    def request(self) -> None:
        """SIGTERM to Locust's main process only: with ``--processes`` it asks its workers for
        what they measured since their last report before it saves and stops them."""
        if self.requested_at is None:
            self.requested_at = time.time()
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to Locust and its ``--processes`` workers (its own process group)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
