"""One worker: one shard of a distributed run, on the same engine as ``harness run``.

    summary = run_worker(shard, s3=aws.client("s3"), sfn=aws.client("stepfunctions"), execution_arn=arn)

It runs ``harness.load.inprocess.run_shard`` (the same session, pacer, user and shape as
``harness run``), writes the shard's ``ResultSet`` to S3 (never through the state payload),
notes its progress there every few seconds for the CLI, and returns a small summary. When the
run is stopped (``runs/<run-id>/stop.json``), it ends its shard within ``PROGRESS_EVERY``
seconds and still saves what it measured. ``stop.json`` is written by ``harness fanout`` on
Ctrl-C, by the state machine when the Map Run failed, by the first worker that sees the
execution ``execution_arn`` no longer running (``ExecutionWatch``: StopExecution from the
console, say), and, in a run with faults, by the first worker that finds ``harness fanout``'s
heartbeat older than ``fanout.heartbeat_timeout`` (``silent_owner``). A shard that failed (or was
aborted) raises ``ShardFailed`` after saving what it measured, so that Step Functions counts it
as failed and its data is still merged. Given ``deadline`` (the Lambda's own, from
``context.get_remaining_time_in_millis()``), it ends its shard ``UPLOAD_MARGIN`` seconds before
it, so that its results are saved before Lambda ends the invocation.

Import ``harness.load.inprocess`` before boto3 (Locust patches the process with gevent).
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from harness.errors import ShardFailed
from harness.fanout.heartbeat import silent_owner
from harness.fanout.shards import Shard
from harness.fanout.spec import UPLOAD_MARGIN
from harness.fanout.store import PROGRESS_EVERY, RunStore
from harness.fanout.watch import ExecutionWatch
from harness.load.inprocess import run_shard
from harness.scenario import Scenario

__all__ = ["run_worker"]


def run_worker(shard: Shard, *, s3: Any, sfn: Any = None, execution_arn: str | None = None, deadline: float | None = None) -> dict[str, Any]:
    """Run ``shard``, save its results and progress to S3; a small summary for the state machine.
    ``execution_arn`` (with ``sfn``, a Step Functions client): the run's execution, watched on
    this worker's share of the schedule; None for a shard run outside a state machine.
    ``deadline``: epoch seconds at which the invocation is ended (the Lambda timeout)."""
    store = shard.store(s3)
    scenario = Scenario.from_dict(shard.scenario, source=shard.name, override_limits=shard.override_limits)
    progress_key = store.progress_key(shard.segment, shard.index)
    began = time.time()

    last: dict[str, Any] = {}

    def progress(state: dict[str, Any]) -> None:  # the last snapshot, updated: the final note keeps the rates and p95
        last.update(state)
        store.put_json(progress_key, {"segment": shard.segment, "index": shard.index, **last})

    def should_stop() -> bool:
        return store.exists(store.stop_key) or (bool(scenario.faults) and _owner_gone(store, scenario.fanout.heartbeat_timeout, began))

    watch: Any = contextlib.nullcontext()
    if execution_arn:
        watch = ExecutionWatch(sfn=sfn, store=store, execution_arn=execution_arn, index=shard.index, workers=shard.count, epoch=shard.start_at)
    with watch:
        results = run_shard(
            scenario,
            index=shard.index,
            count=shard.count,
            start_at=shard.start_at,
            window=shard.window,
            run_id=shard.run_id,
            progress=progress,
            progress_every=PROGRESS_EVERY,
            should_stop=should_stop,
            deadline=None if deadline is None else deadline - UPLOAD_MARGIN,
        )
    meta = results.meta
    meta["shard"].update(segment=shard.segment, segments=shard.segments)
    store.put_text(store.shard_key(shard.segment, shard.index), json.dumps(results.to_dict(summary=False), separators=(",", ":")))
    progress({"requests": results.total, "status": meta["status"], **({"phase": "done"} if last else {})})
    if meta["status"] not in ("completed", "interrupted"):  # interrupted: the run was stopped (stop.json)
        raise ShardFailed(f"{shard.name} {meta['status']}: {meta.get('error') or 'stopped early'}; its results were saved")
    generator = meta.get("generator") or {}
    return {
        "segment": shard.segment,
        "index": shard.index,
        "requests": results.total,
        "late_start_ms": generator.get("late_start_ms", 0.0),
        "skipped": generator.get("skipped", 0),
        "status": meta["status"],
    }


def _owner_gone(store: RunStore, timeout: float, since: float) -> bool:
    """``harness fanout``, which applies the run's faults, has gone silent: stop every worker."""
    reason = silent_owner(store, timeout=timeout, since=since)
    if reason is None:
        return False
    store.stop(reason)
    return True
