"""The run's report, written once the run stops (``harness.runs.analyse_run`` on the run folder,
CloudWatch included), in a thread of its own; the web UI shows how far it got."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

__all__ = ["ReportWriter"]

log = logging.getLogger("harness.load")


class ReportWriter:
    """Writes the run's report once the run stops (``harness.runs.analyse_run`` on the run
    folder, CloudWatch included) and says how far it got: ``waiting`` (the run is on),
    ``writing``, ``ready`` or ``failed``."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.state = "waiting"
        self.message = ""
        self.verdict: Any = None
        self._thread: threading.Thread | None = None

    @property
    def run_dir(self) -> Path | None:
        return Path(self.session.results_dir).resolve() if self.session.results_dir else None

    def file(self, name: str) -> Path | None:
        """``report.html`` once ready; ``results.json`` once written."""
        run_dir = self.run_dir
        if run_dir is None or (name == "report.html" and self.state != "ready"):
            return None
        path = run_dir / name
        return path if path.is_file() else None

    def start(self) -> None:
        """Begin writing (the run has stopped; ``results.json`` is written by then)."""
        if self._thread is not None:
            return
        self.state = "writing"
        self.message = "waiting for CloudWatch's last datapoints, then building the report"
        self._thread = threading.Thread(target=self._write, name="harness-report", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state in ("ready", "failed")

    def _write(self) -> None:
        from harness.aws import AwsContext
        from harness.runs import analyse_run

        run_dir = self.run_dir
        if run_dir is None or not (run_dir / "results.json").is_file():
            self.state, self.message = "failed", f"no results.json in {run_dir}; see the Locust log"
            return
        try:
            artifacts = analyse_run(run_dir, aws=AwsContext(region=self.session.target.region))
        except Exception as exc:  # shown in the UI and logged: the web UI carries on
            log.exception("harness: could not write the report")
            self.state, self.message = "failed", f"{type(exc).__name__}: {exc}"
            return
        self.verdict = verdict = artifacts.verdict
        head = artifacts.outcome.headline(failed=len(verdict.failures), total=len(verdict.results), status=artifacts.status)
        self.message = "; ".join([head, f"written to {run_dir / 'report.html'}", *artifacts.notes])
        self.state = "ready"
        log.info("harness: report written to %s", run_dir / "report.html")
