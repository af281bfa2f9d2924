"""A run folder and what is built from it after the load: server metrics, verdict, report.

    artifacts = analyse_run(Path("reports/r1"), gates=["p95 < 300ms"], aws=AwsContext())
    artifacts.verdict.passed, artifacts.report.html

The folder holds ``results.json`` (client side, from the load), ``metrics.csv`` (server side,
from CloudWatch), ``verdict.json`` and ``junit.xml`` (the gates), ``report.html`` and
``summary.md``. Everything but ``results.json`` can be rebuilt offline from the folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, UsageError
from harness.results import ResultSet

if TYPE_CHECKING:  # boto3 only where metrics are pulled: the run id helpers load before Locust patches ssl
    from harness.aws import AwsContext

__all__ = ["RunArtifacts", "analyse_run", "pull_run_metrics", "load_results", "new_run_id", "is_run_id", "run_folder", "claim_run_dir"]

log = logging.getLogger("harness")


_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")  # a leading "-" would read as a flag
#: what a run id may be, as the errors say it
RUN_ID_RULE = "a run id is a name: letters, digits, '-' and '_' (at most 80, the first a letter or digit), no '/', '.' or '..'"
#: the files a run writes into its folder (besides Locust's own locust*), cleared by --overwrite
RUN_FILES = ("results.json", "metrics.csv", "verdict.json", "junit.xml", "report.html", "summary.md", "progress.json")


def new_run_id() -> str:
    """A fresh run id: the local time and a random suffix, ``20250101-120000-1a2b3c``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def is_run_id(value: Any) -> bool:
    """Whether ``value`` is a valid run id (it names a folder under reports/ and a Step Functions execution)."""
    return isinstance(value, str) and _RUN_ID.fullmatch(value) is not None


def run_folder(*, run_id: str | None, results_dir: str | os.PathLike[str] | None, overwrite: bool = False, locust_files: bool = True) -> tuple[str, Path]:
    """A new run's id and folder (``--run-id``, ``--results-dir``; default ``reports/<run-id>``),
    checked before anything starts: a bad run id or an existing run folder is a ``UsageError``
    (exit 2). With ``overwrite`` the earlier run's files are removed (see ``claim_run_dir``)."""
    if run_id and not is_run_id(run_id):
        raise UsageError(f"--run-id {run_id!r}: {RUN_ID_RULE}; e.g. --run-id nightly-42 (or --results-dir for another place)")
    run_id = run_id or new_run_id()
    path = Path(results_dir) if results_dir else Path("reports") / run_id
    claim_run_dir(path, overwrite=overwrite, locust_files=locust_files)
    return run_id, path


def claim_run_dir(path: Path, *, overwrite: bool = False, locust_files: bool = True) -> None:
    """Make sure a new run does not write into an earlier one: ``path`` must not exist, or be an
    empty folder. With ``overwrite``, the files an earlier run wrote there (``RUN_FILES`` and, with
    ``locust_files``, Locust's ``locust*``) are removed first; anything else is left alone."""
    if not path.exists():
        return
    if not path.is_dir():
        raise UsageError(f"{path}: is a file, not a run folder; pick another --results-dir or --run-id")
    if not any(path.iterdir()):
        return
    if not overwrite:
        raise UsageError(f"{path}: a run folder that already holds a run; pick another --run-id or --results-dir, or pass --overwrite to replace it")
    for name in RUN_FILES:
        (path / name).unlink(missing_ok=True)
    if locust_files:
        for item in path.glob("locust*"):
            if item.is_file():
                item.unlink()


@dataclass
class RunArtifacts:
    run_dir: Path
    results: ResultSet
    verdict: Any
    metrics: Any = None
    report: Any = None
    notes: list[str] = field(default_factory=list)
    comparison: Any = None  # harness.report.analysis.BaselineComparison, with a baseline

    @property
    def status(self) -> str:
        """How the run ended (``meta.status``): ``completed``, ``interrupted``, ``aborted`` or ``failed``."""
        from harness.gates import RunStatus

        return str(RunStatus.of(self.results.meta.get("status")))

    @property
    def judged(self) -> bool:
        """A verdict only for a run that completed and has gates (else it was measured, not judged)."""
        return self.outcome in (self.outcome.PASSED, self.outcome.FAILED)

    @property
    def outcome(self) -> Any:
        """How the run ended, judged (``harness.gates.Outcome``): what verdict.json, JUnit and the exit code say."""
        from harness.gates import Outcome

        return Outcome.of(self.verdict, status=self.status, probe=self.results.meta.get("probe"))


def load_results(run_dir: Path) -> ResultSet:
    path = run_dir / "results.json"
    if not path.exists():
        raise UsageError(f"{path}: no results here; pass a run folder written by `harness run` (reports/<run-id>)")
    try:
        return ResultSet.load(path)
    except (ValueError, KeyError) as exc:
        raise UsageError(f"{path}: not a harness results file ({exc}); pass a run folder written by `harness run`") from None


def pull_run_metrics(results: ResultSet, *, aws: AwsContext, period: int | None = None) -> Any:
    """CloudWatch metrics for the run's window (API Gateway, Lambda, Cognito; for a distributed
    run also its state machine, and its worker Lambda apart, as layer ``generator``) as a DataFrame."""
    from harness import metrics

    meta, scenario = results.meta, results.scenario
    target = meta.get("target", {})
    target_cfg = scenario.get("target", {})
    fanout = meta.get("fanout") or {}  # a distributed run: its workers and state machine too
    queries = metrics.build_queries(
        api_kind=target_cfg.get("api_kind", "http"),
        api_id=target.get("api_id"),
        api_name=target_cfg.get("api_name"),
        stage=target.get("stage"),
        lambda_functions=list(dict.fromkeys([*target_cfg.get("lambda_functions", []), *target.get("lambda_functions", [])])),
        user_pool_id=target.get("user_pool_id"),
        client_id=target.get("client_id"),
        state_machine_arns=[fanout["state_machine_arn"]] if fanout.get("state_machine_arn") else [],
        # the workers are the load generator, not the API: kept in metrics.csv, apart (layer "generator")
        generator_functions=[fanout["worker_function"]] if fanout.get("worker_function") else [],
    )
    if not queries:
        return None
    if _measured_seconds(results) <= 0:
        return None  # nothing measured: no window to ask about
    delay = float(os.environ.get("HARNESS_METRICS_DELAY", "60"))
    ended = float(meta.get("ended_at") or time.time())
    wait = ended + delay - time.time()
    if wait > 0:
        log.info("waiting %.0f s for CloudWatch to receive the last metrics", wait)
        time.sleep(wait)
    start = datetime.fromtimestamp(float(meta.get("started_at") or ended), tz=UTC)
    end = datetime.fromtimestamp(ended, tz=UTC)
    return metrics.pull(aws.client("cloudwatch"), queries, start=start, end=end, period=period)


def _measured_seconds(results: ResultSet) -> float:
    """How long the run's window is (``ended_at - started_at``, as ``pull_run_metrics`` asks
    CloudWatch); 0 or less for a run stopped before its first request."""
    meta = results.meta
    ended = float(meta.get("ended_at") or time.time())
    return ended - float(meta.get("started_at") or ended)


def analyse_run(
    run_dir: Path,
    *,
    gates: list[str] | None = None,
    baseline_dir: Path | None = None,
    aws: AwsContext | None = None,
    period: int | None = None,
    report: bool = True,
) -> RunArtifacts:
    """Build metrics (when ``aws`` is given), the verdict and the report for a run folder."""
    from harness import metrics as metrics_mod
    from harness.gates import evaluate, parse_gates

    results = load_results(run_dir)
    if results.recovery is None:  # written before recovery time existed: gates and report need it
        from harness.faults.recovery import annotate

        annotate(results)
    parsed = parse_gates(results.scenario.get("gates", []), path=str(run_dir / "results.json")) + parse_gates(gates or [], path="--gate")
    notes: list[str] = []

    frame = None
    if aws is not None and results.meta.get("status") == "failed":
        notes.append("server metrics not pulled: the run failed before it measured what CloudWatch would show")
        aws = None  # a failed run never waits for CloudWatch
    if aws is not None and _measured_seconds(results) <= 0:
        notes.append("server metrics not pulled: the run measured no time (it was stopped before its first request)")
        aws = None  # no window to ask CloudWatch about (a fan-out run stopped before any shard saved)
    if aws is not None:
        try:
            frame = pull_run_metrics(results, aws=aws, period=period)
            if frame is not None:
                metrics_mod.save(frame, run_dir)
        except HarnessError as exc:
            notes.append(f"server metrics unavailable: {exc}")
    if frame is None:
        frame = metrics_mod.load(run_dir)

    baseline = baseline_metrics = comparison = None
    if baseline_dir is not None:
        from harness.report.analysis import compare_runs

        baseline = load_results(baseline_dir)
        baseline_metrics = metrics_mod.load(baseline_dir)
        comparison = compare_runs(results, baseline)

    # a probe is judged on the steps that held, not on the knee it stopped at (harness.probe)
    from harness.probe import judged_part

    verdict = evaluate(parsed, results=judged_part(results) or results, metrics=frame, baseline=baseline)
    artifacts = RunArtifacts(run_dir=run_dir, results=results, verdict=verdict, metrics=frame, notes=notes, comparison=comparison)
    outcome = artifacts.outcome
    reason = _not_judged_reason(results, outcome)
    from harness.report.junit import junit_xml

    junit = junit_xml(verdict, f"harness.{results.meta.get('scenario', 'run')}", outcome=outcome, reason=reason, time=results.duration())
    (run_dir / "junit.xml").write_text(junit, encoding="utf-8")
    # the run's status and outcome travel with the gates: an interrupted run is not a failed one
    judged = {**verdict.to_dict(), "passed": outcome.passed, "status": artifacts.status, "outcome": outcome.value}
    if reason:
        judged["reason"] = reason

    if report:
        from harness.report import write_report  # writes verdict.json with the report

        artifacts.report = write_report(
            run_dir,
            results=results,
            metrics=frame,
            verdict=judged,
            baseline=baseline,
            baseline_metrics=baseline_metrics,
        )
    else:
        (run_dir / "verdict.json").write_text(json.dumps(judged, indent=2), encoding="utf-8")
    return artifacts


def _not_judged_reason(results: ResultSet, outcome: Any) -> str:
    """Why a run's gates are not its verdict (JUnit's ``skipped`` message), or "" when they are."""
    if outcome.judged:
        return ""
    status = results.meta.get("status") or "completed"
    error = results.meta.get("error")
    why = {"interrupted": "the run was interrupted", "aborted": "an abort_on rule stopped the run", "failed": "the run failed"}.get(
        status, f"the run ended {status}"
    )
    return f"not judged: {why} after {results.duration():.0f} s" + (f" ({error})" if error else "")
