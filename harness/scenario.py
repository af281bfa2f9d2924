"""Scenarios: what to run, as validated plain data.

A scenario is a TOML file with a target, the Cognito auth, weighted endpoints and an open-model
load profile measured in requests per second::

    scenario = Scenario.load("scenarios/steady.toml")
    scenario.load_profile.profile   # "steady"

Bad files raise ``ScenarioError`` with one line naming the file, the field and the fix.

The model composes each feature's settings from the feature's folder (as Powertools keeps a
utility's config beside it): ``[load]`` from ``profiles.py``, ``retry`` from ``load/retry.py``,
``[[faults]]`` and ``[recovery]`` from ``faults/config.py``, ``[fanout]`` from
``fanout/config.py``, ``[local]`` from ``local_settings.py`` (beside ``local/``, which the
Lambda zip leaves out); durations and number types come from
the leaf modules ``durations.py`` and ``fields.py``. It imports no behaviour: the rules that need
another module (``abort_on``, gates, region, the probe) are ``harness.validation.validate``'s.
"""

from __future__ import annotations

import copy
import difflib
import re
import tomllib
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from harness.durations import Duration, PositiveDuration, parse_duration
from harness.errors import LimitExceeded, ScenarioError
from harness.fanout.config import FanoutSettings
from harness.faults.config import FAULT_KINDS as _FAULT_KINDS
from harness.faults.config import LOCAL_FAULT_KINDS, FaultSpec, RecoverySettings, same_setting
from harness.fields import Float, Int, Model
from harness.load.retry import Retry, RetrySetting
from harness.local_settings import LocalSettings
from harness.plan import build_plan, planned_duration
from harness.profiles import LENGTH_FIELDS, PLAN_FIELDS, Burst, Calls, LoadProfile, Ramp, Spike, Steady
from harness.profiles import PROFILES as _PROFILES

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


class Target(Model):
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
            raise ValueError('must be an http(s):// URL or "local" for the local stack')
        return value.rstrip("/")


class Auth(Model):
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


_PLACEHOLDER = re.compile(r"\{(\w+)\}")
PLACEHOLDERS = frozenset({"user", "vu", "id", "seq", "uuid"})
_URI_SAFE = "/?#[]@!$&'()*+,;=:%-._~{}"
"""What a request path may hold as written (RFC 3986's unreserved and reserved characters, ``%``,
and the placeholders' braces); anything else (a space, a non-ASCII letter) is percent-encoded."""


class Endpoint(Model):
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
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}; use one of " + ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS)))
        return value

    @field_validator("expect")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        if not value or any(not 100 <= s <= 599 for s in value):
            raise ValueError("must list HTTP status codes between 100 and 599, e.g. [200, 201]")
        return value


class Limits(Model):
    """Safety limits. A scenario may lower them freely; raising one above the built-in
    default needs ``--override-limits`` (or ``HARNESS_OVERRIDE_LIMITS=1``)."""

    max_rate: Float = Field(default=2000.0, gt=0)
    max_duration: Duration = Field(default=3600.0, gt=0)
    max_users: Int = Field(default=1000, ge=1)
    max_vus: Int = Field(default=2000, ge=1)
    max_calls_per_user: Int = Field(default=1000, ge=1)
    max_workers: Int = Field(default=1000, ge=1)


DEFAULT_LIMITS = Limits()


class Scenario(Model):
    """A whole scenario file. Load with ``Scenario.load(path)``."""

    name: str = Field(min_length=1)
    description: str = ""
    target: Target
    auth: Auth | None = None
    endpoints: list[Endpoint] = Field(min_length=1)
    load_profile: LoadProfile = Field(alias="load")
    limits: Limits = Field(default_factory=Limits)
    gates: list[str] = Field(default_factory=list)
    abort_on: list[str] = Field(default_factory=list)  # conditions that stop the run at once (harness.abort; checked by validate())
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

    @model_validator(mode="after")
    def _fault_windows(self) -> Scenario:
        """Faults fit in the load, have unique names, and never overlap where putting back
        what was there would be ambiguous (two changes of one setting at once)."""
        if not self.faults:
            return self
        length = planned_duration(self.load_profile)
        names: set[str] = set()
        for i, fault in enumerate(self.faults):
            if fault.at >= length - 1e-9:
                raise ValueError(f"faults[{i}].at: the fault starts {fault.at:g} s into the run, when the load's {length:g} s are over; start it earlier")
            if fault.end > length + 1e-9:
                raise ValueError(
                    f"faults[{i}].duration: the fault ends {fault.end:g} s into the run, after the load's {length:g} s; shorten it or start it earlier"
                )
            if fault.label in names:
                raise ValueError(f"faults[{i}].name: two faults are named {fault.label!r}; give each a unique name")
            names.add(fault.label)
        for i, a in enumerate(self.faults):
            for j in range(i):
                b = self.faults[j]
                if a.at < b.end and b.at < a.end and same_setting(a, b):
                    raise ValueError(
                        f"faults[{i}].at: overlaps faults[{j}] ({b.label!r}), which changes the same setting; "
                        "putting either back would undo the other: move one so they do not overlap"
                    )
        return self

    @model_validator(mode="after")
    def _plans_requests(self) -> Scenario:
        """An open profile that plans no whole request (``rate = 0.1`` for 5 s) would run doing
        nothing and report an empty run: refused, naming the fields that size the plan."""
        profile = self.load_profile
        if isinstance(profile, Calls):
            return self
        plan = build_plan(profile)
        if plan.total == 0:
            fields = [*profile.rate_fields(), *PLAN_FIELDS.get(profile.profile, ())]
            named = ", ".join(f"load.{f}" for f in fields[:-1]) + f" or load.{fields[-1]}"
            raise ValueError(
                f"load.{fields[0]}: the {profile.profile} profile plans {plan.count_until(plan.duration):g} requests in {plan.duration:g} s, "
                f"not one whole request, so the run would send nothing; raise {named}"
            )
        return self

    @model_validator(mode="after")
    def _retry_expect(self) -> Scenario:
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
    def _calls_users(self) -> Scenario:
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
    def load(cls, path: str | Path, *, override_limits: bool = False, overrides: Sequence[str] = ()) -> Scenario:
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
    def from_dict(cls, data: dict[str, Any], *, source: str = "<scenario>", override_limits: bool = False) -> Scenario:
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
                        f"{mine:g} raises the built-in safety limit of {default:g}; lower it or pass --override-limits",
                        path=source,
                        field=f"limits.{name}",
                    )
        profile = self.load_profile
        for field, rate in profile.rate_fields().items():
            if rate > self.limits.max_rate:
                raise LimitExceeded(
                    f"{rate:g} rps is over the safety limit of {self.limits.max_rate:g} rps; lower it, or raise limits.max_rate and pass --override-limits",
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
                        f"{value} is over the safety limit of {limit}; use fewer, or raise limits.{limit_name} and pass --override-limits",
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
                f"{self.auth.users} users is over the safety limit of {self.limits.max_users}; use fewer, or raise limits.max_users and pass --override-limits",
                path=source,
                field="auth.users",
            )
        if self.vus > self.limits.max_vus:
            raise LimitExceeded(
                f"{self.vus} virtual users is over the safety limit of {self.limits.max_vus}; use fewer, or raise limits.max_vus and pass --override-limits",
                path=source,
                field="load.vus",
            )

    def echo(self) -> dict[str, Any]:
        """The scenario as plain data for results files (it holds no secrets by design)."""
        return self.model_dump(mode="json", by_alias=True)


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
        text = f'must be one of {", ".join(_FAULT_KINDS)}; set kind = "latency" (or another)'
    elif kind == "union_tag_invalid" or kind == "union_tag_not_found":
        field = field if field.endswith("profile") else f"{field}.profile"
        text = f'must be one of {_PROFILE_NAMES}; set profile = "steady" (or another)'
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
