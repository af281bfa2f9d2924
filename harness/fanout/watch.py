"""The workers watch their execution together, so that a run stopped from anywhere stops.

    with ExecutionWatch(sfn=sfn, store=store, execution_arn=arn, index=3, workers=200, epoch=start_at):
        run_shard(...)      # the shard reads stop.json every few seconds, as always

An execution can end while its workers still load the target: StopExecution from the console
or another tool, a timeout, a failure. Step Functions then aborts the Distributed Map's child
executions, but not the Lambda invocations they made (developer guide, "Distributed Map
state": a Lambda invocation already running goes on). Only ``harness fanout``'s own Ctrl-C and
a failed Map Run write ``runs/<run-id>/stop.json``; for every other stop, the first worker that
sees its execution no longer ``RUNNING`` (``states:DescribeExecution`` on the ARN the Map's
``ItemSelector`` passes, ``$$.Execution.Id``) writes it, and every worker ends its shard within
``PROGRESS_EVERY`` seconds after that.

The fleet asks together at most ``FLEET_RATE`` times a second whatever its size: each worker
every ``interval(W) = max(MIN_INTERVAL, W / FLEET_RATE)`` seconds, offset by ``index / W`` of
that interval from the segment's shared start instant, so that some worker asks every
``interval / W`` seconds (1/3 s for 9 workers or fewer is ``MIN_INTERVAL / W``; 0.2 s from 15
workers on). DescribeExecution is throttled per account and Region with a token bucket: 300
tokens refilled at 15 per second in us-east-1, us-west-2 and eu-west-1, 250 at 10 per second in
the other Regions (Step Functions developer guide, "Quotas related to API action throttling");
``FLEET_RATE`` is half the smaller refill, leaving the rest to ``harness fanout`` (one call
every 2 s) and to anything else in the account.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.fanout.background import BackgroundLoop
from harness.fanout.store import RunStore

__all__ = ["ExecutionWatch", "FLEET_RATE", "MIN_INTERVAL", "interval"]

log = logging.getLogger(__name__)

FLEET_RATE = 5.0
"""DescribeExecution calls per second by all the workers of a run together (module docstring)."""
MIN_INTERVAL = 3.0
"""Seconds between one worker's calls, however few the workers."""


def interval(workers: int) -> float:
    """Seconds between one worker's DescribeExecution calls in a fleet of ``workers``."""
    return max(MIN_INTERVAL, workers / FLEET_RATE)


class ExecutionWatch(BackgroundLoop):
    """One worker's share of watching the execution: a background thread (a greenlet once
    Locust has patched the process) that asks on the worker's staggered schedule and, when the
    execution is no longer running, writes ``stop.json`` (the first stop's cause stays)."""

    thread_name = "execution-watch"

    def __init__(self, *, sfn: Any, store: RunStore, execution_arn: str, index: int, workers: int, epoch: float) -> None:
        super().__init__()
        self.sfn = sfn
        self.store = store
        self.execution_arn = execution_arn
        self.every = interval(workers)
        self.offset = self.every * (index % workers) / workers
        self.epoch = epoch
        self.status: str | None = None
        self._warned = False

    def next_due(self, now: float) -> float:
        """The first time at or after ``now`` on this worker's schedule."""
        base = self.epoch + self.offset
        return base + math.ceil((now - base) / self.every) * self.every

    def check(self) -> str | None:
        """Ask once; the execution's status when it is no longer running (``stop.json`` is
        then written), else None. An error is logged once and the load goes on."""
        try:
            status = str(self.sfn.describe_execution(executionArn=self.execution_arn)["status"])
        except (ClientError, BotoCoreError) as exc:
            if not self._warned:
                self._warned = True
                log.warning("harness: cannot watch the execution %s (states:DescribeExecution): %s", self.execution_arn, exc)
            return None
        if status == "RUNNING":
            return None
        self.status = status
        self.store.stop(f"the execution is {status} (seen by a worker: stopped outside harness fanout, or it ended)")
        return status

    def loop(self) -> None:
        while not self.done.wait(timeout=max(self.next_due(time.time() + 0.001) - time.time(), 0.0)):
            if self.check() is not None:
                return
