"""The CLI's side of a distributed run: start the execution, follow it, stop it, get the results.

    run = FanoutExecution.start(sfn=sfn, s3=s3, state_machine_arn=arn, bucket=bucket,
                                run_id="r1", input={"scenario": {...}, "workers": 10})
    final = run.wait(on_progress=print)        # Progress(status="SUCCEEDED", done=10, ...)
    run.download(Path("reports/r1"))           # reports/r1/results.json

``stop()`` stops the execution (StopExecution); ``download`` then merges what the finished
shards wrote (``aggregate.collect``), so a stopped run still keeps what was measured. An
execution that ended by itself before its merge (stopped from the console, say) is
``settle``d first: its workers are stopped and their shards awaited.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from harness.errors import RunError, UsageError
from harness.fanout.aggregate import collect, failure_reason
from harness.fanout.store import RunStore
from harness.progress import combine_snapshots, rates_text

__all__ = ["FanoutExecution", "Progress"]

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
_REUSED = (
    "--run-id {run_id}: an execution of {state_machine} already has this name (Step Functions keeps execution names "
    "for 90 days, and the run's folder would mix two runs): leave --run-id out for a new one, or pick another"
)


@dataclass(frozen=True)
class Progress:
    """Where an execution is: its status, the shards started/done/failed, requests so far, and
    the workers' progress snapshots combined (``harness.progress``: planned and achieved rate,
    p95, errors, as ``harness run`` shows them)."""

    status: str
    shards: int
    done: int
    failed: int
    requests: int
    elapsed: float
    snapshot: dict[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> int:
        return max(self.shards - self.done - self.failed, 0)

    def line(self) -> str:
        rates, p95 = rates_text(self.snapshot)
        measured = f" · {' · '.join(rates)} · {p95}" if self.snapshot.get("phase") not in (None, "preparing") else ""
        return (
            f"{self.status.lower()}: {self.done} of {self.shards} shards done, {self.running} running, "
            f"{self.failed} failed; {self.requests:,} requests so far ({self.elapsed:.0f} s){measured}"
        )

    def to_snapshot(self) -> dict[str, Any]:
        """What ``progress.json`` holds: the snapshot schema ``harness run`` writes, plus the
        execution's status and shards."""
        return {**self.snapshot, "status": self.status, "shards": self.shards, "done": self.done, "failed": self.failed,
                "running": self.running, "requests": self.requests, "elapsed": self.elapsed, "t": time.time()}  # fmt: skip


class FanoutExecution:
    """One execution of the run state machine, and the run's files in the results bucket."""

    def __init__(self, *, sfn: Any, s3: Any, execution_arn: str, bucket: str, run_id: str) -> None:
        self.sfn = sfn
        self.execution_arn = execution_arn
        self.store = RunStore(s3, bucket=bucket, run_id=run_id)
        self.started = time.time()
        self._description: dict[str, Any] = {}

    @classmethod
    def start(cls, *, sfn: Any, s3: Any, state_machine_arn: str, bucket: str, run_id: str, input: dict[str, Any]) -> FanoutExecution:
        """Start the execution named after the run (names are unique per state machine);
        UsageError if the name was taken (see ``check_run_id_unused``)."""
        try:
            response = sfn.start_execution(stateMachineArn=state_machine_arn, name=run_id, input=json.dumps({**input, "run_id": run_id}))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                raise UsageError(_REUSED.format(run_id=run_id, state_machine=state_machine_arn)) from None
            raise
        return cls(sfn=sfn, s3=s3, execution_arn=response["executionArn"], bucket=bucket, run_id=run_id)

    @staticmethod
    def check_run_id_unused(sfn: Any, *, state_machine_arn: str, run_id: str) -> None:
        """UsageError if an execution of ``state_machine_arn`` is already named ``run_id``: Step
        Functions refuses a name used in the last 90 days (ExecutionAlreadyExists), and the run
        folder in S3 would mix two runs. Asked before the run, so nothing starts."""
        execution_arn = state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{run_id}"
        try:
            sfn.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return
            raise RunError(f"could not check the run id {run_id} (states:DescribeExecution on {execution_arn}): "
                           f"{exc.response.get('Error', {}).get('Code')}") from None  # fmt: skip
        raise UsageError(_REUSED.format(run_id=run_id, state_machine=state_machine_arn))

    def describe(self) -> dict[str, Any]:
        self._description = self.sfn.describe_execution(executionArn=self.execution_arn)
        return self._description

    def progress(self) -> Progress:
        status = self.describe()["status"]
        store = self.store
        segments = sum(key.endswith("/plan.json") for key in store.keys("segments"))
        spec = store.get_json_or_none(store.spec_key) or {}
        shards = segments * int(spec.get("workers", 0))
        done = len(store.keys("shards"))
        failed_keys = store.keys("failures")
        snapshots = list(store.read_all(store.keys("progress")))
        requests = sum(int(p.get("requests", 0)) for p in snapshots)
        return Progress(status=status, shards=shards, done=done, failed=len(failed_keys), requests=requests, elapsed=time.time() - self.started,
                        snapshot=combine_snapshots(snapshots))  # fmt: skip

    def wait(self, *, on_progress: Callable[[Progress], None] | None = None, poll: float = 2.0, timeout: float | None = None) -> Progress:
        """Poll until the execution ends (or ``timeout`` seconds pass); the last progress."""
        deadline = None if timeout is None else time.time() + timeout
        while True:
            progress = self.progress()
            if on_progress is not None:
                on_progress(progress)
            if progress.status in TERMINAL:
                return progress
            if deadline is not None and time.time() > deadline:
                raise RunError(f"the execution did not end within {timeout:.0f} s; it is still running: {self.execution_arn}")
            time.sleep(poll)

    def stop(self, cause: str = "stopped by harness (Ctrl-C)") -> None:
        """Ask the workers to end their shards (``stop.json``: they look every few seconds and
        save what they measured), then stop the execution (StopExecution: no new shard starts;
        a Lambda invocation already running is not stopped by it, on AWS as locally)."""
        self.store.stop(cause)
        description = self.describe()
        if description["status"] == "RUNNING":
            self.sfn.stop_execution(executionArn=self.execution_arn, error="harness.Interrupted", cause=cause)

    def drain(self, timeout: float = 30.0, poll: float = 1.0) -> int:
        """After ``stop``: wait (at most ``timeout`` s) until every shard that started has saved
        its results or its failure; how many are still running when it returns."""
        deadline = time.time() + timeout
        while True:
            started = {_shard_name(k) for k in self.store.keys("progress")}
            ended = {_shard_name(k) for k in self.store.keys("shards")} | {_shard_name(k) for k in self.store.keys("failures")}
            running = len(started - ended)
            if running == 0 or time.time() >= deadline:
                return running
            time.sleep(poll)

    def settle(self, final: Progress, *, timeout: float = 30.0) -> str | None:
        """After an execution that ended by itself (not through ``stop``): when it ended before
        its merge (StopExecution from the console or another tool, a timeout, a failed state),
        its workers' Lambdas may still be loading (Step Functions does not stop them). Stop them
        (``stop.json``; a worker watching the execution may have written it already) and wait at
        most ``timeout`` s for the running shards to save what they measured (``drain``).
        Returns why the run stopped when it was stopped outside harness (ABORTED), else None."""
        store = self.store
        if final.status == "SUCCEEDED" or store.exists(store.results_key):
            return None
        description = self.describe()
        how = f"{description.get('error')}: {description.get('cause')}" if description.get("error") or description.get("cause") else "no cause given"
        store.stop(f"the execution is {final.status} (seen by harness fanout)")
        self.drain(timeout=timeout)
        if final.status != "ABORTED":
            return None
        return f"the execution was stopped outside harness fanout (ABORTED: {' '.join(how.split())[:200]}); the shards' results were kept"

    def failure(self) -> str:
        """Why the execution failed, in one line (the handler's own message where there is one)."""
        description = self._description or self.describe()
        return failure_reason(description.get("error"), description.get("cause"))

    def download(self, run_dir: Path) -> Path | None:
        """The merged ``results.json`` into ``run_dir``; after a stop, what the finished
        shards wrote, merged here. None when there is nothing to download."""
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / "results.json"
        store = self.store
        body = store.get_json_or_none(store.results_key)
        if body is not None:
            path.write_text(json.dumps(body, separators=(",", ":")), encoding="utf-8")
            return path
        if store.get_json_or_none(store.spec_key) is None:
            return None  # it stopped before planning anything
        collect(store, interrupted=True).save(path)
        return path


def _shard_name(key: str) -> str:
    """``<seg>-<index>`` of a progress, shard or failure key."""
    return key.rsplit("/", 1)[-1].removesuffix(".json")
