"""Scenarios: what to run, as validated plain data.

A scenario is a TOML file with a target, the Cognito auth, weighted endpoints and an open-model
load profile measured in requests per second::

    scenario = Scenario.load("scenarios/steady.toml")
    scenario.load_profile.profile   # "steady"

Bad files raise ``ScenarioError`` with one line naming the file, the field and the fix.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
import urllib.parse
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, Sequence, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from harness.errors import LimitExceeded, ScenarioError

__all__ = [
    "Scenario",
    "Target",
    "Auth",
    "Endpoint",
    "Retry",
    "Steady",
    "Ramp",
    "Burst",
    "Spike",
    "Calls",
    "LoadProfile",
    "FanoutSettings",
    "RecoverySettings",
    "Limits",
    "LocalSettings",
    "FaultSpec",
    "LOCAL_FAULT_KINDS",
    "DEFAULT_LIMITS",
    "parse_duration",
    "apply_overrides",
    "LOCAL",
    "LENGTH_FIELDS",
]

LOCAL = "local"
"""The target, pool or client named ``local`` means the local stack's."""

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"1m30s"``, ``"250ms"`` or ``"2h"``.

    >>> parse_duration("1m30s")
    90.0
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '30s', '5m', '250ms'")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a duration; write a finite number of seconds or a string like '30s'")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        pos, total = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if text and pos == len(text):
            return total
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise ValueError(f"{value!r} is not a duration; write seconds or a string like '30s', '5m', '250ms'")


#: the ``[load]`` field that sets how long each profile runs
LENGTH_FIELDS = {"steady": "duration", "spike": "duration", "ramp": "step_duration", "calls": "max_duration"}

Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


def _not_bool(value: Any) -> Any:
    # pydantic's lax mode reads ``rate = true`` as 1.0; a scenario never means that
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


Float = Annotated[float, BeforeValidator(_not_bool)]
Int = Annotated[int, BeforeValidator(_not_bool)]
Rate = Annotated[float, BeforeValidator(_not_bool), Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Target(_Model):
    """Where requests go. ``base_url = "local"`` means the local stack's API Gateway emulator.

    ``api_id``/``api_name``/``stage``/``api_kind`` name the API for CloudWatch metrics.
    ``fault_expiry_role``: the IAM role (ARN) EventBridge Scheduler assumes to put an AWS fault
    (``stage_throttle``, ``lambda_concurrency``, ``fis``) back if harness cannot (the fan-out
    stack's ``FaultExpiryRoleArn`` output); required by those kinds, the local stack supplies one.
    """

    base_url: str
    api_kind: Literal["http", "rest"] = "http"
    api_id: str | None = None
    api_name: str | None = None
    stage: str | None = None
    timeout: PositiveDuration = 30.0
    lambda_functions: list[str] = Field(default_factory=list)
    fault_expiry_role: str | None = Field(default=None, min_length=1)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value == LOCAL:
            return value
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s):// URL or \"local\" for the local stack")
        return value.rstrip("/")


class Auth(_Model):
    """Cognito user pool auth: N test users ``{username_prefix}0..N-1`` each holding one token."""

    user_pool_id: str = LOCAL
    client_id: str = LOCAL
    region: str | None = None
    users: Int = Field(default=10, ge=1)
    username_prefix: str = Field(default="loadtestuser", pattern=r"^[A-Za-z][A-Za-z0-9_.@-]*$")
    flow: Literal["srp", "admin"] = "admin"
    refresh_margin: Duration = Field(default=300.0, ge=0)
    login_rate: Float = Field(default=20.0, gt=0)

    def username(self, i: int) -> str:
        """Test user ``i``'s name (``loadtestuser7``), as ``harness users create`` made it."""
        return f"{self.username_prefix}{i}"

    @property
    def usernames(self) -> list[str]:
        return [self.username(i) for i in range(self.users)]


MAX_RETRY_ATTEMPTS = 10
TRANSPORT = 0
"""``"transport"`` in ``retry.on``: no response at all (refused, reset, timed out), status 0."""


class _Random(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


def _retry_statuses(value: Any) -> Any:
    # "transport" is easier to read than 0; both mean "no response"
    if isinstance(value, list):
        return [TRANSPORT if item == "transport" else item for item in value]
    return value


class Retry(_Model):
    """Client retries of one endpoint: exponential backoff with full jitter (AWS's), at most
    ``max_attempts`` attempts in all (the first one included), on the statuses in ``on``
    (``"transport"`` or 0: no response at all). Retry ``n`` (the attempt ``n + 1``) first sleeps
    ``uniform(0, min(cap, base * 2 ** (n - 1)))`` seconds::

        retry = Retry(on=[429, 503], max_attempts=3, base=0.1, cap=2.0)
        retry.ceiling(1), retry.ceiling(2)   # 0.1, 0.2: the longest sleep before retry 1 and 2
        retry.backoff(2, random.Random(1))   # a draw in [0, 0.2]
    """

    on: Annotated[list[Int], BeforeValidator(_retry_statuses)]
    max_attempts: Int = 3
    base: PositiveDuration = 0.1
    cap: PositiveDuration = 2.0

    @field_validator("on")
    @classmethod
    def _on(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("lists no status; list the statuses to retry, e.g. on = [429, 503]")
        for status in value:
            if status == 401:
                raise ValueError(
                    "401 is never retried here: a 401 already refreshes the user's token and sends once more; remove 401 from retry.on"
                )
            if status != TRANSPORT and not 400 <= status <= 599:
                raise ValueError(f"{status} is not a 4xx or 5xx status; retry only errors, e.g. on = [429, 503] (\"transport\": no response)")
        return sorted(set(value))

    @field_validator("max_attempts")
    @classmethod
    def _attempts(cls, value: int) -> int:
        if value < 2:
            raise ValueError("must be at least 2 (the first attempt counts); for one attempt use no retry: retry = false, or leave retry out")
        if value > MAX_RETRY_ATTEMPTS:
            raise ValueError(f"is {value}, over {MAX_RETRY_ATTEMPTS}: retries that many multiply the load; set max_attempts <= {MAX_RETRY_ATTEMPTS}")
        return value

    @field_validator("cap")
    @classmethod
    def _cap(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("base")
        if base is not None and value < base:
            raise ValueError(f"is below base ({base:g} s); set cap >= base")
        if value > 60:
            raise ValueError(f"is {value:g} s; a backoff longer than a minute holds a virtual user for nothing; set cap <= 60s")
        return value

    def ceiling(self, retry: int) -> float:
        """The longest sleep before retry ``retry`` (1: before the second attempt)."""
        return min(self.cap, self.base * 2.0 ** min(retry - 1, 64))

    def backoff(self, retry: int, rng: _Random) -> float:
        """Full jitter: a uniform draw in [0, ``ceiling(retry)``] seconds."""
        return rng.uniform(0.0, self.ceiling(retry))

    def describe(self) -> str:
        """``on 429, 503 · 3 attempts · 100 ms..2 s``"""
        statuses = ", ".join("transport" if s == TRANSPORT else str(s) for s in self.on)
        return f"on {statuses} · {self.max_attempts} attempts · backoff {_short(self.base)}..{_short(self.cap)}"


def _short(seconds: float) -> str:
    return f"{seconds * 1000:g} ms" if seconds < 1 else f"{seconds:g} s"


def _retry_setting(value: Any) -> Any:
    if value is True:
        raise ValueError("true is not a retry policy; write a table like { on = [429, 503], max_attempts = 3 }, or false for none")
    if value is not None and value is not False and not isinstance(value, (dict, Retry)):
        raise ValueError("write a table like { on = [429, 503], max_attempts = 3, base = \"100ms\", cap = \"2s\" }, or false for none")
    return value


RetrySetting = Annotated[
    Union[Annotated[Retry, Tag("policy")], Annotated[Literal[False], Tag("off")]],
    Discriminator(lambda v: "off" if v is False else "policy"),
    BeforeValidator(_retry_setting),
]
"""A retry policy, or ``false`` for none."""



_PLACEHOLDER = re.compile(r"\{(\w+)\}")
PLACEHOLDERS = frozenset({"user", "vu", "id", "seq", "uuid"})
_URI_SAFE = "/?#[]@!$&'()*+,;=:%-._~{}"
"""What a request path may hold as written (RFC 3986's unreserved and reserved characters, ``%``,
and the placeholders' braces); anything else (a space, a non-ASCII letter) is percent-encoded."""


class Endpoint(_Model):
    """One weighted request. ``path`` may hold ``{user}`` (the virtual user's username),
    ``{vu}`` (its number), ``{id}`` (a random id 1..``id_max``), ``{seq}`` (a counter)
    and ``{uuid}``; ``body`` is sent as JSON and may use the same placeholders in strings."""

    name: str = Field(min_length=1)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    path: str
    body: dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    weight: Int = Field(default=1, ge=1)
    expect: list[int] = Field(default_factory=lambda: [200])
    id_max: Int = Field(default=1000, ge=1)
    retry: RetrySetting | None = None  # None: the scenario's retry; false: none for this endpoint

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/' (it is joined to target.base_url)")
        bad = next((ch for ch in value if not (ch.isascii() and (ch.isalnum() or ch in _URI_SAFE))), None)
        if bad is not None:  # the HTTP client would refuse every request: refused here, before any load
            encoded = urllib.parse.quote(value, safe=_URI_SAFE)
            raise ValueError(f"is not a valid URI path: {bad!r} must be percent-encoded; write {encoded!r}")
        unknown = set(_PLACEHOLDER.findall(value)) - PLACEHOLDERS
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{sorted(unknown)[0]}}}; use one of "
                + ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
            )
        return value

    @field_validator("expect")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        if not value or any(not 100 <= s <= 599 for s in value):
            raise ValueError("must list HTTP status codes between 100 and 599, e.g. [200, 201]")
        return value


class _Profile(_Model):
    vus: Int | None = Field(default=None, ge=1)
    """Virtual users in the pool (k6's preAllocatedVUs). Default: enough for the peak rate."""

    def peak_rate(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def total_duration(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def rate_fields(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in type(self).model_fields if name.endswith("_rate") or name == "rate"}


class Steady(_Profile):
    """A sustained rate for a duration."""

    profile: Literal["steady"]
    rate: Rate = Field(gt=0)
    duration: PositiveDuration

    def peak_rate(self) -> float:
        return self.rate

    def total_duration(self) -> float:
        return self.duration


class Ramp(_Profile):
    """Steps from ``from_rate`` to ``to_rate`` by ``step``, each held ``step_duration``."""

    profile: Literal["ramp"]
    from_rate: Rate
    to_rate: Rate
    step: Float = Field(gt=0)
    step_duration: PositiveDuration

    @field_validator("to_rate")
    @classmethod
    def _direction(cls, value: float, info: ValidationInfo) -> float:
        # a field validator (not a model validator) so that the error names load.to_rate
        if info.data.get("from_rate") == value:
            raise ValueError("equals from_rate; use profile = \"steady\" for a constant rate")
        return value

    def steps(self) -> list[float]:
        sign = 1 if self.to_rate > self.from_rate else -1
        rates, rate = [], self.from_rate
        while (rate - self.to_rate) * sign < 1e-9:
            rates.append(round(rate, 9))
            rate += sign * self.step
        if abs(rates[-1] - self.to_rate) > 1e-9:
            rates.append(self.to_rate)
        return rates

    def peak_rate(self) -> float:
        return max(self.from_rate, self.to_rate)

    def total_duration(self) -> float:
        return len(self.steps()) * self.step_duration


class Burst(_Profile):
    """Bursts at ``burst_rate`` with no ramp-up, separated by random idle intervals at
    ``base_rate`` drawn uniformly from [``idle_min``, ``idle_max``] with ``seed``.
    The run starts idle and ends with a last idle interval to show recovery."""

    profile: Literal["burst"]
    base_rate: Rate = 0.0
    burst_rate: Rate = Field(gt=0)
    burst_length: PositiveDuration
    idle_min: PositiveDuration
    idle_max: PositiveDuration
    cycles: Int = Field(default=3, ge=1)
    seed: Int = 0

    @field_validator("burst_rate")
    @classmethod
    def _above_base(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("base_rate")
        if base is not None and value <= base:
            raise ValueError(f"must be above base_rate ({base:g}); raise burst_rate or lower base_rate")
        return value

    @field_validator("idle_max")
    @classmethod
    def _idle(cls, value: float, info: ValidationInfo) -> float:
        idle_min = info.data.get("idle_min")
        if idle_min is not None and value < idle_min:
            raise ValueError(f"is below idle_min ({idle_min:g} s); set idle_max >= idle_min")
        return value

    def peak_rate(self) -> float:
        return self.burst_rate

    def total_duration(self) -> float:
        # The exact total depends on the seed; the plan computes it. This bound is for limits.
        return (self.cycles + 1) * self.idle_max + self.cycles * self.burst_length


class Spike(_Profile):
    """``base_rate`` for ``duration``, jumping to ``spike_rate`` at ``at`` for ``spike_duration``."""

    profile: Literal["spike"]
    base_rate: Rate
    spike_rate: Rate = Field(gt=0)
    at: Duration = Field(ge=0)
    spike_duration: PositiveDuration
    duration: PositiveDuration

    @field_validator("duration")
    @classmethod
    def _inside(cls, value: float, info: ValidationInfo) -> float:
        at, length = info.data.get("at"), info.data.get("spike_duration")
        if at is not None and length is not None and at + length > value:
            raise ValueError(
                f"is shorter than the spike's end (at + spike_duration = {at + length:g} s); "
                "lengthen duration or move the spike earlier"
            )
        return value

    def peak_rate(self) -> float:
        return max(self.base_rate, self.spike_rate)

    def total_duration(self) -> float:
        return self.duration


class Calls(_Profile):
    """A closed model, like k6's per-vu-iterations: ``users`` virtual users each make
    ``calls_per_user`` calls back to back (the AWS reference design's NumberOfUsers x
    NumberOfCallsPerUser). Virtual user ``i`` signs in as test user ``i``. The run ends when
    every user is done, or at ``max_duration`` (calls not made by then are counted as dropped)."""

    profile: Literal["calls"]
    users: Int = Field(ge=1)
    calls_per_user: Int = Field(ge=1)
    max_duration: PositiveDuration = 600.0

    def peak_rate(self) -> float:
        return 0.0  # no planned rate: each user calls again as soon as its last call returns

    def total_duration(self) -> float:
        return self.max_duration

    @property
    def total_calls(self) -> int:
        return self.users * self.calls_per_user


LoadProfile = Annotated[Union[Steady, Ramp, Burst, Spike, Calls], Field(discriminator="profile")]
_PROFILES: dict[str, type[_Profile]] = {"steady": Steady, "ramp": Ramp, "burst": Burst, "spike": Spike, "calls": Calls}


class LocalSettings(_Model):
    """How the local stack's API Gateway emulator behaves for this scenario (ignored on AWS):
    stage throttling (token bucket) and the mock backend's latency and errors.

    ``integration = "lambda"`` sends every route to a Lambda function deployed into the local
    stack (``harness-local-backend``) instead of the mock backend, so Lambda's concurrency can be
    the bottleneck: ``lambda_reserved_concurrency`` (none by default: the account's 1,000),
    ``lambda_latency_ms`` (the function sleeps that long per invocation) and ``lambda_timeout``
    (the function's timeout, seconds). Its AWS/Lambda metrics are pulled into the report.
    """

    throttle_rate: float | None = Field(default=None, gt=0)
    throttle_burst: int | None = Field(default=None, ge=1)
    latency_ms: float = Field(default=2.0, ge=0)
    latency_sigma: float = Field(default=0.3, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    integration: Literal["mock", "lambda"] = "mock"
    lambda_reserved_concurrency: Int | None = Field(default=None, ge=0)
    lambda_latency_ms: Float | None = Field(default=None, ge=0)
    lambda_timeout: Int | None = Field(default=None, ge=1, le=900)

    @model_validator(mode="after")
    def _pair(self) -> "LocalSettings":
        if (self.throttle_rate is None) != (self.throttle_burst is None):
            raise ValueError("set both throttle_rate and throttle_burst, or neither")
        lambda_fields = [name for name in ("lambda_reserved_concurrency", "lambda_latency_ms", "lambda_timeout")
                         if getattr(self, name) is not None]
        if lambda_fields and self.integration != "lambda":
            raise ValueError(f"{', '.join(lambda_fields)} need integration = \"lambda\"")
        if self.lambda_latency_ms and self.lambda_latency_ms >= (self.lambda_timeout or 10) * 1000:
            raise ValueError(f"lambda_latency_ms {self.lambda_latency_ms:g} must be below lambda_timeout "
                             f"({self.lambda_timeout or 10} s), or every invocation times out")
        return self


class Limits(_Model):
    """Safety limits. A scenario may lower them freely; raising one above the built-in
    default needs ``--override-limits`` (or ``HARNESS_OVERRIDE_LIMITS=1``)."""

    max_rate: Float = Field(default=2000.0, gt=0)
    max_duration: Duration = Field(default=3600.0, gt=0)
    max_users: Int = Field(default=1000, ge=1)
    max_vus: Int = Field(default=2000, ge=1)
    max_calls_per_user: Int = Field(default=1000, ge=1)
    max_workers: Int = Field(default=1000, ge=1)


class FanoutSettings(_Model):
    """How ``harness fanout`` spreads the scenario over worker Lambdas (ignored by ``harness run``).

    ``workers`` shares the plan: each worker paces ``1/workers`` of the rate with a phase
    offset. All start at one instant ``start_lead`` after planning (time for cold starts and
    sign-in). Runs longer than ``segment`` run as consecutive segments (a Lambda runs 15 min
    at most). ``tolerated_failure_percentage`` of the shards may fail without failing the map.
    ``sign_in_budget``: sign-ins and refreshes per second for all workers together (each gets
    its share): Cognito's UserAuthentication quota (120 per second by default) is per account
    and Region, shared with the application's own users. ``stack_name``: at most 53 characters,
    so that the function names (``<stack>-aggregator``) stay within Lambda's 64.
    ``heartbeat_timeout``: in a run with ``[[faults]]``, the workers stop when the ``harness
    fanout`` process that applies them has not written its heartbeat for this long (it writes
    ``runs/<run-id>/heartbeat.json`` every 5 s), so that a run whose faults nobody ends or
    measures any more does not go on loading the target."""

    workers: Int = Field(default=1, ge=1)
    tolerated_failure_percentage: Float = Field(default=0.0, ge=0, le=100)
    start_lead: PositiveDuration = 20.0
    segment: Duration = Field(default=600.0, ge=10, le=840)
    sign_in_budget: Float = Field(default=100.0, gt=0)
    stack_name: str = Field(default="harness-fanout", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,52}$")
    heartbeat_timeout: Duration = Field(default=60.0, ge=15)  # 3 heartbeats (harness.fanout.heartbeat.HEARTBEAT_EVERY) at least


DEFAULT_LIMITS = Limits()


def _share(value: Any) -> Any:
    """A share from ``0.3`` or ``"30%"``."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            percent = float(value.strip()[:-1])
        except ValueError:
            raise ValueError(f"{value!r} is not a share; write 0.3 or \"30%\"") from None
        if not 0 <= percent <= 100:  # said in the unit it was written in, not as a fraction
            raise ValueError("must be between 0% and 100%")
        return percent / 100.0
    return _not_bool(value)


Share = Annotated[float, BeforeValidator(_share), Field(ge=0, le=1)]


class _FaultBase(_Model):
    """What every fault has: when it starts (``at``, from the first planned request) and for
    how long. ``name`` labels it in results and reports (default: ``"<kind> at <at>s"``)."""

    name: str | None = Field(default=None, min_length=1)
    at: Duration = Field(ge=0)
    duration: PositiveDuration

    @property
    def label(self) -> str:
        return self.name or f"{self.kind} at {self.at:g}s"  # type: ignore[attr-defined]

    @property
    def end(self) -> float:
        return self.at + self.duration

    def params(self) -> dict[str, Any]:
        """The kind's own parameters, for results files and the plan."""
        return self.model_dump(mode="json", exclude={"name", "at", "duration", "kind"}, exclude_none=True)


class LatencyFault(_FaultBase):
    """Local: the emulator adds ``latency`` to every answer (of ``route`` only, when given)."""

    kind: Literal["latency"]
    latency: PositiveDuration
    route: str | None = None


class ErrorsFault(_FaultBase):
    """Local: a ``share`` of requests (of ``route``) are answered ``status``."""

    kind: Literal["errors"]
    share: Share = 1.0
    status: Int = Field(default=500, ge=400, le=599)
    route: str | None = None


class OutageFault(_FaultBase):
    """Local: every request (of ``route``) is answered ``status`` (``mode = "status"``) or its
    connection is closed without an answer (``mode = "drop"``)."""

    kind: Literal["outage"]
    mode: Literal["status", "drop"] = "status"
    status: Int = Field(default=503, ge=400, le=599)
    route: str | None = None


class ThrottleFault(_FaultBase):
    """Local: the stage's (or ``route``'s) token bucket is lowered to ``rate`` and ``burst``."""

    kind: Literal["throttle"]
    rate: Float = Field(gt=0)
    burst: Int = Field(ge=1)
    route: str | None = None


class CognitoThrottleFault(_FaultBase):
    """Local: Cognito answers sign-in and refresh calls with TooManyRequestsException."""

    kind: Literal["cognito_throttle"]


class LambdaConcurrencyFault(_FaultBase):
    """Local and AWS: ``function``'s reserved concurrency is set to ``reserved`` (PutFunctionConcurrency),
    then put back as it was. ``function`` defaults to the only one in ``target.lambda_functions``
    (locally: the local stack's backend function)."""

    kind: Literal["lambda_concurrency"]
    reserved: Int = Field(ge=0)
    function: str | None = Field(default=None, min_length=1)


class FisFault(_FaultBase):
    """AWS: starts an AWS FIS experiment from ``template`` (an experiment template id, ``EXT...``)
    and stops it at the end of the window."""

    kind: Literal["fis"]
    template: str = Field(min_length=1)


class StageThrottleFault(_FaultBase):
    """AWS: lowers an API Gateway stage's default throttling to ``rate`` and ``burst``
    (UpdateStage), then puts back exactly what was there. ``api_id`` and ``stage`` default to
    the target's (an ``execute-api`` URL names both)."""

    kind: Literal["stage_throttle"]
    rate: Float = Field(gt=0)
    burst: Int = Field(ge=0)
    api_id: str | None = Field(default=None, min_length=1)
    stage: str | None = Field(default=None, min_length=1)


FaultSpec = Annotated[
    Union[LatencyFault, ErrorsFault, OutageFault, ThrottleFault, CognitoThrottleFault, LambdaConcurrencyFault, FisFault, StageThrottleFault],
    Field(discriminator="kind"),
]
_FAULT_KINDS: dict[str, type[_FaultBase]] = {
    "latency": LatencyFault,
    "errors": ErrorsFault,
    "outage": OutageFault,
    "throttle": ThrottleFault,
    "cognito_throttle": CognitoThrottleFault,
    "lambda_concurrency": LambdaConcurrencyFault,
    "fis": FisFault,
    "stage_throttle": StageThrottleFault,
}
LOCAL_FAULT_KINDS = frozenset({"latency", "errors", "outage", "throttle", "cognito_throttle"})
"""Kinds applied through the local stack (the emulator's admin API, moto): local targets only."""


def _percent(value: Any) -> float:
    """A share written with %: ``"50%"``; 0 may go without (a bare 50 could mean 50 % or 5000 %)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            number = float(value.strip()[:-1])
        except ValueError:
            number = math.nan
        if math.isfinite(number) and number >= 0:
            return number
    elif not isinstance(value, bool) and isinstance(value, (int, float)) and value == 0:
        return 0.0
    raise ValueError(f"{value!r} is not a percentage; write it with %, like \"50%\"")


Percent = Annotated[float, BeforeValidator(_percent)]


class RecoverySettings(_Model):
    """How recovery time is judged (``harness.faults.recovery``): a second is back to normal when
    its p95 is within ``tolerance`` of the baseline's (+5 ms) and its error rate within
    ``error_tolerance`` (percentage points), held for ``hold``; the baseline is the ``baseline``
    seconds before the event. ``min_requests``: fewer in a second, and it is judged merged with
    the next ones."""

    tolerance: Percent = 50.0
    error_tolerance: Percent = 1.0
    hold: Duration = Field(default=3.0, ge=1, le=600)
    baseline: Duration = Field(default=10.0, ge=3, le=3600)
    min_requests: Int = Field(default=5, ge=1)

    @field_serializer("tolerance", "error_tolerance")
    def _as_percent(self, value: float) -> str:
        return f"{value:g}%"


class Scenario(_Model):
    """A whole scenario file. Load with ``Scenario.load(path)``."""

    name: str = Field(min_length=1)
    description: str = ""
    target: Target
    auth: Auth | None = None
    endpoints: list[Endpoint] = Field(min_length=1)
    load_profile: LoadProfile = Field(alias="load")
    limits: Limits = Field(default_factory=Limits)
    gates: list[str] = Field(default_factory=list)
    abort_on: list[str] = Field(default_factory=list)  # conditions that stop the run at once (harness.abort)
    faults: list[FaultSpec] = Field(default_factory=list)  # scheduled during the run (harness.faults)
    retry: RetrySetting | None = None  # every endpoint's, unless the endpoint sets its own
    local: LocalSettings = Field(default_factory=LocalSettings)
    fanout: FanoutSettings = Field(default_factory=FanoutSettings)
    recovery: RecoverySettings = Field(default_factory=RecoverySettings)

    @field_validator("endpoints")
    @classmethod
    def _unique(cls, value: list[Endpoint]) -> list[Endpoint]:
        seen: set[str] = set()
        for endpoint in value:
            if endpoint.name in seen:
                raise ValueError(f"two endpoints are named {endpoint.name!r}; give each a unique name")
            seen.add(endpoint.name)
        return value

    @field_validator("abort_on")
    @classmethod
    def _abort_rules(cls, value: list[str]) -> list[str]:
        from harness.abort import AbortRule

        for i, text in enumerate(value):
            try:
                AbortRule.parse(text)
            except ScenarioError as exc:
                raise ValueError(f"entry {i}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _fault_windows(self) -> "Scenario":
        """Faults fit in the load, have unique names, and never overlap where putting back
        what was there would be ambiguous (two changes of one setting at once)."""
        if not self.faults:
            return self
        from harness.plan import planned_duration

        length = planned_duration(self.load_profile)
        names: set[str] = set()
        for i, fault in enumerate(self.faults):
            if fault.at >= length - 1e-9:
                raise ValueError(
                    f"faults[{i}].at: the fault starts {fault.at:g} s into the run, when the load's {length:g} s are over; start it earlier"
                )
            if fault.end > length + 1e-9:
                raise ValueError(
                    f"faults[{i}].duration: the fault ends {fault.end:g} s into the run, after the load's "
                    f"{length:g} s; shorten it or start it earlier"
                )
            if fault.label in names:
                raise ValueError(f"faults[{i}].name: two faults are named {fault.label!r}; give each a unique name")
            names.add(fault.label)
        for i, a in enumerate(self.faults):
            for j in range(i):
                b = self.faults[j]
                if a.at < b.end and b.at < a.end and _same_setting(a, b):
                    raise ValueError(
                        f"faults[{i}].at: overlaps faults[{j}] ({b.label!r}), which changes the same setting; "
                        "putting either back would undo the other: move one so they do not overlap"
                    )
        return self

    @model_validator(mode="after")
    def _plans_requests(self) -> "Scenario":
        """An open profile that plans no whole request (``rate = 0.1`` for 5 s) would run doing
        nothing and report an empty run: refused, naming the fields that size the plan."""
        profile = self.load_profile
        if isinstance(profile, Calls):
            return self
        from harness.plan import build_plan

        plan = build_plan(profile)
        if plan.total == 0:
            fields = [*profile.rate_fields(), *_LENGTH_FIELDS.get(profile.profile, ())]
            named = ", ".join(f"load.{f}" for f in fields[:-1]) + f" or load.{fields[-1]}"
            raise ValueError(
                f"load.{fields[0]}: the {profile.profile} profile plans {plan.count_until(plan.duration):g} requests in {plan.duration:g} s, "
                f"not one whole request, so the run would send nothing; raise {named}"
            )
        return self

    @model_validator(mode="after")
    def _retry_expect(self) -> "Scenario":
        for i, endpoint in enumerate(self.endpoints):
            retry = self.retry_for(endpoint)
            if retry is None:
                continue
            expected = sorted(set(retry.on) & set(endpoint.expect))
            if expected:
                own = isinstance(endpoint.retry, Retry)
                field = f"endpoints[{i}].retry.on" if own else "retry.on"
                fix = f"remove {expected[0]} from {field}" + ("" if own else f", or give endpoint {endpoint.name!r} a retry of its own (or retry = false)")
                raise ValueError(
                    f"{field}: {expected[0]} is an expected status of endpoint {endpoint.name!r} (endpoints[{i}].expect): "
                    f"a status that counts as ok is never retried; {fix}"
                )
        return self

    def retry_for(self, endpoint: Endpoint) -> Retry | None:
        """The retry policy of ``endpoint``: its own, else the scenario's; None for no retries."""
        setting = endpoint.retry if endpoint.retry is not None else self.retry
        return setting if isinstance(setting, Retry) else None

    @model_validator(mode="after")
    def _calls_users(self) -> "Scenario":
        profile = self.load_profile
        if isinstance(profile, Calls):
            if profile.vus is not None and profile.vus != profile.users:
                raise ValueError("load.vus: the calls profile runs one virtual user per user; remove vus or set it to load.users")
            if self.auth is not None and self.auth.users < profile.users:
                raise ValueError(
                    f"auth.users: {self.auth.users} test users for {profile.users} virtual users; "
                    "each virtual user of the calls profile signs in as its own test user: set auth.users >= load.users"
                )
        return self

    @property
    def vus(self) -> int:
        """The virtual-user pool size: the profile's ``vus`` or a default sized for the peak."""
        if isinstance(self.load_profile, Calls):
            return self.load_profile.users
        if self.load_profile.vus:
            return self.load_profile.vus
        # Enough users for the peak rate at ~200 ms per request, at least 10.
        return min(self.limits.max_vus, max(10, int(self.load_profile.peak_rate() * 0.2) + 1))

    # ---- loading -------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, *, override_limits: bool = False, overrides: Sequence[str] = ()) -> "Scenario":
        """Read, validate and check ``path`` against the safety limits. ``overrides`` are
        ``FIELD=VALUE`` texts (``load.rate=200``) applied before validation: see ``apply_overrides``."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ScenarioError("no such file; check the path (scenarios live in scenarios/)", path=str(path)) from None
        except UnicodeDecodeError:
            raise ScenarioError("not UTF-8 text; save it as UTF-8 TOML", path=str(path)) from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ScenarioError(f"cannot read it ({reason}); pass a readable scenario file", path=str(path)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"not valid TOML: {exc}; fix the syntax there", path=str(path)) from None
        if "name" not in raw:
            raw = {"name": path.stem, **raw}
        source = str(path)
        if overrides:
            raw = apply_overrides(raw, overrides)
            source += " with --set " + " --set ".join(overrides)
        scenario = cls.from_dict(raw, source=source, override_limits=override_limits)
        scenario.check_fault_kinds(source=source)
        return scenario

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<scenario>", override_limits: bool = False) -> "Scenario":
        """Validate already-parsed data (a Lambda worker receives a scenario this way)."""
        try:
            scenario = cls.model_validate(data)
        except ValidationError as exc:
            raise _one_line(exc, source) from None
        scenario.check_limits(source=source, override=override_limits)
        return scenario

    def check_fault_kinds(self, *, source: str = "<scenario>") -> None:
        """Refuse a fault kind the scenario's target cannot take: a local kind (applied through
        the local stack) against another target, ``stage_throttle`` (AWS UpdateStage) on the local
        stack. Checked on the user's file (``load``), not in the model: a fan-out worker's copy has
        ``local`` resolved to the local stack's URL and applies no fault (its caller does)."""
        local = self.target.base_url == LOCAL
        for i, fault in enumerate(self.faults):
            if fault.kind in LOCAL_FAULT_KINDS and not local:
                raise ScenarioError(
                    f"{fault.kind!r} is applied through the local stack, but target.base_url is not \"local\"; "
                    "against another target use kind = \"fis\" (an AWS FIS experiment template), \"stage_throttle\" or \"lambda_concurrency\"",
                    path=source, field=f"faults[{i}].kind",
                )  # fmt: skip
            if fault.kind == "stage_throttle" and local:
                raise ScenarioError(
                    "\"stage_throttle\" changes an AWS API Gateway stage (UpdateStage) and works on AWS only; "
                    "on the local stack use kind = \"throttle\" (the emulator's token bucket)",
                    path=source, field=f"faults[{i}].kind",
                )  # fmt: skip

    def check_limits(self, *, source: str = "<scenario>", override: bool = False) -> None:
        """Raise ``LimitExceeded`` if the scenario goes past its safety limits."""
        if not override:
            for name in Limits.model_fields:
                mine, default = getattr(self.limits, name), getattr(DEFAULT_LIMITS, name)
                if mine > default:
                    raise LimitExceeded(
                        f"{mine:g} raises the built-in safety limit of {default:g}; "
                        "lower it or pass --override-limits",
                        path=source,
                        field=f"limits.{name}",
                    )
        profile = self.load_profile
        for field, rate in profile.rate_fields().items():
            if rate > self.limits.max_rate:
                raise LimitExceeded(
                    f"{rate:g} rps is over the safety limit of {self.limits.max_rate:g} rps; "
                    "lower it, or raise limits.max_rate and pass --override-limits",
                    path=source,
                    field=f"load.{field}",
                )
        if profile.total_duration() > self.limits.max_duration:
            length_field = LENGTH_FIELDS.get(profile.profile)
            raise LimitExceeded(
                f"the profile runs up to {profile.total_duration():g} s, over the safety limit of "
                f"{self.limits.max_duration:g} s; shorten it, or raise limits.max_duration and pass --override-limits",
                path=source,
                field=f"load.{length_field}" if length_field else "load",
            )
        if isinstance(profile, Calls):
            for name, limit_name in (("users", "max_users"), ("calls_per_user", "max_calls_per_user")):
                value, limit = getattr(profile, name), getattr(self.limits, limit_name)
                if value > limit:
                    raise LimitExceeded(
                        f"{value} is over the safety limit of {limit}; use fewer, or raise "
                        f"limits.{limit_name} and pass --override-limits",
                        path=source,
                        field=f"load.{name}",
                    )
        if self.fanout.workers > self.limits.max_workers:
            raise LimitExceeded(
                f"{self.fanout.workers} workers is over the safety limit of {self.limits.max_workers}; "
                "use fewer, or raise limits.max_workers and pass --override-limits",
                path=source,
                field="fanout.workers",
            )
        if self.auth and self.auth.users > self.limits.max_users:
            raise LimitExceeded(
                f"{self.auth.users} users is over the safety limit of {self.limits.max_users}; "
                "use fewer, or raise limits.max_users and pass --override-limits",
                path=source,
                field="auth.users",
            )
        if self.vus > self.limits.max_vus:
            raise LimitExceeded(
                f"{self.vus} virtual users is over the safety limit of {self.limits.max_vus}; "
                "use fewer, or raise limits.max_vus and pass --override-limits",
                path=source,
                field="load.vus",
            )

    def echo(self) -> dict[str, Any]:
        """The scenario as plain data for results files (it holds no secrets by design)."""
        return self.model_dump(mode="json", by_alias=True)


def _same_setting(a: Any, b: Any) -> bool:
    """Two faults that set the same thing and put it back (stage throttling, a function's
    reserved concurrency, the emulator's throttle of one route)."""
    if a.kind != b.kind:
        return False
    if a.kind == "stage_throttle":
        return (a.api_id, a.stage) == (b.api_id, b.stage)
    if a.kind == "lambda_concurrency":
        return a.function == b.function
    return False


# ---- overrides from the command line -----------------------------------------------------------


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of the scenario's raw data with ``FIELD=VALUE`` overrides set (``--set``).

    ``FIELD`` is a dotted path (``load.rate``, ``auth.users``, ``endpoints.0.weight``); ``VALUE``
    is read as a TOML value (``200``, ``true``, ``["p95 < 1s"]``, ``"text"``), and as plain text
    when it is not one (``30s``, ``https://...``). The result is validated like the file::

        apply_overrides(raw, ["load.rate=200", "load.duration=30s"])
    """
    out = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(p.strip() for p in parts) or not text.strip():
            raise ScenarioError(f"--set {item!r}: write FIELD=VALUE, like --set load.rate=200 or --set load.duration=30s")
        parts = [p.strip() for p in parts]
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ScenarioError(f"--set {key.strip()}: {where} is not an item of the list (0..{len(node) - 1})")
                if last:
                    node[int(part)] = _toml_value(text.strip())
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = _toml_value(text.strip())
                else:
                    node = node.setdefault(part, {})
            else:
                raise ScenarioError(f"--set {key.strip()}: {'.'.join(parts[:i])} is a value, not a table")
    return out


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


# ---- one-line errors -------------------------------------------------------------------------

_PROFILE_NAMES = ", ".join(_PROFILES)


def _loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for pos, item in enumerate(loc):
        if pos == 2 and loc[0] == "faults" and isinstance(loc[1], int) and str(item) in _FAULT_KINDS:
            continue  # the tag of a fault's kind
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in {m.__name__ for m in _PROFILES.values()} or str(item).startswith("function-"):
            continue
        elif str(item) in _PROFILES and parts and parts[-1] == "load":
            continue
        elif item in ("policy", "off") and parts and parts[-1].endswith("retry"):
            continue  # the tags of RetrySetting's union
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _allowed(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Scenario
    for item in loc[:-1]:
        if isinstance(item, int):
            continue
        fields = getattr(model, "model_fields", {})
        by_alias = {(f.alias or n): f for n, f in fields.items()}
        info = by_alias.get(item) or fields.get(item)
        if info is None:
            # a discriminated profile or fault: item is the tag
            model = _PROFILES.get(str(item)) or _FAULT_KINDS.get(str(item)) or model
            continue
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        args = tuple(getattr(a, "__origin__", a) if hasattr(a, "__metadata__") else a for a in args)  # Annotated[Retry, Tag]
        nested = tuple(x for a in args for x in getattr(a, "__args__", ()))  # RetrySetting | None
        args += tuple(getattr(a, "__origin__", a) if hasattr(a, "__metadata__") else a for a in nested)
        candidates = [a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)]
        if candidates:
            model = candidates[0]
    return [(f.alias or n) for n, f in getattr(model, "model_fields", {}).items()]


_NAMED_FIELD = re.compile(r"^([a-z_]+(?:\[\d+\])?\.[a-z_.]+): (.*)$", re.S)


# the fields besides the rates that size an open profile's plan (named when it plans nothing)
_LENGTH_FIELDS = {"steady": ("duration",), "ramp": ("step_duration",), "burst": ("burst_length", "cycles"), "spike": ("duration", "spike_duration")}


def _one_line(exc: ValidationError, source: str) -> ScenarioError:
    """The first problem as one line; an unknown field comes first, since a typo (``rat = 5``)
    also makes the field it misspells missing. ``details`` lists every problem (``harness -v``)."""
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")  # stable
    described = [_describe(err) for err in errors]
    field, text = described[0]
    more = f" (+{len(described) - 1} more; -v lists them)" if len(described) > 1 else ""
    details = tuple(f"{source}: {f}: {t}" for f, t in described)
    return ScenarioError(text + more, path=source, field=field, details=details)


def _describe(err: Any) -> tuple[str, str]:
    """(field, what is wrong and the fix) of one pydantic error."""
    loc, kind, msg = err["loc"], err["type"], err["msg"]
    field = _loc(loc)
    if kind == "missing":
        text = "is required; add it"
    elif kind == "extra_forbidden":
        name = str(loc[-1])
        allowed = [a for a in _allowed(loc) if a]
        top_level = [(f.alias or n) for n, f in Scenario.model_fields.items()]
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        if len(loc) > 1 and name in top_level and name not in allowed:
            table = f"[[{loc[0]}]]" if len(loc) > 2 and isinstance(loc[1], int) else f"[{loc[0]}]"
            text = (
                f"is not a field of {table}: TOML reads every key after a [table] header as part of that table, "
                f"so a top-level key like {name} must come before the first [table] header; move it up"
            )
        else:
            hint = f"did you mean {close[0]}? " if close else ""
            text = f"is not a known field; {hint}remove it or use one of: {', '.join(allowed)}"
    elif (kind == "union_tag_invalid" or kind == "union_tag_not_found") and loc and loc[0] == "faults":
        field = f"{field}.kind"
        text = f"must be one of {', '.join(_FAULT_KINDS)}; set kind = \"latency\" (or another)"
    elif kind == "union_tag_invalid" or kind == "union_tag_not_found":
        field = field if field.endswith("profile") else f"{field}.profile"
        text = f"must be one of {_PROFILE_NAMES}; set profile = \"steady\" (or another)"
    else:
        got = err.get("input")
        shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
        text = msg.removeprefix("Value error, ") + shown
        named = _NAMED_FIELD.match(text) if not loc else None
        if named:  # a check across fields names the field it is about
            field, text = named.group(1), named.group(2)
        if not text.rstrip(")").endswith(("fix", "it")) and ";" not in text:
            text += "; fix this value"
    return field, text
