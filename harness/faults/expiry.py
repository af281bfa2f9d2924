"""AWS faults that expire by themselves, even when the harness process is gone.

A fault harness applies through an AWS API (``stage_throttle``, ``lambda_concurrency``, ``fis``)
is put back by harness at the end of its window. So that a SIGKILL, a lost laptop or a lost
network cannot leave a stage throttled or a function at zero concurrency, each such fault, once
started, gets a one-time EventBridge Scheduler schedule that makes the same put-back call at the
window's end plus ``MARGIN`` seconds; harness deletes the schedule when it puts the fault back
itself. A schedule whose put-back failed is kept: it still fires::

    expiry = Expiry(client=aws.client("scheduler"), role_arn=role, run_id=run_id)
    name = expiry.arm(label="squeeze", when=t0 + fault.end, restore=action.restore)
    ...
    expiry.disarm(name)      # harness put it back itself

AWS facts this relies on (https://docs.aws.amazon.com/scheduler/latest/UserGuide/):
- a one-time schedule is ``at(yyyy-mm-ddThh:mm:ss)`` in ``ScheduleExpressionTimezone`` (UTC here);
- ``ActionAfterCompletion = DELETE`` deletes a one-time schedule once it has invoked its target;
- a universal target ``arn:aws:scheduler:::aws-sdk:<sdk service>:<apiAction>`` calls any
  non-read API with ``Input`` holding the request's parameters, as the role ``RoleArn`` names
  (a role ``scheduler.amazonaws.com`` may assume, allowed the put-back action).

``restore`` is a ``Restore``: the boto3 call (service, operation, parameters) that puts the fault
back, recorded in the run's results so ``harness faults restore RUN_DIR`` can make it too.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.errors import FaultError

__all__ = ["Expiry", "Restore", "MARGIN", "universal_target"]

MARGIN = 120.0
"""Seconds after a window's end at which the schedule puts the fault back: harness, if alive,
does it first and deletes the schedule (Scheduler may run a one-time schedule up to a minute late)."""


@dataclass(frozen=True)
class Restore:
    """One boto3 call that puts a fault back: ``aws.client(service).<operation>(**params)``."""

    service: str  # botocore's service name, which is also the SDK identifier Scheduler takes
    operation: str  # botocore's snake_case operation name
    params: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"service": self.service, "operation": self.operation, "params": self.params}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Restore:
        return cls(service=str(data["service"]), operation=str(data["operation"]), params=dict(data["params"]))

    def call(self, client: Any) -> Any:
        return getattr(client, self.operation)(**self.params)


def universal_target(restore: Restore, *, partition: str = "aws") -> tuple[str, str]:
    """The Scheduler universal target ARN and Input JSON for ``restore``: the API action in
    camelCase (``putFunctionConcurrency``) and the parameters with PascalCase names, as AWS SDK
    service integrations take them (``RestApiId``, ``PatchOperations``: ``Op``, ``Path``, ``Value``)."""
    head, *rest = restore.operation.split("_")
    action = head + "".join(part.capitalize() for part in rest)
    return f"arn:{partition}:scheduler:::aws-sdk:{restore.service}:{action}", json.dumps(_pascal(restore.params), sort_keys=True)


def _pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {(k[:1].upper() + k[1:]): _pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    return value


_NAME = re.compile(r"[^0-9A-Za-z_.-]+")


class Expiry:
    """Arms and disarms the one-time schedules that put a run's AWS faults back."""

    def __init__(self, *, client: Any, role_arn: str, run_id: str, margin: float = MARGIN) -> None:
        # the pattern Scheduler's Target.RoleArn takes (API reference, Target)
        if not re.match(r"^arn:aws(-[a-z]+)?:iam::\d{12}:role/[\w+=,.@/-]+$", role_arn):
            raise FaultError(
                f"target.fault_expiry_role: {role_arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>); "
                "use the fan-out stack's FaultExpiryRoleArn output or a role scheduler.amazonaws.com may assume"
            )
        self.client = client
        self.role_arn = role_arn
        self.run_id = run_id
        self.margin = margin

    def check(self, where: str) -> None:
        """Before the run: Scheduler answers, with the permission to list schedules."""
        try:
            self.client.list_schedules(NamePrefix="harness-", MaxResults=1)
        except (ClientError, BotoCoreError) as err:
            raise _error(where, err, "listing EventBridge Scheduler schedules", "scheduler:ListSchedules") from None

    def arm(self, *, where: str, when: float, restore: Restore) -> str:
        """Create the schedule that makes ``restore`` at ``when + margin``; its name."""
        at = _dt.datetime.fromtimestamp(when + self.margin, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        name = _NAME.sub("-", f"harness-{self.run_id}")[:40] + f"-{uuid.uuid4().hex[:12]}"
        arn, payload = universal_target(restore, partition=_partition(self.role_arn))
        try:
            self.client.create_schedule(
                Name=name,
                ScheduleExpression=f"at({at})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Description=f"harness run {self.run_id}: puts back {where} if harness could not"[:512],
                Target={"Arn": arn, "RoleArn": self.role_arn, "Input": payload, "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}},
            )
        except (ClientError, BotoCoreError) as err:
            raise _error(
                where, err, "creating the schedule that puts the fault back if harness cannot", "scheduler:CreateSchedule (and iam:PassRole on the role)"
            ) from None
        return name

    @staticmethod
    def delete_schedule(client: Any, name: str) -> None:
        """Delete schedule ``name``; gone already (it ran, ActionAfterCompletion DELETE) is fine."""
        try:
            client.delete_schedule(Name=name)
        except ClientError as err:
            if (err.response.get("Error") or {}).get("Code") != "ResourceNotFoundException":
                raise

    def disarm(self, name: str, where: str) -> None:
        """Delete the schedule (harness put the fault back itself)."""
        try:
            self.delete_schedule(self.client, name)
        except ClientError as err:
            raise _error(
                where, err, f"deleting schedule {name} (delete it by hand; it would only put back the same values)", "scheduler:DeleteSchedule"
            ) from None
        except BotoCoreError as err:
            raise _error(where, err, f"deleting schedule {name}", "scheduler:DeleteSchedule") from None


def _partition(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 1 and parts[1] else "aws"


def _error(where: str, err: BaseException, doing: str, action: str) -> FaultError:
    from harness.auth.explain import ACCESS_DENIED_CODES

    code = (err.response.get("Error") or {}).get("Code") if isinstance(err, ClientError) else type(err).__name__
    if code in ACCESS_DENIED_CODES:
        return FaultError(f"{where}: {doing}: access denied; allow {action}")
    return FaultError(f"{where}: {doing}: {code}")
