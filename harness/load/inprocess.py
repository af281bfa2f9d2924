"""One shard of a scenario, run in this process: the engine of ``harness run``, without a child.

A fan-out worker Lambda calls this with its shard. It is the same ``LoadSession``, pacer,
``HarnessUser`` and Locust shape as ``harness run`` (wired by the same ``wire_local``); only
Locust runs in this process instead of a child, and the results come back as a ``ResultSet``
instead of a file::

    results = run_shard(scenario, index=2, count=10, start_at=t0, run_id="r1")
    results.meta["generator"]["late_start_ms"]     # how late this worker started, if it did

Importing this module imports Locust, which monkey-patches the process with gevent: import it
before boto3 or anything else that opens sockets (a Lambda handler imports it first).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust.env import Environment
from locust.event import Events

from harness.load.lifecycle import wire_local
from harness.load.session import READY_TIMEOUT, LoadSession
from harness.load.shape import GRACE, OpenModelShape
from harness.load.user import HarnessUser
from harness.results import ResultSet
from harness.scenario import Scenario

log = logging.getLogger("harness.load")

__all__ = ["run_shard"]


def run_shard(
    scenario: Scenario,
    *,
    index: int = 0,
    count: int = 1,
    start_at: float | None = None,
    window: tuple[float, float] | None = None,
    run_id: str | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    progress_every: float = 5.0,
    should_stop: Callable[[], bool] | None = None,
    deadline: float | None = None,
) -> ResultSet:
    """Run shard ``index`` of ``count`` of ``scenario`` here and return what it measured.

    ``start_at``: the run's shared start instant (epoch seconds). A shard that is ready only
    after it does not shift its plan: it skips what was due and says so in
    ``meta["generator"]`` (``late_start_ms``, ``skipped``). Without it the shard starts as
    soon as its virtual users are signed in. ``window``: only this part of the plan (start,
    end seconds), mapped onto ``start_at``: one segment of a run longer than a Lambda may run.
    ``progress`` is called every ``progress_every`` seconds with the requests so far (its
    errors are logged, never fatal: progress is for people watching, not for the results).
    ``should_stop`` is asked as often: when it says so, the shard stops as a Ctrl-C stops
    ``harness run`` (status ``interrupted``, what was measured kept). ``deadline`` (epoch
    seconds): the shard ends by then whatever its plan (status ``failed``, what was measured
    kept), so that a Lambda worker saves its results before its own timeout ends it.
    """
    session = LoadSession(scenario, run_id=run_id)
    session.configure_shard(index, count, window=window)
    session.start_at = start_at
    user_class = type(
        "ShardUser",
        (HarnessUser,),
        {"host": session.target.base_url, "network_timeout": scenario.target.timeout, "__module__": __name__},
    )
    environment = Environment(user_classes=[user_class], shape_class=OpenModelShape(), events=Events())
    environment.harness_session = session  # type: ignore[attr-defined]
    runner = environment.create_local_runner()
    wire_local(environment, session, runner)
    plan_length = window[1] - window[0] if window else session.planned_duration
    wait = max((start_at or time.time()) - time.time(), 0.0) + plan_length + READY_TIMEOUT + scenario.target.timeout + GRACE
    cut_short = deadline is not None and deadline - time.time() < wait
    if deadline is not None:
        wait = min(wait, max(deadline - time.time(), 0.0))
    watched = progress is not None or should_stop is not None
    reporter = gevent.spawn(_report_progress, session, progress, should_stop, progress_every, plan_length) if watched else None
    try:
        runner.start_shape()
        if not session.done.wait(timeout=wait):
            if cut_short:
                session.fail(
                    f"the shard reached its time limit ({wait:.0f} s after it began) before its plan ended, and stopped to save "
                    "what it measured; give the worker function a longer timeout or a shorter segment"
                )
            else:
                session.fail(f"the shard did not finish within {wait:.0f} s; see the log")
    except KeyboardInterrupt:
        session.interrupt()
    finally:
        runner.quit()  # stops the users; test_stop saves nothing here (no results folder)
        session.close_tokens()
        if reporter is not None:
            reporter.kill()
    results = session.final_results()
    results.meta["shard"] = {"index": index, "count": count, "window": list(window) if window else None, "vus": session.pool_size}
    return results


def _report_progress(
    session: LoadSession,
    progress: Callable[[dict[str, Any]], None] | None,
    should_stop: Callable[[], bool] | None,
    every: float,
    plan_length: float,
) -> None:
    """Every ``every`` seconds: the shard's progress snapshot (``harness.progress``, as ``harness
    run`` writes it, plus ``released``) to ``progress``; ``should_stop`` asked."""
    from harness.progress import ProgressTracker

    tracker = ProgressTracker(plan=session.plan, planned_duration=plan_length, profile=session.scenario.load_profile.profile)
    while not session.done.wait(timeout=every):
        pacer = session.pacer
        try:
            if progress is not None:
                snapshot = tracker.snapshot(session.results, started_at=pacer.t0 if pacer else None, status=session.status)
                progress({**snapshot, "requests": session.results.total, "released": pacer.released if pacer else 0, "status": session.status})
            if should_stop is not None and should_stop():
                log.warning("harness: the run was stopped; ending this shard")
                session.finish("interrupted")
        except Exception as exc:  # a progress note must never stop the load
            log.warning("harness: could not report progress: %s", exc)
