"""The scenario's target made concrete: ``local`` names resolved to the running local stack.

    target = resolve_target(scenario)
    target.base_url, target.user_pool_id, target.client_id

On AWS nothing changes. When anything is ``local``, the local stack's info is read
(``HARNESS_LOCAL_INFO`` or the state file of ``harness local up``) and, unless boto3 is
already pointed somewhere, this process's environment is pointed at it, exactly as
``harness run --local`` does.
"""

from __future__ import annotations

import os
import re
from typing import Any

from harness.errors import ScenarioError, UsageError
from harness.scenario import LOCAL, Scenario

__all__ = [
    "ResolvedTarget", "resolve_pool", "resolve_target", "scenario_region", "default_region", "unmeasured_layers",
    "uses_local_stack", "check_local_target",
]  # fmt: skip

_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d+"
_POOL_REGION = re.compile(rf"^({_REGION})_[0-9A-Za-z]+$")
_EXECUTE_API = re.compile(r"^https?://([a-z0-9]+)\.execute-api\.[^/]+(?:/([^/?#]+))?")
_URL_REGION = re.compile(rf"^https?://[^/]+\.({_REGION})\.amazonaws\.com(?:\.cn)?(?:[:/]|$)")


class ResolvedTarget:
    """The scenario's target with ``local`` names replaced by the local stack's values."""

    def __init__(
        self,
        *,
        base_url: str,
        user_pool_id: str | None,
        client_id: str | None,
        region: str,
        api_id: str | None,
        stage: str | None,
        region_source: str = "",
        lambda_functions: list[str] | None = None,
        fault_expiry_role: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.user_pool_id = user_pool_id
        self.client_id = client_id
        self.region = region
        self.region_source = region_source  # where the region came from: "the user pool id", "AWS_REGION", ...
        self.api_id = api_id
        self.stage = stage
        # whose AWS/Lambda metrics are pulled: target.lambda_functions, plus the local stack's
        # backend function when the target is a local API that sends its routes to Lambda
        self.lambda_functions = list(lambda_functions or [])
        # the role EventBridge Scheduler assumes to put AWS faults back (harness.faults.expiry)
        self.fault_expiry_role = fault_expiry_role

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def resolve_target(scenario: Scenario) -> ResolvedTarget:
    """Resolve ``local`` in the target and auth to the running local stack (see the module)."""
    auth, target = scenario.auth, scenario.target
    info = _local_info() if uses_local_stack(scenario) else None
    region, source = scenario_region(scenario)
    if region is None and info is not None:
        region, source = info.region, "the local stack"
    if region is None:
        region, source = default_region()
    return ResolvedTarget(
        base_url=info.api_url if target.base_url == LOCAL and info else target.base_url,
        user_pool_id=(info.user_pool_id if auth and auth.user_pool_id == LOCAL and info else (auth.user_pool_id if auth else None)),
        client_id=(info.client_id if auth and auth.client_id == LOCAL and info else (auth.client_id if auth else None)),
        region=region,
        region_source=source,
        api_id=target.api_id or (info.api_id if info and target.base_url == LOCAL else _url_api(scenario)[0]),
        stage=target.stage or (info.stage if info and target.base_url == LOCAL else _url_api(scenario)[1]),
        lambda_functions=list(
            dict.fromkeys(
                [
                    *target.lambda_functions,
                    *([info.lambda_function] if info and target.base_url == LOCAL and info.lambda_function else []),
                ]
            )
        ),
        fault_expiry_role=target.fault_expiry_role or (LOCAL_FAULT_EXPIRY_ROLE if info else None),
    )


LOCAL_FAULT_EXPIRY_ROLE = "arn:aws:iam::123456789012:role/harness-local-fault-expiry"
"""The local stack's stand-in for the fault expiry role (moto's account; its Scheduler stores
schedules and never runs them, so nothing assumes it)."""


def unmeasured_layers(scenario: Scenario, *, fanout: bool = False) -> dict[str, str]:
    """The CloudWatch layers (``apigw``, ``lambda``, ``cognito``, ``states``) a run of the scenario
    has nothing to read in, each with why: what ``harness.metrics.build_queries`` would leave out
    for it. Pure (no AWS, no local stack); ``fanout``: the run is ``harness fanout`` (a state machine)::

        unmeasured_layers(scenario).get("apigw")   # None: API Gateway metrics will be pulled
    """
    target, missing = scenario.target, {}
    if target.api_kind == "rest":
        if not target.api_name:
            missing["apigw"] = "a REST API is named in CloudWatch by its name, and the scenario sets no target.api_name"
    elif not (target.api_id or target.base_url == LOCAL or _url_api(scenario)[0]):
        missing["apigw"] = f"{target.base_url} is not an API Gateway URL and the scenario names no target.api_id (or target.api_name for a REST API)"
    local_lambda = target.base_url == LOCAL and scenario.local.integration == "lambda"
    if not (target.lambda_functions or local_lambda):
        missing["lambda"] = "the scenario names no Lambda function of the API: list them in target.lambda_functions"
    if scenario.auth is None:
        missing["cognito"] = "the scenario has no [auth]: there is no user pool to measure"
    if not fanout:
        missing["states"] = "states.* measures the fan-out run's state machine, and only `harness fanout` runs one"
    return missing


def uses_local_stack(scenario: Scenario | dict[str, Any]) -> bool:
    """Whether the scenario (or its echo in a run's results) names the local stack: its
    target, user pool or app client."""
    if isinstance(scenario, dict):
        auth = scenario.get("auth") or {}
        return (scenario.get("target") or {}).get("base_url") == LOCAL or LOCAL in (auth.get("user_pool_id"), auth.get("client_id"))
    auth = scenario.auth
    return scenario.target.base_url == LOCAL or (auth is not None and LOCAL in (auth.user_pool_id, auth.client_id))


def check_local_target(scenario: Scenario, *, source: str | None = None) -> None:
    """``--local`` starts a local stack: refused (before it starts) for a scenario that would not
    use it, whose target and pool are elsewhere."""
    if not uses_local_stack(scenario):
        pool = f" and user pool {scenario.auth.user_pool_id}" if scenario.auth is not None else ""
        raise UsageError(
            f"{source + ': ' if source else ''}--local starts a local stack, but the scenario's target is {scenario.target.base_url}{pool}: "
            'nothing would use it; leave out --local, or set target.base_url = "local"'
        )


def scenario_region(scenario: Scenario, *, source: str | None = None) -> tuple[str | None, str]:
    """The region the scenario itself names, and where: ``auth.region``, the user pool id
    (``eu-west-1_AbC``) and an ``execute-api`` URL. (None, "") when it names none; a
    ``ScenarioError`` (exit 2) when they disagree, since a run talks to one region."""
    named: list[tuple[str, str, str]] = []  # (region, where, field)
    auth = scenario.auth
    if auth is not None and auth.region:
        named.append((auth.region, "auth.region", "auth.region"))
    if auth is not None and (match := _POOL_REGION.match(auth.user_pool_id)):
        named.append((match.group(1), "the user pool id", "auth.user_pool_id"))
    if match := _URL_REGION.match(scenario.target.base_url):
        named.append((match.group(1), "the target URL", "target.base_url"))
    if not named:
        return None, ""
    region, where, _ = named[0]
    for other, other_where, field in named[1:]:
        if other != region:
            raise ScenarioError(
                f"{other_where} names region {other}, but {where} names {region}; harness runs in one region: "
                "make them agree (set auth.region, or leave it out)",
                path=source,
                field=field,
            )
    return region, where


def _url_api(scenario: Scenario) -> tuple[str | None, str | None]:
    """The API id and stage an ``execute-api`` URL names, for CloudWatch: the host's first label
    (an HTTP API's ``ApiId``) and the first path segment, or ``$default`` for an HTTP API without
    one. (None, None) for other URLs; a REST API is named by ``target.api_name`` instead."""
    match = _EXECUTE_API.match(scenario.target.base_url)
    if match is None:
        return None, None
    stage = match.group(2) or ("$default" if scenario.target.api_kind == "http" else None)
    return (match.group(1) if scenario.target.api_kind == "http" else None), stage


def default_region() -> tuple[str, str]:
    """The region when the scenario names none: ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the AWS
    profile's configured region (``AWS_PROFILE``), else ``us-east-1``; and where it came from."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(name):
            return os.environ[name], name
    try:
        import boto3

        configured = boto3.session.Session().region_name
    except Exception:  # a broken profile: boto3 itself will say so when it is used
        configured = None
    if configured:
        return configured, f"the AWS profile {os.environ.get('AWS_PROFILE') or 'default'}"
    return "us-east-1", "the default"


def pool_region(pool: str | None) -> str | None:
    """The region a user pool id names (``eu-west-1_AbC`` -> ``eu-west-1``): Cognito's ids
    start with their region. None for anything else."""
    match = _POOL_REGION.match(pool or "")
    return match.group(1) if match else None


def resolve_pool(pool: str, region: str | None) -> tuple[str, str | None]:
    """A user pool id and region for ``harness users``: ``local`` is the local stack's pool."""
    if pool == LOCAL:
        info = _local_info()
        return info.user_pool_id, region or info.region
    return pool, region or pool_region(pool)


def _local_info() -> Any:
    """The running local stack's info, with this process's environment pointed at it (unless
    boto3 already points somewhere). The one place the core looks at the local stack."""
    from harness.local.stack import load_local_info

    info = load_local_info()
    for key, value in info.env(jwks=False).items():
        os.environ.setdefault(key, value)
    return info
