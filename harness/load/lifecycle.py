"""Wires a ``LoadSession`` into Locust's events: arguments, start, readiness, stop, and the
master/worker messages of multi-process runs (see ``harness.load.session``)."""

from __future__ import annotations

import functools
import gc
import logging
import os
import signal
import sys
import time
from typing import Any

import gevent
from locust import events
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from harness.errors import HarnessError, UsageError
from harness.load.local import attach_local_stack  # here, not in _on_init: before Locust forks (--processes)
from harness.load.session import LEAD_IN, LoadSession
from harness.processes import exit_with_parent
from harness.results import ResultSet
from harness.runs import run_folder
from harness.scenario import LENGTH_FIELDS, Scenario
from harness.validation import validate

__all__ = ["register", "wire_local"]

log = logging.getLogger("harness.load")

FLUSH_TIMEOUT = 3.0


def _add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("harness")
    group.add_argument("--scenario", type=str, default="", env_var="HARNESS_SCENARIO", help="Scenario TOML file (scenarios/*.toml)")
    group.add_argument("--results-dir", type=str, default="", env_var="HARNESS_RESULTS_DIR", help="Where results.json goes (default reports/<run-id>)")
    group.add_argument("--run-id", type=str, default="", env_var="HARNESS_RUN_ID", help="Run id: letters, digits, - and _ (default: time and a random suffix)")
    group.add_argument(
        "--overwrite",
        action="store_true",
        default=False,
        env_var="HARNESS_OVERWRITE",
        help="Replace the run already in the results folder (else it is refused)",
    )
    group.add_argument(
        "--override-limits", action="store_true", default=False, env_var="HARNESS_OVERRIDE_LIMITS", help="Allow a scenario to raise its safety limits"
    )
    group.add_argument(
        "--local",
        action="store_true",
        default=False,
        env_var="HARNESS_LOCAL",
        help="Start a local stack (moto + API Gateway emulator) with the scenario's test users; stopped when Locust exits",
    )
    group.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", dest="harness_set", help="Override a scenario field, e.g. --set load.rate=200 (repeatable)"
    )
    group.add_argument(
        "--probe",
        action="store_true",
        default=False,
        env_var="HARNESS_PROBE",
        help="Probe: judge the ramp's steps by the scenario's gates and stop at the first that breaches one (harness probe)",
    )
    group.add_argument(
        "--probe-gate", action="append", default=[], metavar="EXPR", dest="probe_gate", help="With --probe: another gate to judge each step by (repeatable)"
    )
    group.add_argument(
        "--progress-file", type=str, default="", env_var="HARNESS_PROGRESS_FILE", help="Write the run's progress here once a second (harness run reads it)"
    )


def _on_init(environment: Any, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is None or not getattr(opts, "scenario", ""):
        sys.stderr.write("harness: no scenario given; pass --scenario scenarios/smoke.toml (or set HARNESS_SCENARIO)\n")
        sys.exit(2)
    try:
        scenario = Scenario.load(opts.scenario, override_limits=bool(opts.override_limits), overrides=getattr(opts, "harness_set", None) or ())
        validate(scenario, source=str(opts.scenario), command="load")
        if getattr(opts, "run_time", None):
            _refuse_run_time(scenario, opts.run_time)
        if getattr(opts, "local", False):
            attach_local_stack(environment, scenario)
        probe_gates = list(getattr(opts, "probe_gate", None) or []) if getattr(opts, "probe", False) else None
        if probe_gates is not None and not isinstance(environment.runner, LocalRunner):
            raise HarnessError("--probe judges each step as it ends, which needs the results in one process: drop --processes and master/worker mode")
        run_id, results_dir = opts.run_id or None, opts.results_dir or None
        if not isinstance(environment.runner, WorkerRunner):  # the master (or the only process) writes the results
            # Locust's own files (its log, the output harness run captures) may be open already: left alone
            run_id, path = run_folder(run_id=run_id, results_dir=results_dir, overwrite=bool(getattr(opts, "overwrite", False)), locust_files=False)
            results_dir = str(path)
        session = LoadSession(scenario, results_dir=results_dir, run_id=run_id, probe_gates=probe_gates)
    except HarnessError as exc:
        sys.stderr.write(f"harness: {exc}\n")
        sys.exit(exc.exit_code)
    environment.harness_session = session
    if not environment.host:
        for user_class in environment.user_classes:
            user_class.host = session.target.base_url
    for user_class in environment.user_classes:
        user_class.network_timeout = scenario.target.timeout

    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        # Locust installs its SIGTERM handler only after a headless shape run ends, so a
        # SIGTERM (CI cancelling a job) would kill the run without results. Stop gracefully.
        def on_sigterm() -> None:
            log.warning("harness: got SIGTERM, stopping and writing results")
            session.interrupt()
            gevent.spawn(runner.quit)

        gevent.signal_handler(signal.SIGTERM, on_sigterm)
    environment.events.test_start.add_listener(lambda **_: setattr(session, "_harness_saved", False))  # see _save
    if getattr(opts, "progress_file", "") and not isinstance(runner, WorkerRunner):
        environment.events.test_start.add_listener(lambda **_: gevent.spawn(_write_progress, session, opts.progress_file, isinstance(runner, MasterRunner)))
    if isinstance(runner, MasterRunner):
        _wire_master(environment, session, runner)
    elif isinstance(runner, WorkerRunner):
        _wire_worker(environment, session, runner)
    elif isinstance(runner, LocalRunner):
        wire_local(environment, session, runner)
    if environment.web_ui is not None:
        from harness.load.webui import attach_web_ui

        attach_web_ui(environment, session)


def _refuse_run_time(scenario: Scenario, run_time: float) -> None:
    """Locust's ``-t`` would stop the run after the scenario's plan anyway, or cut it short
    unplanned: the scenario's ``[load]`` sets the run's length, so ``-t`` is refused, naming the
    field to set instead."""
    from harness.plan import planned_duration

    profile = scenario.load_profile
    field = LENGTH_FIELDS.get(profile.profile, "cycles")  # a burst profile: its number of cycles
    fix = f"--set load.{field}={run_time:g}s" if field in ("duration", "max_duration") else f"a shorter load.{field} (--set load.{field}=...)"
    raise UsageError(
        f"-t/--run-time {run_time:g}s: the scenario's {profile.profile} profile sets the run's length "
        f"({planned_duration(profile):g} s); leave -t out and pass {fix}"
    )


def _settle_memory() -> None:
    """Before the first release: collect once, then freeze what is alive (Locust, boto3's
    service models, the signed-in users) out of the garbage collector's sight. Otherwise each
    full collection walks all of it mid-run and stalls the process for ~100 ms: at 2,000 rps
    that was a gap, then a catch-up burst and drops."""
    gc.collect()
    gc.freeze()


def _finish_when_drained(session: LoadSession, then: Any = None) -> None:
    assert session.pacer is not None
    session.pacer.finished.wait()
    session.drain(session.scenario.target.timeout)
    session.ended_at = session.ended_at or time.time()  # an interrupted or aborted run ended earlier
    if then is not None:
        then()
    session.finish()


def _watch(session: LoadSession, check: Any, every: float, stopped: Any, broken: str) -> None:
    """Call ``check`` (True: it ended the run) every ``every`` seconds until the run is over;
    when it ends the run, ``stopped()`` says why in the log, the pacer stops and the shape ends
    the test (test_stop saves the results). A check that raises is logged and tried again: it
    must not end the run."""
    while not session.done.wait(timeout=every):
        try:
            if check():
                log.warning("harness: %s", stopped())
                if session.pacer is not None:
                    session.pacer.stop()
        except Exception:  # say so, keep watching
            log.exception("harness: could not %s", broken)


def _watch_abort(session: LoadSession) -> None:
    """The scenario's ``abort_on`` rules, once a second (``session.check_abort``)."""
    if session.abort_rules:
        _watch(session, session.check_abort, 1.0, lambda: f"run aborted: {session.error}", "check abort_on")


def _watch_probe(session: LoadSession) -> None:
    """The probe's steps as they end, four times a second, so the run stops within about
    GRACE + 0.25 s of the knee step's end (``session.check_probe``)."""
    if session.probe is not None:
        _watch(session, session.check_probe, 0.25, lambda: f"probe stopped at the knee: {session.probe.knee}", "judge the probe's step")


def _stop(session: LoadSession) -> None:
    if session.pacer is not None:
        session.pacer.stop()
    session.close_tokens()


def wire_local(environment: Any, session: LoadSession, runner: LocalRunner) -> None:
    """Run ``session`` in one process: start at test start, pace once every virtual user is
    ready (at ``session.start_at`` when set), save at test stop."""

    def on_test_start(**_: Any) -> None:
        session.begin()
        if session.start_at is None:  # alone (a fan-out shard leaves faults to its controller)
            session.prepare_faults()

    def on_spawned(user_count: int, **_: Any) -> None:
        def go() -> None:
            if not session.wait_until_ready(runner.user_count):
                session.fail(f"only {session.vus_ready} of {runner.user_count} virtual users signed in; see the log")
                return
            if session.done.is_set():
                return
            _settle_memory()
            # a fan-out worker starts at the run's shared instant, late or not; alone: now
            start_at = session.start_at
            session.start_pacer(start_at if start_at is not None else time.time() + LEAD_IN, skip_late=start_at is not None)
            session.start_faults(session.started_at or time.time())
            gevent.spawn(_watch_abort, session)
            gevent.spawn(_watch_probe, session)
            _finish_when_drained(session)

        gevent.spawn(go)

    def on_test_stop(**_: Any) -> None:
        session.interrupt()
        _stop(session)
        session.finish()
        _save(session)

    environment.events.test_start.add_listener(on_test_start)
    environment.events.spawning_complete.add_listener(on_spawned)
    environment.events.test_stop.add_listener(on_test_stop)


def _wire_worker(environment: Any, session: LoadSession, runner: WorkerRunner) -> None:
    def on_setup(environment: Any, msg: Any, **_: Any) -> None:
        session.configure_shard(int(msg.data["index"]), int(msg.data["of"]))

    def on_go(environment: Any, msg: Any, **_: Any) -> None:
        session.start_pacer(float(msg.data["t0"]))
        # the worker's last results travel with "done", so the master has all of them
        gevent.spawn(_finish_when_drained, session, lambda: runner.send_message("harness_done", _final_report(session)))

    def on_flush(environment: Any, msg: Any, **_: Any) -> None:
        _stop(session)
        runner.send_message("harness_flushed", _final_report(session))

    def on_test_start(**_: Any) -> None:
        session.begin()

    def on_spawned(user_count: int, **_: Any) -> None:
        def ready() -> None:
            ok = session.wait_until_ready(runner.user_count)
            if ok:
                _settle_memory()
            runner.send_message("harness_ready", {"ok": ok, "error": session.error})

        gevent.spawn(ready)

    def on_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
        taken = session.take_results()
        if taken.windows or taken.pacer or taken.errors:
            data["harness"] = taken.to_dict(summary=False)

    def on_test_stop(**_: Any) -> None:
        _stop(session)

    runner.register_message("harness_setup", on_setup)
    runner.register_message("harness_go", on_go)
    runner.register_message("harness_flush", on_flush)
    environment.events.test_start.add_listener(on_test_start)
    environment.events.spawning_complete.add_listener(on_spawned)
    environment.events.report_to_master.add_listener(on_report)
    environment.events.test_stop.add_listener(on_test_stop)


def _final_report(session: LoadSession) -> dict[str, Any]:
    """A worker's last word: what it measured since its last report, and its pacer's health."""
    return {"results": session.take_results().to_dict(summary=False), "generator": session.pacer.health() if session.pacer else {}}


def _take_final_report(session: LoadSession, msg: Any) -> None:
    session.results.merge(ResultSet.from_dict(msg.data["results"]))
    if msg.data.get("generator"):
        session.worker_health[msg.node_id] = msg.data["generator"]


def _wire_master(environment: Any, session: LoadSession, runner: MasterRunner) -> None:
    def on_test_start(**_: Any) -> None:
        workers = list(runner.clients.ready) + list(runner.clients.spawning) + list(runner.clients.running)
        session.expected_workers = len(workers)
        session.started_at = time.time()
        session.workers_ready.clear()
        session.workers_done.clear()
        session.prepare_faults()
        for index, worker in enumerate(workers):
            runner.send_message("harness_setup", {"index": index, "of": len(workers)}, client_id=worker.id)

    def on_ready(environment: Any, msg: Any, **_: Any) -> None:
        if not msg.data.get("ok"):
            session.fail(msg.data.get("error") or f"worker {msg.node_id} could not get its virtual users ready")
            return
        session.workers_ready.add(msg.node_id)
        if len(session.workers_ready) == session.expected_workers:
            t0 = time.time() + LEAD_IN
            session.started_at = t0
            runner.send_message("harness_go", {"t0": t0})
            session.start_faults(t0)
            gevent.spawn(_watch_abort, session)  # on the merged results the workers report

    def on_done(environment: Any, msg: Any, **_: Any) -> None:
        _take_final_report(session, msg)
        session.workers_done.add(msg.node_id)
        if len(session.workers_done) == session.expected_workers:
            session.ended_at = time.time()
            session.finish()

    def on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
        part = data.get("harness")
        if part:
            session.results.merge(ResultSet.from_dict(part))

    def on_flushed(environment: Any, msg: Any, **_: Any) -> None:
        _take_final_report(session, msg)
        session.workers_done.add(msg.node_id)

    def on_test_stop(**_: Any) -> None:
        session.interrupt()
        if session.status in ("interrupted", "aborted"):
            # interrupted: ask the workers for what they measured since their last report
            runner.send_message("harness_flush")
            deadline = time.time() + FLUSH_TIMEOUT
            while len(session.workers_done) < session.expected_workers and time.time() < deadline:
                gevent.sleep(0.05)
        session.finish()
        _save(session)

    runner.register_message("harness_ready", on_ready)
    runner.register_message("harness_flushed", on_flushed)
    runner.register_message("harness_done", on_done)
    environment.events.test_start.add_listener(on_test_start)
    environment.events.worker_report.add_listener(on_worker_report)
    environment.events.test_stop.add_listener(on_test_stop)


def _save(session: LoadSession) -> None:
    """Write ``results.json`` once per test: Locust may fire test_stop twice for one stop (a
    SIGTERM handler and its own shutdown both quit the runner); test_start resets this."""
    if getattr(session, "_harness_saved", False):
        return
    try:
        path = session.save()
    except OSError as exc:
        log.error("harness: could not write results: %s", exc)
        return
    session._harness_saved = True  # type: ignore[attr-defined]
    if path is not None:
        log.info("harness: results written to %s; build the report with: harness report %s", path, path.parent)


def _write_progress(session: LoadSession, path: str, master: bool) -> None:
    """Once a second until the run is over: a small progress snapshot (``harness.progress``)
    for ``harness run`` to show. A master hears from its workers every 3 s, so its rates
    look 4 s back."""
    from harness.progress import ProgressTracker, write_progress

    profile = session.scenario.load_profile
    tracker = ProgressTracker(
        plan=session.full_plan,
        planned_duration=session.planned_duration,
        profile=profile.profile,
        planned_total=getattr(profile, "total_calls", None),
        lag=4 if master else 1,
    )

    def started() -> float | None:
        if session.pacer is not None:
            return session.pacer.t0
        ready = master and session.expected_workers and len(session.workers_ready) >= session.expected_workers
        return session.started_at if ready else None

    while True:
        over = session.done.is_set()
        try:
            snapshot = tracker.snapshot(session.results, started_at=started(), status=session.status, phase="done" if over else None)
            write_progress(path, snapshot)
        except Exception as exc:  # progress is a nicety: never let it disturb the run
            log.debug("harness: progress not written: %s", exc)
        if over:
            return
        gevent.sleep(1.0)


def register() -> None:
    """Add harness's listeners to Locust's global events (called by the locustfile)."""
    events.init_command_line_parser.add_listener(_add_arguments)
    events.init.add_listener(_on_init)
    os.register_at_fork(before=_note_the_fork, after_in_child=functools.partial(_exit_with_the_master, os.getpid()))


_forked_by: int | None = None  # the process that forked this one, as it noted just before


def _note_the_fork() -> None:
    global _forked_by
    _forked_by = os.getpid()


def _exit_with_the_master(master: int) -> None:
    """In a worker that ``--processes`` forked (Locust imports the locustfile before it forks):
    exit once the master is gone. A master that exits early (a refused ``--local``, a scenario
    with an error) forgets the workers that have not connected yet, and they retried connecting
    for five minutes, holding the terminal's (or a pipe's) output open. The master may already
    be gone when this runs, so the fork's parent is the one it noted, not ``os.getppid()``."""
    if _forked_by == master:  # not a fork of a fork
        exit_with_parent(master, code=1)
