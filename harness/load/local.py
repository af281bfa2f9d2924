"""The local stack of a plain Locust run: ``locust -f locustfiles/api.py --scenario ... --local``.

Started when Locust initialises, before the web UI opens, set up as the scenario's ``[local]``
section says and with the scenario's test users created, as ``harness run --local`` does; this
process is pointed at it (``AWS_ENDPOINT_URL``, ``HARNESS_LOCAL_INFO``, ...) until Locust
quits, and then it is stopped. So a newcomer can click Start without an AWS account::

    stop = start_local_stack(scenario)      # moto + API Gateway emulator + test users
    ...                                     # boto3 and "local" targets now reach it
    stop.close()                            # environment restored, processes stopped

It runs inside the one Locust process that runs the users: with ``--processes`` or
master/workers, start a stack that all processes share with ``harness local up`` instead.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.scenario import Scenario

__all__ = ["attach_local_stack", "keep_metrics", "start_local_stack"]

log = logging.getLogger("harness.load")

USER_RATE = 25.0  # admin calls per second while creating test users (as `harness run --local`)


def start_local_stack(scenario: Scenario) -> contextlib.ExitStack:
    """Start a local stack for ``scenario``, point this process at it, create its test users.

    Returns what undoes it all: ``close()`` restores the environment and stops the stack
    (it also runs at interpreter exit, and a second call does nothing)."""
    from harness.auth.users import ensure_test_users
    from harness.local.stack import load_local_info, stack_for

    undo = contextlib.ExitStack()
    try:
        undo.enter_context(stack_for(scenario.local))
        info = load_local_info()
        log.info("harness: local stack up: API %s, moto %s (logs in %s)", info.api_url, info.endpoint_url, info.log_dir)
        if scenario.auth is not None:
            auth = scenario.auth
            ensure_test_users(count=auth.users, prefix=auth.username_prefix, pool=auth.user_pool_id, region=auth.region, rate=USER_RATE,
                              where=" in the local stack")  # fmt: skip
    except BaseException:
        undo.close()
        raise
    atexit.register(undo.close)
    return undo


_STARTED_IN = os.getpid()  # Locust imports the locustfile before it forks the workers of --processes


def _forked_by_master(runner: Any) -> bool:
    """A worker that ``--processes`` forked from a master process (not ``--worker --processes``,
    where the parent only waits)."""
    from locust.runners import WorkerRunner

    asked_worker = "--worker" in sys.argv or os.environ.get("LOCUST_MODE_WORKER", "").lower() in ("1", "true")
    return isinstance(runner, WorkerRunner) and os.getpid() != _STARTED_IN and not asked_worker


def attach_local_stack(environment: Any, scenario: Scenario) -> None:
    """``--local``: start the stack now (Locust is initialising) and stop it when Locust quits.
    A process already given a stack (``harness run --local`` hands its child one through
    ``HARNESS_LOCAL_INFO``) uses that one."""
    from locust.runners import MasterRunner, WorkerRunner

    from harness.target import check_local_target

    if os.environ.get("HARNESS_LOCAL_INFO"):
        log.info("harness: --local: using the local stack this process was given (HARNESS_LOCAL_INFO)")
        return
    if isinstance(environment.runner, (MasterRunner, WorkerRunner)):
        if _forked_by_master(environment.runner):
            sys.exit(UsageError.exit_code)  # the master, in the parent process, says why: once
        raise UsageError(
            "--local runs the local stack inside one Locust process; with --processes or master/workers "
            "start one that every process shares with `harness local up` and leave out --local"
        )
    check_local_target(scenario, source=environment.parsed_options.scenario)
    undo = start_local_stack(scenario)

    def on_quit(**_: Any) -> None:
        try:
            keep_metrics(environment)
        finally:
            undo.close()

    environment.events.quit.add_listener(on_quit)


def keep_metrics(environment: Any) -> None:
    """Before the local stack stops: the run's CloudWatch metrics into ``metrics.csv`` beside
    ``results.json``, since they go with the stack (``harness report`` reads them from there).
    The web UI's report pulls them itself when the run stops."""
    session = getattr(environment, "harness_session", None)
    if environment.web_ui is not None or session is None or not session.results_dir:
        return
    from harness import metrics
    from harness.aws import AwsContext
    from harness.results import ResultSet
    from harness.runs import pull_run_metrics

    run_dir = Path(session.results_dir)
    try:
        results = ResultSet.load(run_dir / "results.json")
        if results.meta.get("status") == "failed":
            return
        frame = pull_run_metrics(results, aws=AwsContext(region=session.target.region))
        if frame is not None:
            log.info("harness: CloudWatch metrics written to %s", metrics.save(frame, run_dir))
    except Exception as exc:  # the results are written; say what is missing
        log.warning("harness: the run's CloudWatch metrics were not saved before the local stack stopped: %s", exc)
