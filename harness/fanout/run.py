"""One distributed run, start to merged ``results.json``: what ``harness fanout`` does once the
stack is there and the run is checked, as a library function.

    stack = FanoutStack.of(stack_outputs(stack_aws().client("cloudformation"), "harness-fanout"))
    outcome = run_fanout(Scenario.load("scenarios/faults.toml"), stack=stack, run_dir=Path("reports/r1"), run_id="r1")
    artifacts = analyse_run(outcome.run_dir, aws=AwsContext())

It applies the scenario's faults on the run's clock (this process owns them: a heartbeat tells
the workers it is alive), follows the execution (``progress.json`` in the run folder, as for
``harness run``), stops it on Ctrl-C or SIGTERM (the workers end their shards and save what
they measured), settles an execution stopped outside it, and merges what was measured. It
returns the same ``RunOutcome`` as ``run_headless``.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import FaultError, RunError
from harness.fanout.execution import FanoutExecution, Progress
from harness.fanout.launch import FanoutStack, execution_input
from harness.fanout.launch import stack_aws as default_stack_aws
from harness.load.runner import RunOutcome
from harness.progress import PROGRESS_FILE, write_progress

__all__ = ["run_fanout", "Note"]

#: ``on_note(kind, text)``: kinds are "failing" (a fault could not start: the run stops),
#: "stopping", "not waiting longer", "fault" (a fault's put-back problem) and "stopped"
#: (the execution was stopped outside harness)
Note = Callable[[str, str], None]

# how a fan-out run's faults end when its execution ends by itself
_FAULTS_END = {"SUCCEEDED": "completed", "ABORTED": "interrupted"}


class _Quiet:
    """A status display that shows nothing (the default of ``run_fanout``'s ``status``)."""

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *_: Any) -> None:
        return None

    def update(self, _text: str) -> None:
        return None


def run_fanout(
    scenario: Any = None,
    *,
    stack: FanoutStack,
    run_dir: Path,
    run_id: str,
    input: dict[str, Any] | None = None,
    workers: int | None = None,
    override_limits: bool = False,
    aws: Any = None,
    stack_aws: Any = None,
    faults: Any = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_note: Note | None = None,
    status: Callable[[str], contextlib.AbstractContextManager[Any]] | None = None,
) -> RunOutcome:
    """Run ``scenario`` (or the reference ``input``) on the fan-out ``stack``; the merged
    results land in ``run_dir/results.json``. ``aws``: the target's account (faults; default
    the target's region), ``stack_aws``: the stack's (default ``launch.stack_aws()``).
    ``faults``: a checked ``FanoutFaults``; built and checked here for a scenario with faults
    when not given. ``on_progress`` gets each ``Progress``, ``on_note(kind, text)`` what the
    run says, ``status(text)`` a display with ``update(text)`` (rich's ``Console.status``).
    RunError when the execution ended before planning any shard."""
    note = on_note or (lambda kind, text: None)
    show = status or (lambda text: _Quiet())
    on_stack = stack_aws or default_stack_aws()
    data = input if input is not None else execution_input(scenario=scenario, workers=workers, override_limits=override_limits)
    if faults is None and scenario is not None and scenario.faults:
        faults = _faults(scenario, data, run_id=run_id, aws=aws)
    owner = contextlib.ExitStack()
    if faults:  # this process applies the faults: should it go silent, the workers stop (fanout.heartbeat_timeout)
        from harness.fanout.heartbeat import Heartbeat
        from harness.fanout.store import RunStore

        owner.enter_context(Heartbeat(RunStore(on_stack.client("s3"), bucket=stack.bucket, run_id=run_id)))
    with owner:
        execution = FanoutExecution.start(sfn=on_stack.client("stepfunctions"), s3=on_stack.client("s3"), state_machine_arn=stack.run_state_machine,
                                          bucket=stack.bucket, run_id=run_id, input=data)  # fmt: skip
        interrupted, failure, final = _follow_until_end(execution, run_dir, faults, note=note, show=show, on_progress=on_progress)
    stopped_outside = None
    if not interrupted and failure is None:
        # ended by itself: before its merge (StopExecution from the console, a timeout), its workers may still load
        stopped_outside = execution.settle(final)
        if stopped_outside:
            note("stopped", stopped_outside)
    path = execution.download(run_dir)
    (run_dir / PROGRESS_FILE).unlink(missing_ok=True)  # as after `harness run`: the run is over
    if path is None:
        raise RunError(f"the execution {final.status.lower()} before planning any shard: {execution.failure()}")
    _note_fanout(path, execution, stack, faults=faults, failure=failure, stopped=stopped_outside)
    summary = f"execution {final.status.lower()}: {final.done} of {final.shards} shards done, {final.failed} failed"
    return RunOutcome(run_dir=run_dir, exit_code=0, interrupted=interrupted or stopped_outside is not None, log_path=None, summary=summary)


def _faults(scenario: Any, data: dict[str, Any], *, run_id: str, aws: Any) -> Any:
    from harness.aws import AwsContext
    from harness.fanout.faults import FanoutFaults
    from harness.fanout.spec import StackDefaults, parse_input
    from harness.target import resolve_target

    target = resolve_target(scenario)
    spec = parse_input({**data, "run_id": run_id}, defaults=StackDefaults())
    faults = FanoutFaults(scenario, spec.windows, target=target, aws=aws or AwsContext(region=target.region), run_id=run_id)
    faults.check()
    return faults


def _follow_until_end(
    execution: FanoutExecution, run_dir: Path, faults: Any, *, note: Note, show: Callable[[str], contextlib.AbstractContextManager[Any]], on_progress: Any
) -> tuple[bool, str | None, Progress]:
    """Follow the execution until it ends, Ctrl-C (or SIGTERM) stops it, or a fault cannot
    start; every fault still active ends then. (interrupted, failure, the last progress)."""
    interrupted, failure = False, None
    final: Progress | None = None
    previous = signal.signal(signal.SIGTERM, _interrupt)  # CI cancels with SIGTERM: stop as on Ctrl-C
    try:
        final = _follow(execution, run_dir, faults, show=show, on_progress=on_progress)
    except KeyboardInterrupt:
        interrupted = True
        final = _stop(execution, "stopped by harness (Ctrl-C)", faults, reason="interrupted", note=note, show=show)
    except FaultError as exc:  # a fault that cannot start: the run would measure something else
        failure = str(exc)
        note("failing", failure)
        final = _stop(execution, f"harness: {failure}"[:200], faults, reason="failed", note=note, show=show)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if faults:  # still active ones end now, whatever happened (and at exit, at the latest)
            ending = "interrupted" if interrupted else "failed" if failure else _FAULTS_END.get(final.status if final else "", "failed")
            for problem in faults.end_all(ending):
                note("fault", problem)
    return interrupted, failure, final


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _follow(
    execution: FanoutExecution, run_dir: Path, faults: Any, *, show: Callable[[str], contextlib.AbstractContextManager[Any]], on_progress: Any
) -> Progress:
    """Wait for the execution; ``run_dir/progress.json`` holds the latest progress, as for
    ``harness run``. ``faults`` (``FanoutFaults``) are scheduled as the segments are planned."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with show("starting the execution...") as display:

        def step(progress: Progress) -> None:
            if faults:
                faults.follow(execution.store)
            write_progress(run_dir / PROGRESS_FILE, progress.to_snapshot())
            display.update(progress.line())
            if on_progress is not None:
                on_progress(progress)

        return execution.wait(on_progress=step)


def _stop(
    execution: FanoutExecution, cause: str, faults: Any, *, reason: str, note: Note, show: Callable[[str], contextlib.AbstractContextManager[Any]]
) -> Progress:
    """Stop a fan-out run: faults end at once (``reason``), the workers end their shards and
    save what they measured (waiting 30 s at most for them), StopExecution; the last progress."""
    if faults:
        faults.end_all(reason)
    note("stopping", "the workers end their shards and save what they measured; StopExecution")
    execution.stop(cause)
    try:
        with show("waiting for the running shards to save their results (Ctrl-C again: do not wait)..."):
            left = execution.drain(timeout=30.0)
    except KeyboardInterrupt:
        left = -1
    if left:
        note("not waiting longer", "shards still running are left out of the results")
    return execution.progress()


def _note_fanout(path: Path, execution: FanoutExecution, stack: FanoutStack, *, faults: Any = None, failure: str | None = None,
                 stopped: str | None = None) -> None:  # fmt: skip
    """The run's state machine and worker function go into results.json, so that the report
    pulls their CloudWatch metrics too; the faults applied from here, with the recovery times
    measured again now that their real windows are known; a fault that could not start fails
    the run; an execution stopped outside harness makes it ``interrupted``, saying so."""
    from harness.results import ResultSet

    results = ResultSet.load(path)
    results.meta.setdefault("fanout", {}).update(
        state_machine_arn=stack.run_state_machine, execution_arn=execution.execution_arn, worker_function=stack.worker_function
    )
    if faults:
        from harness.faults.recovery import annotate

        results.meta["faults"] = faults.records()
        annotate(results)
    if failure:
        results.meta.update(status="failed", error=failure)
    elif stopped:
        results.meta.update(status="interrupted", error=stopped)
    results.save(path)
