"""A Distributed Map in moto's Step Functions that fails as it does on AWS.

moto's interpreter counts a failed child execution of a Distributed Map and goes on: the Map
Run always succeeds, whatever its tolerated failure. On AWS (Step Functions developer guide,
"Tolerated failure threshold for Distributed Map state"):

- the failed share is (failed + timed-out items) / all items; the Map Run fails once it is
  above ``ToleratedFailurePercentage`` (default 0: the first failed child fails it) or above
  ``ToleratedFailureCount``; when both are given, exceeding either fails it;
- the Map state then fails with ``States.ExceedToleratedFailureThreshold`` (a Catch sees it);
- the other child executions are aborted: no new one starts, and the running ones are
  stopped (DescribeMapRun's ``executionCounts.aborted``: "stopped ... by Step Functions
  because the Map Run failed"). A Lambda invocation already running is not stopped by that:
  it goes on until it returns (its result is then dropped).

``install()`` (one of ``harness.local.moto.DEFAULT_PATCHES``) gives moto those rules: a
failed child is checked against the threshold as soon as it ends; past it, the pool hands
out no more items, every running child's program is stopped (its Task's Lambda call still
runs to its end in the local Lambda runtime; the child then ends as aborted), and the Map
Run fails with that error at once, without waiting for the running children.
"""

from __future__ import annotations

import datetime
import threading
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job import JobPool

__all__ = ["install", "exceeded", "THRESHOLD_CAUSE"]

THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"


def exceeded(*, failed: int, total: int, count: int | None, percentage: float | None) -> bool:
    """True when ``failed`` of ``total`` items is past the tolerated failure (AWS's rule:
    above either given value; with neither given the percentage is 0)."""
    if count is None and percentage is None:
        percentage = 0.0
    if count is not None and failed > count:
        return True
    return percentage is not None and total > 0 and failed * 100.0 / total > percentage


def install() -> None:
    """Patch moto's Distributed Map (idempotent)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map import state_map as sm
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import distributed_iteration_component as dic
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as dipw,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator import distributed_iterator_worker as diw
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
        ToleratedFailureCountDecl,
        ToleratedFailurePercentageDecl,
    )

    if getattr(dic.DistributedIterationComponent, "_harness_patched", False):
        return

    original_props = sm.StateMap.from_state_props

    def from_state_props(self: Any, state_props: Any) -> None:
        original_props(self, state_props)
        # which of the two values the definition gives (moto fills in 0 for a missing one)
        self.iteration_component._harness_given = (
            state_props.get(ToleratedFailureCountDecl) is not None,
            state_props.get(ToleratedFailurePercentageDecl) is not None,
        )

    sm.StateMap.from_state_props = from_state_props

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        input_items = env.stack.pop()
        count_given, percentage_given = getattr(self, "_harness_given", (False, False))
        job_pool = _ThresholdPool(
            job_program=self._get_iteration_program(),
            job_inputs=input_items,
            env=env,
            record=eval_input.map_run_record,
            count=int(eval_input.tolerated_failure_count) if count_given else None,
            percentage=float(eval_input.tolerated_failure_percentage) if percentage_given else None,
        )
        max_concurrency = eval_input.map_run_record.max_concurrency
        workers = len(input_items) if max_concurrency == dic.DEFAULT_MAX_CONCURRENCY_VALUE else max_concurrency
        for _ in range(max(1, min(workers, len(input_items))) if input_items else 0):
            self._launch_worker(env=env, eval_input=eval_input, job_pool=job_pool)
        job_pool.await_jobs()
        worker_exception = job_pool.get_worker_exception()
        if worker_exception is not None:
            raise worker_exception
        env.stack.append([closed.job_output for closed in job_pool.get_closed_jobs()])

    dic.DistributedIterationComponent._map_run = map_run

    for worker_class in (dipw.DistributedItemProcessorWorker, diw.DistributedIteratorWorker):
        worker_class._eval_job = _tracked(worker_class._eval_job)

    setattr(dic.DistributedIterationComponent, "_harness_patched", True)  # noqa: B010 - moto declares no such attribute


def _tracked(original: Any) -> Any:
    def eval_job(self: Any, env: Any, job: Any) -> None:
        pool = self._job_pool
        if isinstance(pool, _ThresholdPool):
            pool.running(env)
        try:
            original(self, env, job)
        finally:
            if isinstance(pool, _ThresholdPool):
                pool.ended(env)

    return eval_job


class _ThresholdPool(JobPool):
    """moto's JobPool, plus the tolerated failure: checked each time a child ends."""

    def __init__(self, *, job_program: Any, job_inputs: list[Any], env: Any, record: Any, count: int | None, percentage: float | None) -> None:
        super().__init__(job_program=job_program, job_inputs=job_inputs)
        self._env = env
        self._record = record
        self._count = count
        self._percentage = percentage
        self._total = len(job_inputs)
        self._frames: list[Any] = []
        self._frames_lock = threading.Lock()

    def running(self, frame: Any) -> None:
        with self._frames_lock:
            self._frames.append(frame)

    def ended(self, frame: Any) -> None:
        with self._frames_lock:
            if frame in self._frames:
                self._frames.remove(frame)
        self._check()

    def _check(self) -> None:
        counter = self._record.item_counter
        failed = counter.failed.get() + counter.timed_out.get()
        if not exceeded(failed=failed, total=self._total, count=self._count, percentage=self._percentage):
            return
        with self._mutex:
            if self._worker_exception is not None or len(self._closed_jobs) == self._jobs_number:
                return
            self._worker_exception = _threshold_error(self._env)
            self._open_jobs.clear()  # no new child starts
        with self._frames_lock:
            running = list(self._frames)
        now = datetime.datetime.now(tz=datetime.UTC)
        for frame in running:  # the running children are aborted; their Lambda calls go on
            frame.set_stop(stop_date=now, cause="the Map Run failed", error="States.Aborted")
        self._termination_event.set()


def _threshold_error(env: Any) -> Exception:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent, FailureEventException
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    name = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=name,
            event_type=HistoryEventType.MapRunFailed,
            event_details=EventDetails(executionFailedEventDetails=ExecutionFailedEventDetails(error=name.error_name, cause=THRESHOLD_CAUSE)),  # type: ignore[typeddict-item]  # moto types every kind as required; one is set, as moto does
        )
    )
