"""What ``harness fanout`` sends and where: the execution input, the stack, a local deploy.

    data = execution_input(scenario=scenario, workers=10)        # local names resolved
    data = execution_input(reference={"users": {"NumberOfUsers": "100", "NumberOfCallsPerUser": "10"}})
    stack = FanoutStack.of(stack_outputs(cloudformation, "harness-fanout"))
    stack = deploy_local(info, aws=AwsContext(), stack_name="harness-fanout")   # on the local stack

Locally it is the same template, the same state machines and the same handlers, deployed to
the local stack's CloudFormation; the code zip holds only harness's own source, because the
local Lambda runtime runs it with the project's interpreter and installed packages.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.errors import HarnessError, UsageError
from harness.scenario import Scenario
from harness.target import resolve_target

__all__ = [
    "TEMPLATE", "FanoutStack", "check_concurrency", "execution_input", "parse_reference", "deploy_local", "local_parameters", "stack_defaults",
    "stack_aws", "check_stack_pool",
]  # fmt: skip

TEMPLATE = Path(__file__).resolve().parents[1] / "infra" / "fanout.yaml"
"""The template, shipped inside the package (``harness/infra``; ``infra/`` in a checkout)."""
LOCAL_PATH = "/items"
"""What the reference input loads on the local stack's API Gateway emulator."""


@dataclass(frozen=True)
class FanoutStack:
    """The deployed fan-out stack's outputs that a run needs."""

    run_state_machine: str
    cleanup_state_machine: str
    bucket: str
    worker_function: str

    @classmethod
    def of(cls, outputs: dict[str, str]) -> FanoutStack:
        try:
            return cls(
                run_state_machine=outputs["RunStateMachineArn"],
                cleanup_state_machine=outputs["CleanupStateMachineArn"],
                bucket=outputs["ResultsBucket"],
                worker_function=outputs["WorkerFunctionName"],
            )
        except KeyError as exc:
            raise UsageError(f"the stack has no output {exc}; deploy it again with `harness deploy`") from None


def stack_aws(region: str | None = None) -> Any:
    """The ``AwsContext`` of the fan-out stack's region, found one way by ``harness deploy``,
    ``harness fanout`` and ``harness cleanup``: ``--region`` > ``AWS_REGION`` /
    ``AWS_DEFAULT_REGION`` > the AWS profile's region > us-east-1. Never the user pool's or the
    target's region: the template lets those be elsewhere (the stack's parameters name them)."""
    from harness.aws import AwsContext

    return AwsContext(region=region)


def check_stack_pool(scenario: Scenario | None, defaults: Any, *, stack_name: str, stack_region: str) -> None:
    """Refuse (exit 2, before anything starts) a scenario whose user pool is not the one the
    stack was deployed for: its roles may manage and read only that pool (and its region's
    secrets), so PrepareUsers would fail with AccessDenied after the cost question."""
    from harness.target import pool_region

    if scenario is None or scenario.auth is None:
        return
    pool = resolve_target(scenario).user_pool_id
    stack_pool = defaults.user_pool_id
    if pool == stack_pool:
        return

    def where(name: str | None) -> str:
        return f"{name} (region {pool_region(name) or 'unknown'})" if name else "no pool"

    raise UsageError(
        f"fanout: the scenario's user pool is {where(pool)}, but stack {stack_name} in {stack_region} was deployed for "
        f"{where(stack_pool)}: its roles manage only that pool; deploy it for this pool "
        f"(harness deploy --scenario FILE --stack NAME) or use the stack's pool in the scenario"
    )


def stack_defaults(cloudformation: Any, stack_name: str) -> Any:
    """What the deployed stack's reference input loads (its TargetUrl, pool and client), read
    from the stack's parameters, so that the CLI checks an input as the state machine will."""
    from harness.fanout.spec import StackDefaults
    from harness.target import pool_region

    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    values = {p["ParameterKey"]: str(p.get("ParameterValue", "")) for p in (stacks[0].get("Parameters") or [])} if stacks else {}
    lead = values.get("StartLeadSeconds")
    return StackDefaults(
        base_url=values.get("TargetUrl") or None,
        user_pool_id=values.get("UserPoolId") or None,
        client_id=values.get("UserPoolClientId") or None,
        path=values.get("TargetPath") or "/",
        region=pool_region(values.get("UserPoolId")) or getattr(getattr(cloudformation, "meta", None), "region_name", None),
        start_lead=float(lead) if lead else None,
        **({"worker_timeout": float(values["WorkerTimeout"])} if values.get("WorkerTimeout") else {}),
    )


def parse_reference(text: str) -> dict[str, Any]:
    """``--input``: the reference design's JSON, e.g. ``{"users": {"NumberOfUsers": "100", ...}}``."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f'--input: not JSON ({exc}); pass e.g. \'{{"users": {{"NumberOfUsers": "100", "NumberOfCallsPerUser": "100"}}}}\'') from None
    if not isinstance(data, dict):
        raise UsageError('--input: must be a JSON object such as {"users": {...}}')
    return data


def execution_input(
    *, scenario: Scenario | None = None, reference: dict[str, Any] | None = None, workers: int | None = None, override_limits: bool = False
) -> dict[str, Any]:
    """The run state machine's input: a scenario with its ``local`` names resolved to the
    running local stack's values (a worker cannot look them up), or the reference input.
    A scenario's ``[[faults]]`` are applied by the caller (``harness fanout``), which says so."""
    if (scenario is None) == (reference is None):
        raise UsageError("fanout: give a scenario file or --input, not both")
    data: dict[str, Any]
    if scenario is not None:
        target = resolve_target(scenario)
        scenario_data = scenario.echo()
        scenario_data["target"].update(base_url=target.base_url, api_id=target.api_id, stage=target.stage)
        if scenario_data.get("auth"):
            scenario_data["auth"].update(user_pool_id=target.user_pool_id, client_id=target.client_id, region=target.region)
        data = {"scenario": scenario_data}
        if scenario.faults:
            data["faults_by_caller"] = True
    else:
        data = dict(reference or {})
    if workers is not None:
        data["workers"] = workers
    if override_limits:
        data["override_limits"] = True
    return data


def local_parameters(info: Any) -> dict[str, str]:
    """The stack's default target on the local stack ``info``: the emulator and its user pool."""
    return {"TargetUrl": info.api_url, "UserPoolId": info.user_pool_id, "UserPoolClientId": info.client_id, "TargetPath": LOCAL_PATH}


def deploy_local(
    info: Any,
    *,
    aws: Any,
    stack_name: str,
    start_lead: float = 5.0,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, str]:
    """Deploy the fan-out stack to the local stack ``info`` (a ``LocalStackInfo``); its outputs.

    Its default target (what the reference input loads) is the local API Gateway emulator and
    the local user pool."""
    from harness.fanout.deploy import deploy_stack
    from harness.fanout.package import build_package

    with tempfile.TemporaryDirectory(prefix="harness-package-") as tmp:
        package = build_package(out=Path(tmp) / "harness-fanout.zip", deps=False)
        return deploy_stack(
            cloudformation=aws.client("cloudformation"),
            s3=aws.client("s3"),
            sts=aws.client("sts"),
            stack_name=stack_name,
            template=TEMPLATE,
            parameters={**local_parameters(info), "StartLeadSeconds": str(int(start_lead))},
            code_zip=package.path,
            on_event=on_event,
        )


def check_concurrency(lam: Any, *, workers: int, function_name: str) -> list[str]:
    """Refuse a run whose workers cannot all run at once, before it starts; notes to print.

    The workers run as concurrent executions of ``function_name``: within its reserved
    concurrency if it has one, else within the account's unreserved concurrency in the
    Region (``lambda:GetAccountSettings``), which the system under test shares. UsageError
    when they do not fit (the Distributed Map would be throttled and the shards start late);
    a note when they take more than half of what the account leaves unreserved."""
    region = getattr(getattr(lam, "meta", None), "region_name", None) or "this Region"
    try:
        limits = lam.get_account_settings()["AccountLimit"]
        reserved = lam.get_function_concurrency(FunctionName=function_name).get("ReservedConcurrentExecutions")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise HarnessError(
            f"could not read the Lambda concurrency in {region} ({error.get('Code')}: {error.get('Message')}); "
            "the caller needs lambda:GetAccountSettings and lambda:GetFunctionConcurrency"
        ) from None
    except BotoCoreError as exc:
        raise HarnessError(f"could not reach Lambda in {region} to read the concurrency: {exc}") from None
    unreserved = int(limits.get("UnreservedConcurrentExecutions", 0))
    total = int(limits.get("ConcurrentExecutions", 0))
    if reserved is not None:
        if workers > reserved:
            raise UsageError(
                f"{workers} workers need {workers} concurrent executions, but {function_name} has a reserved concurrency of "
                f"{reserved}: use at most {reserved} workers, or raise its reservation (PutFunctionConcurrency)"
            )
        return []
    if workers > unreserved:
        raise UsageError(
            f"{workers} workers need {workers} concurrent executions; the account's unreserved Lambda concurrency in {region} is "
            f"{unreserved:,} (of {total:,}), shared with the system under test: use at most {unreserved} workers, ask for a higher "
            "Concurrent executions quota, or run the generator from another account"
        )
    if workers > unreserved / 2:
        return [
            f"the {workers} workers take {100 * workers / unreserved:.0f}% of the account's unreserved Lambda concurrency in {region} "
            f"({unreserved:,}), which the system under test shares: its own functions may be throttled by the generator"
        ]
    return []
