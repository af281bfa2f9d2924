"""The load session: one per Locust process, tying scenario, plan, pacer, tokens and results.

It follows Locust's lifecycle through events, and coordinates Locust's own multi-process mode
(``--processes`` or master/workers) with three custom messages:

    master  --harness_setup {index, of}-->  worker     (before users spawn: which shard)
    worker  --harness_ready-------------->  master     (all its virtual users signed in)
    master  --harness_go {t0}------------>  worker     (one synchronized start instant)
    worker  --harness_done--------------->  master     (its plan is over and drained)

Each worker paces ``1/of`` of the planned rate with a phase offset, so the combined arrivals
interleave smoothly. Results travel with Locust's own stats reports (``report_to_master``):
each report carries the worker's measurements since the last one, and the master merges them
exactly, so the master's ``results.json`` is complete.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import random
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event

from harness.abort import breached, parse_abort_rules
from harness.errors import HarnessError
from harness.gates import format_amount
from harness.load.pacer import IterationPacer, Pacer
from harness.load.request import RequestTemplate
from harness.plan import Plan, build_plan, planned_duration, shard_vus
from harness.probe import GRACE as PROBE_GRACE
from harness.probe import Probe, check_probe
from harness.results import ResultSet, classify
from harness.runs import new_run_id
from harness.scenario import Calls, Scenario
from harness.target import resolve_target

__all__ = ["LoadSession", "merge_health"]

log = logging.getLogger("harness.load")

READY_TIMEOUT = 120.0
LEAD_IN = 0.3  # seconds between "everyone is ready" and the first release


def merge_health(parts: list[dict[str, float]]) -> dict[str, float]:
    """Several load generators' health as one: stalls and skipped iterations add up; the
    longest stall, the worst lag and the latest start are the maxima."""
    if not parts:
        return {}
    merged = {
        "stalls": sum(p.get("stalls", 0) for p in parts),
        "longest_stall_ms": max(p.get("longest_stall_ms", 0.0) for p in parts),
        "max_lag_ms": max(p.get("max_lag_ms", 0.0) for p in parts),
    }
    if any("late_start_ms" in p for p in parts):
        merged["late_start_ms"] = max(p.get("late_start_ms", 0.0) for p in parts)
        merged["skipped"] = sum(p.get("skipped", 0) for p in parts)
    return merged


class LoadSession:
    """Per-process state of a run. Built from the scenario when Locust initialises."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        results_dir: str | None = None,
        run_id: str | None = None,
        seed: int | None = None,
        probe_gates: list[str] | None = None,
    ) -> None:
        self.scenario = scenario
        self.target = resolve_target(scenario)
        self.full_plan: Plan = build_plan(scenario.load_profile)
        self.plan: Plan = self.full_plan
        self.results_dir = results_dir
        self.run_id = run_id or new_run_id()
        self.results = self._new_results()
        self.rng = random.Random(seed)
        self._templates = [RequestTemplate(ep, retry=scenario.retry_for(ep)) for ep in scenario.endpoints]
        self._cumulative = list(itertools.accumulate(ep.weight for ep in scenario.endpoints))
        self.pacer: Pacer | IterationPacer | None = None
        self.tokens: Any = None
        self.shard_index, self.shard_count = 0, 1
        self.pool_size = scenario.vus  # the virtual users this process holds (its shard's share)
        self.start_at: float | None = None  # a fan-out run's shared start instant (epoch seconds)
        self.vus_started = 0
        self.vus_ready = 0
        self.in_flight = 0
        self.done = gevent.event.Event()
        self.workers_ready: set[str] = set()
        self.workers_done: set[str] = set()
        self.worker_health: dict[str, dict[str, float]] = {}
        self.expected_workers = 0
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.status = "running"
        self.error: str | None = None
        self.abort_rules = parse_abort_rules(scenario.abort_on)
        self.aborted: dict[str, Any] | None = None  # the rule that stopped the run, and what it measured
        self.faults: Any = None  # harness.faults.FaultScheduler, in the process that holds the run's clock
        # a probe (probe_gates is not None: the scenario's gates plus these): stops at the knee
        self.probe = Probe(self.full_plan, check_probe(scenario, gates=probe_gates, path="scenario")) if probe_gates is not None else None
        self.stopped_at_knee = False

    @property
    def planned_duration(self) -> float:
        """The plan's length (for the calls profile, the most it may take)."""
        return planned_duration(self.scenario.load_profile)

    # ---- results -----------------------------------------------------------------------------

    def _new_results(self) -> ResultSet:
        return ResultSet(
            run_id=self.run_id,
            endpoints={ep.name: {"method": ep.method, "path": ep.path, "weight": ep.weight, "expect": ep.expect} for ep in self.scenario.endpoints},
        )

    def take_results(self) -> ResultSet:
        """Hand over what was measured since the last call (a worker's report to the master)."""
        taken, self.results = self.results, self._new_results()
        if self.pacer is not None:
            self.pacer.results = self.results
        return taken

    def record(self, template: RequestTemplate, status: int, exception: BaseException | None, start_time: float, response_time: float, retry: int = 0) -> None:
        """Classify and record one request of ours (``status`` 0: no answer, ``exception`` why);
        ``retry`` > 0: a retry attempt, recorded apart from the first attempts."""
        if exception is not None and status == 0:
            outcome = "transport"
            self.results.record_error(template.name, type(exception).__name__ + ": " + str(exception).split("\n")[0])
        else:
            outcome = classify(status, template.expect)
        if retry:
            self.results.record_retry(template.name, outcome, status, start_time=start_time, response_time_ms=response_time)
        else:
            self.results.record(template.name, outcome, status, start_time=start_time, response_time_ms=response_time)

    def record_retried(self, template: RequestTemplate, result: str, *, start_time: float, elapsed_ms: float) -> None:
        """How a request that got a retryable answer ended (``harness.results.RETRY_RESULTS``)."""
        self.results.record_retried(template.name, result, start_time=start_time, elapsed_ms=elapsed_ms)

    def final_results(self) -> ResultSet:
        """The results with run metadata, ready to save."""
        results = self.results
        results.run_id = self.run_id
        results.scenario = self.scenario.echo()
        results.plan = self.full_plan.describe()
        end = self.ended_at or time.time()
        start = self.started_at or end
        if self.probe is not None and self.status in ("completed", "interrupted") and self.pacer is not None and self.pacer.t0 is not None:
            # the steps that ended by the end of the run and were not judged yet (the last one)
            self.probe.judge_due(results, now=end + PROBE_GRACE, started_at=self.pacer.t0)
        from harness.meta import RunMeta

        results.meta = RunMeta.of(
            self.scenario, run_id=self.run_id, target=self.target.as_dict(), started_at=start, ended_at=end,
            planned_duration=self.planned_duration, workers=max(self.shard_count, self.expected_workers, 1), status=self.status,
            error=self.error, token_stats=self.token_stats(), generator=self.generator_health(),
        ).as_dict()  # fmt: skip
        if self.aborted is not None:
            results.meta["abort"] = self.aborted
        if self.faults:
            results.meta["faults"] = self.faults.records()
        if self.probe is not None:
            results.meta["probe"] = self.probe.summary(stopped_at_knee=self.stopped_at_knee)
        from harness.faults.recovery import annotate

        return annotate(results)  # last: it reads the plan, meta.started_at and meta.faults

    def save(self) -> Path | None:
        if not self.results_dir:
            return None
        path = Path(self.results_dir) / "results.json"
        self.final_results().save(path)
        return path

    def generator_health(self) -> dict[str, float]:
        """How well the load generators kept the schedule: this process's pacer and the ones
        the workers reported (stalls add up; the longest stall and worst lag are the maxima)."""
        parts = list(self.worker_health.values())
        if self.pacer is not None:
            parts.append(self.pacer.health())
        return merge_health(parts)

    def token_stats(self) -> dict[str, int]:
        if self.tokens is None:
            return {}
        return {k: int(getattr(self.tokens, k, 0)) for k in ("logins", "refreshes", "login_failures", "throttle_retries")}

    # ---- endpoints ---------------------------------------------------------------------------

    def pick(self) -> RequestTemplate:
        """An endpoint's compiled request, chosen by weight."""
        return self._templates[bisect.bisect_right(self._cumulative, self.rng.random() * self._cumulative[-1])]

    # ---- tokens ------------------------------------------------------------------------------

    def open_tokens(self) -> None:
        """Create the token pool (signing in happens lazily, per virtual user)."""
        auth = self.scenario.auth
        if auth is None or self.tokens is not None:
            return
        from harness.auth.secret import get_password
        from harness.auth.tokens import TokenPool
        from harness.aws import AwsContext

        # resolve_target fills both whenever the scenario has [auth]
        assert self.target.user_pool_id is not None and self.target.client_id is not None
        ctx = AwsContext(region=self.target.region)
        password = get_password(secrets=ctx.client("secretsmanager"), user_pool_id=self.target.user_pool_id)
        self.tokens = TokenPool(
            cognito=ctx.client("cognito-idp"),
            user_pool_id=self.target.user_pool_id,
            client_id=self.target.client_id,
            usernames=auth.usernames,
            password=password,
            flow=auth.flow,
            refresh_margin=auth.refresh_margin,
            login_rate=auth.login_rate,
            region=self.target.region,
        )
        self.tokens.start_refresher()

    def close_tokens(self) -> None:
        if self.tokens is not None:
            self.tokens.close()

    def identity_for(self, vu: int) -> int:
        users = self.scenario.auth.users if self.scenario.auth else 1
        return (self.shard_index + vu * self.shard_count) % users

    # ---- faults ------------------------------------------------------------------------------

    def prepare_faults(self) -> None:
        """Build and check the scenario's faults (in the one process that holds the run's
        clock: alone, or Locust's master); a fault that cannot be applied fails the run."""
        if self.faults is not None and self.faults.t0 is not None:
            self.faults = None  # a new test in the same process (the web UI's Start again): schedule afresh
        if not self.scenario.faults or self.faults is not None or self.done.is_set():
            return
        from harness.aws import AwsContext
        from harness.faults.scheduler import check_faults

        try:
            # a fault that cannot start fails the run: without it the run measures something else
            self.faults = check_faults(self.scenario, target=self.target, aws=AwsContext(region=self.target.region), run_id=self.run_id, on_error=self.fail)
        except HarnessError as exc:
            self.fail(str(exc))

    def start_faults(self, t0: float) -> None:
        if self.faults and not self.done.is_set():
            self.faults.start(t0)

    def end_faults(self, reason: str | None = None) -> None:
        """End every fault now (idempotent); ``reason`` defaults to how the run ended."""
        if self.faults:
            problems = self.faults.end_all(reason or ("completed" if self.status == "running" else self.status))
            for problem in problems:
                log.error("harness: fault %s", problem)

    # ---- lifecycle ---------------------------------------------------------------------------

    def configure_shard(self, index: int, count: int, *, window: tuple[float, float] | None = None) -> None:
        """Run shard ``index`` of ``count`` (1/count of the rate, phase-offset; for the calls
        profile, users index, index + count, ...), optionally only the plan's ``window``
        (start, end seconds): one segment of a long fan-out run."""
        self.shard_index, self.shard_count = index, count
        self.plan = self.full_plan.shard(index, count)
        if window is not None:
            self.plan = self.plan.between(*window)
        self.pool_size = shard_vus(self.scenario.load_profile, self.scenario.vus, index, count)

    def begin(self) -> None:
        """Called at test start on every process that runs users."""
        self.started_at = self.started_at or time.time()
        profile = self.scenario.load_profile
        if isinstance(profile, Calls):
            self.pacer = IterationPacer(calls_per_user=profile.calls_per_user, users=self.pool_size, results=self.results, max_duration=profile.max_duration)
        else:
            self.pacer = Pacer(self.plan, self.results)
        try:
            self.open_tokens()
        except HarnessError as exc:
            self.fail(str(exc))
        except Exception as exc:  # a bug or an unexpected AWS answer: fail the run visibly
            log.exception("harness: could not prepare the token pool")
            self.fail(f"could not prepare the token pool: {type(exc).__name__}: {exc}")

    def start_pacer(self, t0: float, *, skip_late: bool = False) -> None:
        assert self.pacer is not None
        self.started_at = t0
        self.pacer.start(t0, skip_late=skip_late)

    def wait_until_ready(self, expected_vus: int) -> bool:
        """Block until every local virtual user has signed in (bounded)."""
        deadline = time.time() + READY_TIMEOUT
        while self.vus_ready < expected_vus and time.time() < deadline and not self.done.is_set():
            gevent.sleep(0.05)
        return self.vus_ready >= expected_vus

    def drain(self, timeout: float) -> None:
        """After the plan: wait for requests in flight (bounded by the request timeout)."""
        deadline = time.time() + timeout
        while self.in_flight > 0 and time.time() < deadline:
            gevent.sleep(0.05)

    def fail(self, message: str) -> None:
        self.status = "failed"
        self.error = message
        self.done.set()
        self.end_faults("failed")

    def check_abort(self, now: float | None = None) -> bool:
        """Stop the run (status ``aborted``) if one of the scenario's ``abort_on`` rules holds
        over its last window of whole seconds; True when it did."""
        if not self.abort_rules or self.started_at is None or self.done.is_set() or self.status != "running":
            return False
        now = time.time() if now is None else now
        hit = breached(self.abort_rules, self.results, now=now, started_at=self.started_at)
        if hit is None:
            return False
        rule, value = hit
        shown = format_amount(value, rule.gate.unit)
        self.aborted = {"rule": rule.text, "value": value, "unit": rule.gate.unit, "at": now, "elapsed": round(now - self.started_at, 3)}
        self.status = "aborted"
        self.error = f"abort_on {rule.text!r} held {now - self.started_at:,.0f} s into the run ({rule.gate.name} was {shown} over the last {rule.window:g} s)"
        self.ended_at = now
        self.done.set()
        self.end_faults("aborted")
        return True

    def check_probe(self, now: float | None = None) -> bool:
        """Judge the probe's steps that have ended; at the first that breaches a gate (the knee)
        the run is over: status ``completed``, ``meta.probe.stopped_at_knee``. True when it stopped."""
        if self.probe is None or self.pacer is None or self.pacer.t0 is None or self.done.is_set() or self.status != "running":
            return False
        now = time.time() if now is None else now
        knee = self.probe.judge_due(self.results, now=now, started_at=self.pacer.t0)
        if knee is None:
            return False
        self.stopped_at_knee = True
        self.status = "completed"  # the probe did what it was asked: its verdict is the knee
        self.ended_at = now
        self.done.set()
        return True

    def interrupt(self) -> None:
        """Mark the run as interrupted unless it already ended."""
        if not self.done.is_set() and self.status == "running":
            self.status = "interrupted"
            self.ended_at = time.time()
            self.end_faults("interrupted")

    def finish(self, status: str = "completed") -> None:
        if self.status == "running":
            self.status = status
        self.ended_at = self.ended_at or time.time()
        self.done.set()
        self.end_faults()
