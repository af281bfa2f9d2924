"""What a distributed run is asked to do, validated before anything starts: the ``RunSpec``.

A Step Functions execution of the run state machine takes either a harness scenario (as data,
never a path) with a worker count, or the AWS reference design's own input::

    {"scenario": {...}, "workers": 10, "run_id": "r1"}
    {"users": {"NumberOfUsers": "100", "NumberOfCallsPerUser": "100"}}

The reference input means each of N users makes M calls back to back: the ``calls`` profile
against the stack's default target (``StackDefaults``: the API, pool and client the stack was
deployed for). Its numbers may be strings, as in the reference design, and are held to the
scenario limits (at most 1,000 each unless raised with ``override_limits``)::

    spec = parse_input(event, defaults=StackDefaults.from_env())
    spec.scenario().load_profile.profile      # "calls"
    spec.windows                              # [(0.0, 600.0), ...]: one segment each
"""

from __future__ import annotations

import math
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ScenarioError
from harness.plan import planned_duration
from harness.runs import RUN_ID_RULE, is_run_id, new_run_id
from harness.scenario import LOCAL, Calls, Scenario
from harness.validation import validate

__all__ = [
    "RunSpec", "StackDefaults", "cleanup_target", "fault_segments", "parse_input", "new_run_id", "check_time_budget",
    "check_start_lead", "start_lead_warning", "USERS_PER_WORKER", "MAX_WORKER_RATE", "MAX_VUS_PER_WORKER", "UPLOAD_MARGIN", "COLD_START",
]  # fmt: skip

SOURCE = "execution input"
USERS_PER_WORKER = 25
"""The reference input's default: one worker Lambda per 25 users (each user is one virtual user)."""
MAX_WORKER_RATE = 2500.0
"""Requests per second one worker Lambda (one core at 1,769 MB) paces reliably."""
LAMBDA_FILE_DESCRIPTORS = 1024
"""Lambda's file-descriptor limit per execution environment (Lambda quotas: "File descriptors 1,024")."""
MAX_VUS_PER_WORKER = 900
"""Virtual users one worker may hold: each keeps one connection open (one descriptor), and the
rest of the 1,024 (Python, Locust, boto3's connections, the token refresher) stay free, so that
the generator never blames the API for its own ``EMFILE``."""
UPLOAD_MARGIN = 10.0
"""Seconds a worker keeps before its Lambda timeout to stop its users and save its results."""
COLD_START = 2.0
"""Seconds of ``start_lead`` a worker's cold start (import of the code zip) is allowed."""
DEFAULT_WORKER_TIMEOUT = 900.0
"""The template's WorkerTimeout default (Lambda's maximum, 15 minutes)."""


class StackDefaults(BaseModel):
    """The target the stack was deployed for: what the reference input loads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = None
    user_pool_id: str | None = None
    client_id: str | None = None
    path: str = "/"
    region: str | None = None
    start_lead: float | None = None
    worker_timeout: float = DEFAULT_WORKER_TIMEOUT
    """The worker function's timeout (the stack's WorkerTimeout), seconds: a worker's whole
    time budget must fit in it."""

    @classmethod
    def from_env(cls) -> StackDefaults:
        """In a Lambda of the stack. ``region`` is the pool's (its id names it; the template
        lets the pool be in another region than the stack), else the Lambda's."""
        from harness.target import pool_region

        env = os.environ
        pool = env.get("DEFAULT_USER_POOL_ID") or None
        return cls(
            base_url=env.get("DEFAULT_BASE_URL") or None,
            user_pool_id=pool,
            client_id=env.get("DEFAULT_CLIENT_ID") or None,
            path=env.get("DEFAULT_PATH") or "/",
            region=pool_region(pool) or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            start_lead=float(env["HARNESS_START_LEAD"]) if env.get("HARNESS_START_LEAD") else None,
            worker_timeout=float(env.get("HARNESS_WORKER_TIMEOUT") or DEFAULT_WORKER_TIMEOUT),
        )


class RunSpec(BaseModel):
    """A validated distributed run: the scenario (as plain data), workers and segments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    scenario_data: dict[str, Any]
    workers: int = Field(ge=1)
    windows: list[tuple[float, float]]
    override_limits: bool = False
    reference_input: bool = False

    def scenario(self) -> Scenario:
        return Scenario.from_dict(self.scenario_data, source=SOURCE, override_limits=self.override_limits)

    @property
    def segments(self) -> int:
        return len(self.windows)


def parse_input(data: Any, *, defaults: StackDefaults, run_id: str | None = None) -> RunSpec:
    """Validate an execution input (see the module); one-line ``ScenarioError`` otherwise."""
    if not isinstance(data, dict):
        raise ScenarioError('must be a JSON object with "scenario" or "users"', path=SOURCE)
    unknown = set(data) - {"scenario", "users", "workers", "run_id", "override_limits", "limits", "faults_by_caller"}
    if unknown:
        raise ScenarioError(
            "is not a known field; use scenario, users, workers, run_id, override_limits, limits or faults_by_caller",
            path=SOURCE,
            field=sorted(unknown)[0],
        )
    override, faults_by_caller = data.get("override_limits", False), data.get("faults_by_caller", False)
    for field, flag in (("override_limits", override), ("faults_by_caller", faults_by_caller)):
        if not isinstance(flag, bool):
            raise ScenarioError("must be true or false", path=SOURCE, field=field)
    run_id = data.get("run_id") or run_id or new_run_id()
    if not is_run_id(run_id):
        raise ScenarioError(f"{RUN_ID_RULE}; fix it or leave it out", path=SOURCE, field="run_id")
    if ("scenario" in data) == ("users" in data):
        raise ScenarioError(
            'give either a harness scenario as "scenario" or the reference input {"users": {"NumberOfUsers": "100", "NumberOfCallsPerUser": "100"}}',
            path=SOURCE,
        )
    reference = "users" in data
    scenario_data = _reference_scenario(data, defaults) if reference else data["scenario"]
    if not isinstance(scenario_data, dict):
        raise ScenarioError("must be a scenario as a JSON object (a scenario file's content)", path=SOURCE, field="scenario")
    scenario_data = dict(scenario_data)
    if data.get("workers") is not None:
        workers = _whole(data["workers"], "workers")
        scenario_data["fanout"] = {**scenario_data.get("fanout", {}), "workers": workers}
    scenario = Scenario.from_dict(scenario_data, source=SOURCE, override_limits=override)
    validate(scenario, source=SOURCE, command="load")
    _check_concrete(scenario)
    windows = _windows(scenario)
    if scenario.faults and not faults_by_caller:
        raise ScenarioError(
            "are applied by harness fanout, which follows the run; the state machine alone does not apply them: "
            "start the run with harness fanout, or remove [[faults]]",
            path=SOURCE,
            field="scenario.faults",
        )
    fault_segments(scenario, windows)
    workers = _workers(scenario)
    check_time_budget(scenario, windows, workers=workers, worker_timeout=defaults.worker_timeout)
    scenario_data = scenario.echo()
    if scenario_data.get("auth"):  # each worker signs in at its share of the run's sign-in budget
        scenario_data["auth"]["login_rate"] = worker_login_rate(scenario, workers)
    return RunSpec(
        run_id=run_id,
        scenario_data=scenario_data,
        workers=workers,
        windows=windows,
        override_limits=override,
        reference_input=reference,
    )


def _whole(value: Any, field: str) -> int:
    """A whole number given as a number or, as the reference design does, as a string."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value < 1:
        raise ScenarioError(f'must be a whole number of at least 1, such as "100" (got {value!r})', path=SOURCE, field=field)
    return value


def _reference_scenario(data: dict[str, Any], defaults: StackDefaults) -> dict[str, Any]:
    users_in = data["users"]
    if not isinstance(users_in, dict):
        raise ScenarioError('must be {"NumberOfUsers": "100", "NumberOfCallsPerUser": "100"}', path=SOURCE, field="users")
    unknown = set(users_in) - {"NumberOfUsers", "NumberOfCallsPerUser"}
    if unknown:
        raise ScenarioError("is not a known field; use NumberOfUsers and NumberOfCallsPerUser", path=SOURCE, field=f"users.{sorted(unknown)[0]}")
    for key in ("NumberOfUsers", "NumberOfCallsPerUser"):
        if key not in users_in:
            raise ScenarioError('is required; add it (a number as a string, e.g. "100")', path=SOURCE, field=f"users.{key}")
    users = _whole(users_in["NumberOfUsers"], "users.NumberOfUsers")
    calls = _whole(users_in["NumberOfCallsPerUser"], "users.NumberOfCallsPerUser")
    missing = [
        name for name, value in (("TargetUrl", defaults.base_url), ("UserPoolId", defaults.user_pool_id), ("UserPoolClientId", defaults.client_id)) if not value
    ]
    if missing:
        raise ScenarioError(
            f"the stack was deployed without {', '.join(missing)}: redeploy with them, or start the run with a harness scenario",
            path=SOURCE,
            field="users",
        )
    scenario: dict[str, Any] = {
        "name": "reference-input",
        "description": f"{users} users x {calls} calls each, back to back (the AWS reference design's input)",
        "target": {"base_url": defaults.base_url},
        "auth": {"user_pool_id": defaults.user_pool_id, "client_id": defaults.client_id, "users": users, "region": defaults.region},
        "endpoints": [{"name": "call", "method": "GET", "path": defaults.path}],
        "load": {"profile": "calls", "users": users, "calls_per_user": calls},
        "fanout": {"workers": min(users, math.ceil(users / USERS_PER_WORKER))},
    }
    if defaults.start_lead:
        scenario["fanout"]["start_lead"] = defaults.start_lead
    if data.get("limits") is not None:
        scenario["limits"] = data["limits"]
    return scenario


def fault_segments(scenario: Scenario, windows: list[tuple[float, float]]) -> list[int]:
    """The segment each of the scenario's faults falls in. Each segment starts at its own
    instant (after the previous one ends and the next is planned), so a fault is scheduled
    against its segment's clock and must lie inside one segment."""
    found = []
    for index, fault in enumerate(scenario.faults):
        inside = [i for i, (start, end) in enumerate(windows) if start - 1e-9 <= fault.at and fault.end <= end + 1e-9]
        boundary = next((end for start, end in windows if start <= fault.at < end), None)
        if not inside and boundary is None:
            raise ScenarioError(
                f"starts at {fault.at:g} s, after the planned load ends ({windows[-1][1]:g} s): start it earlier",
                path=SOURCE,
                field=f"scenario.faults[{index}].at",
            )
        if not inside:
            raise ScenarioError(
                f"runs {fault.at:g}-{fault.end:g} s, across the fan-out segment boundary at {boundary:g} s "
                f"(fanout.segment = {scenario.fanout.segment:g} s; segments start apart): "
                "end it before the boundary, start it after, or raise fanout.segment (at most 840 s)",
                path=SOURCE,
                field=f"scenario.faults[{index}].at",
            )
        found.append(inside[0])
    return found


def _check_concrete(scenario: Scenario) -> None:
    """Workers cannot find "the local stack": the caller resolves ``local`` to real values."""
    auth = scenario.auth
    named = [("target.base_url", scenario.target.base_url)]
    if auth is not None:
        named += [("auth.user_pool_id", auth.user_pool_id), ("auth.client_id", auth.client_id)]
    for field, value in named:
        if value == LOCAL:
            raise ScenarioError(
                'is "local": a distributed run needs the real value (harness fanout --local fills it in)',
                path=SOURCE,
                field=f"scenario.{field}",
            )


def _workers(scenario: Scenario) -> int:
    workers = scenario.fanout.workers
    profile = scenario.load_profile
    if isinstance(profile, Calls):
        workers = min(workers, profile.users)  # a worker with no user would have nothing to do
    else:
        per_worker = profile.peak_rate() / workers
        if per_worker > MAX_WORKER_RATE:
            need = math.ceil(profile.peak_rate() / MAX_WORKER_RATE)
            raise ScenarioError(
                f"{workers} workers would each pace {per_worker:,.0f} rps; one worker paces about {MAX_WORKER_RATE:,.0f}: use at least {need}",
                path=SOURCE,
                field="fanout.workers",
            )
    vus = _total_vus(scenario)
    if math.ceil(vus / workers) > MAX_VUS_PER_WORKER:
        need = math.ceil(vus / MAX_VUS_PER_WORKER)
        raise ScenarioError(
            f"{workers} workers would each hold {math.ceil(vus / workers):,} virtual users (one connection each); a worker Lambda "
            f"has {LAMBDA_FILE_DESCRIPTORS:,} file descriptors, so at most {MAX_VUS_PER_WORKER} virtual users: use at least {need} workers",
            path=SOURCE,
            field="fanout.workers",
        )
    return workers


def _total_vus(scenario: Scenario) -> int:
    profile = scenario.load_profile
    return profile.users if isinstance(profile, Calls) else scenario.vus


def worker_login_rate(scenario: Scenario, workers: int) -> float:
    """Sign-ins (and refreshes) per second for one worker: its share of ``fanout.sign_in_budget``,
    which all the workers share, never above the scenario's own ``auth.login_rate``."""
    assert scenario.auth is not None
    return min(scenario.auth.login_rate, scenario.fanout.sign_in_budget / workers)


def minimum_start_lead(scenario: Scenario, workers: int) -> float:
    """The least ``start_lead`` in which every worker is warm and has signed its virtual users
    in: a cold start, then its share of the users at its share of the sign-in budget."""
    if scenario.auth is None:
        return COLD_START
    return COLD_START + _sign_ins_per_worker(scenario, workers) / worker_login_rate(scenario, workers)


def _sign_ins_per_worker(scenario: Scenario, workers: int) -> int:
    """The test users one worker signs in: one per virtual user, at most every user once."""
    assert scenario.auth is not None
    return min(math.ceil(_total_vus(scenario) / workers), scenario.auth.users)


def check_time_budget(scenario: Scenario, windows: list[tuple[float, float]], *, workers: int, worker_timeout: float) -> None:
    """Refuse a run whose workers cannot sign in before the shared start, or whose whole time
    (start_lead + segment + drain + upload margin) does not fit in the worker function's
    timeout: Lambda would end the worker before it saves what it measured."""
    check_start_lead(scenario, workers)
    lead = scenario.fanout.start_lead
    segment = max(end - start for start, end in windows)
    drain = scenario.target.timeout  # requests in flight at the plan's end finish or time out
    budget = lead + segment + drain + UPLOAD_MARGIN
    if budget > worker_timeout:
        room = math.floor(worker_timeout - lead - drain - UPLOAD_MARGIN)
        field = "load.max_duration" if isinstance(scenario.load_profile, Calls) else "fanout.segment"
        raise ScenarioError(
            f"a worker needs start_lead {lead:g} s + segment {segment:g} s + drain {drain:g} s (target.timeout) + "
            f"upload margin {UPLOAD_MARGIN:g} s = {budget:g} s, over the worker function's timeout of {worker_timeout:g} s: "
            + (f"lower {field} to at most {room} s" if room >= 10 else "lower fanout.start_lead or target.timeout")
            + " or redeploy with a longer WorkerTimeout (at most 900)",
            path=SOURCE,
            field=field,
        )


def _start_lead_problem(scenario: Scenario, workers: int) -> str | None:
    """Why ``fanout.start_lead`` is too short for ``workers`` to be warm and signed in by the
    shared start instant (``minimum_start_lead``), or None."""
    lead, need = scenario.fanout.start_lead, minimum_start_lead(scenario, workers)
    if lead >= need:
        return None
    if scenario.auth is None:
        return f"{lead:g} s is too short for a worker's {COLD_START:g} s cold start: set it to at least {math.ceil(need)} s"
    return (
        f"{lead:g} s is too short: each of {workers:,} workers signs in {_sign_ins_per_worker(scenario, workers):,} users at "
        f"{worker_login_rate(scenario, workers):.3g}/s (fanout.sign_in_budget {scenario.fanout.sign_in_budget:g}/s shared by all, "
        f"as Cognito's UserAuthentication quota is per account and Region) after a {COLD_START:g} s cold start: "
        f"set it to at least {math.ceil(need)} s, or raise fanout.sign_in_budget"
    )


def _effective_workers(scenario: Scenario, workers: int | None) -> int:
    count = workers or scenario.fanout.workers
    return min(count, scenario.load_profile.users) if isinstance(scenario.load_profile, Calls) else count


def check_start_lead(scenario: Scenario, workers: int | None = None, *, path: str = SOURCE) -> None:
    """Refuse (``ScenarioError`` on ``fanout.start_lead``) a lead in which the workers cannot be
    warm and signed in: a worker not ready by the start instant starts late and skips what fell
    due (counted as dropped). ``harness fanout`` calls it before anything starts, the state machine
    in ``parse_input``."""
    problem = _start_lead_problem(scenario, _effective_workers(scenario, workers))
    if problem:
        raise ScenarioError(problem, path=path, field="fanout.start_lead")


def start_lead_warning(scenario: Scenario, workers: int | None = None) -> str | None:
    """``check_start_lead``'s refusal as a warning, for ``harness check`` (which runs nothing)."""
    problem = _start_lead_problem(scenario, _effective_workers(scenario, workers))
    return f"fanout.start_lead: {problem} (harness fanout refuses it)" if problem else None


def _windows(scenario: Scenario) -> list[tuple[float, float]]:
    """The plan cut into segments a Lambda can run (``fanout.segment`` each)."""
    length, segment = planned_duration(scenario.load_profile), scenario.fanout.segment
    if isinstance(scenario.load_profile, Calls):
        if length > segment:
            raise ScenarioError(
                f"the calls profile runs in one segment of at most fanout.segment ({segment:g} s); lower load.max_duration",
                path=SOURCE,
                field="load.max_duration",
            )
        return [(0.0, length)]
    count = max(1, math.ceil(length / segment - 1e-9))
    return [(i * segment, min((i + 1) * segment, length)) for i in range(count)]


def cleanup_target(data: Any, *, defaults: StackDefaults) -> tuple[str, str, int | None]:
    """(user pool, username prefix, count) from a cleanup input: the reference design's
    ``{"NumberOfUsers": "100"}`` (the stack's pool, ``loadtestuser``) or
    ``{"user_pool_id": ..., "prefix": ..., "count": ...}``."""
    source = "cleanup input"
    if not isinstance(data, dict):
        raise ScenarioError('must be a JSON object such as {"NumberOfUsers": "100"}', path=source)
    unknown = set(data) - {"NumberOfUsers", "user_pool_id", "prefix", "count"}
    if unknown:
        raise ScenarioError("is not a known field; use NumberOfUsers, or user_pool_id, prefix and count", path=source, field=sorted(unknown)[0])
    count_in = data.get("NumberOfUsers", data.get("count"))
    count = _whole(count_in, "NumberOfUsers" if "NumberOfUsers" in data else "count") if count_in is not None else None
    pool = data.get("user_pool_id") or defaults.user_pool_id
    if not pool:
        raise ScenarioError("no user pool: pass user_pool_id, or deploy the stack with UserPoolId", path=source, field="user_pool_id")
    prefix = data.get("prefix") or "loadtestuser"
    return str(pool), str(prefix), count
