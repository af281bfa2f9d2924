"""The fan-out stack (``infra/fanout.yaml``) on CloudFormation: uploaded, deployed, followed, removed.

``deploy_stack`` works as ``sam deploy`` does: the code zip and the state machines' ASL
(``infra/statemachines/*.asl.json``, next to the template) go to an artifacts bucket (by default
``harness-artifacts-<account>-<region>``, created if missing, private and encrypted) under keys
that hold their sha256, so new code or a new ASL updates the stack and the same files change
nothing. Then a change set (CREATE or UPDATE), executed; the stack's events are passed to
``on_event`` as they come; a failure raises one line naming the resource, its reason and what
the rollback left. The same code deploys to the local stack: only ``AWS_ENDPOINT_URL`` differs::

    aws = AwsContext()
    outputs = deploy_stack(
        cloudformation=aws.client("cloudformation"), s3=aws.client("s3"), sts=aws.client("sts"),
        stack_name="harness-fanout", template=Path("infra/fanout.yaml"),
        parameters={"TargetUrl": url, "UserPoolId": pool, "UserPoolClientId": client},
        code_zip=build_package(out=Path("build/fanout.zip")).path,
        on_event=lambda e: print(e["LogicalResourceId"], e["ResourceStatus"]),
    )
    outputs["RunStateMachineArn"]
    destroy_stack(cloudformation=aws.client("cloudformation"), stack_name="harness-fanout")

A stack whose first create failed (ROLLBACK_COMPLETE) holds nothing and cannot be updated: the
next deploy deletes it and creates it afresh. "No changes" is success.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.errors import HarnessError, UsageError

__all__ = [
    "DEFINITIONS",
    "artifacts_bucket_name",
    "check_stack_name",
    "deploy_stack",
    "destroy_stack",
    "ensure_artifacts_bucket",
    "stack_outputs",
]

# Template parameter -> ASL file, relative to the template: deploy uploads each file and passes
# its key; the template reads it with DefinitionS3Location (+ DefinitionSubstitutions).
DEFINITIONS: dict[str, str] = {
    "RunDefinitionKey": "statemachines/run.asl.json",
    "CleanupDefinitionKey": "statemachines/cleanup.asl.json",
}
_TEMPLATE_BODY_LIMIT = 51_200  # bytes CloudFormation takes as TemplateBody
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_SUCCEEDED = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")
_CANCELLED = ("Resource creation cancelled", "Resource update cancelled")

EventHandler = Callable[[dict[str, Any]], None]


def deploy_stack(
    *,
    cloudformation: Any,
    s3: Any,
    stack_name: str,
    template: Path,
    parameters: Mapping[str, str],
    code_zip: Path,
    artifacts_bucket: str | None = None,
    on_event: EventHandler | None = None,
    sts: Any | None = None,
    definitions: Mapping[str, Path] | None = None,
    timeout: float = 3600.0,
    poll: float = 2.0,
) -> dict[str, str]:
    """Create or update ``stack_name`` from ``template``; the stack's outputs.

    ``parameters`` are the template's own (TargetUrl, UserPoolId...); ``CodeBucket``,
    ``CodeKey`` and the ``*DefinitionKey`` ones are filled in here. On an update, a parameter
    left out keeps its previous value. ``sts`` names the default artifacts bucket (needed only
    when ``artifacts_bucket`` is None). ``definitions`` maps a template parameter to an ASL
    file (default: ``DEFINITIONS``, beside the template).
    """
    body = _read_template(template)
    check_stack_name(stack_name, body)
    if not code_zip.is_file():
        raise UsageError(f"{code_zip}: no such code zip; build it with build_package() (harness.fanout.package)")
    declared = _template_parameters(cloudformation, body, template)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise UsageError(f"{template} declares no parameter {', '.join(unknown)}; it takes {', '.join(sorted(declared))}")
    asl_files = {name: path for name, path in _definition_files(template, definitions).items() if name in declared}

    bucket = artifacts_bucket or ensure_artifacts_bucket(s3=s3, sts=sts)
    prefix = f"fanout/{stack_name}"
    values = dict(parameters)
    values["CodeBucket"] = bucket
    values["CodeKey"] = _upload(s3, bucket, f"{prefix}/code", code_zip, suffix=".zip")
    for name, path in asl_files.items():
        values[name] = _upload(s3, bucket, f"{prefix}/{path.name.split('.')[0]}", path, suffix=".asl.json")
    values = {name: value for name, value in values.items() if name in declared}

    stack = _describe(cloudformation, stack_name)
    status = stack["StackStatus"] if stack else None
    if stack is not None and status == "ROLLBACK_COMPLETE":  # a failed first create: nothing in it, and not updatable
        destroy_stack(cloudformation=cloudformation, stack_name=stack["StackId"], on_event=on_event, timeout=timeout, poll=poll)
        stack, status = None, None
    elif status is not None and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise HarnessError(f"stack {stack_name} is busy ({status}); wait until it settles, then deploy again")
    elif status in ("ROLLBACK_FAILED", "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED"):
        raise HarnessError(
            f"stack {stack_name} is {status} and cannot be updated; repair it in the CloudFormation console "
            "(Continue update rollback) or remove it with destroy_stack / `harness destroy`, then deploy again"
        )
    change_type = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    previous = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])} if change_type == "UPDATE" else set()
    stack_parameters: list[dict[str, Any]] = [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in sorted(values.items())]
    stack_parameters += [{"ParameterKey": k, "UsePreviousValue": True} for k in sorted(set(declared) & previous - set(values))]

    change_set_id = _create_change_set(cloudformation, stack_name, change_type, body, stack_parameters, poll=poll, timeout=timeout)
    if change_set_id is None:
        return stack_outputs(cloudformation, stack_name)  # nothing to change
    seen = _newest_event_id(cloudformation, stack_name)
    _call(cloudformation.execute_change_set, f"could not execute the change set of stack {stack_name}", ChangeSetName=change_set_id)
    final, events = _follow(cloudformation, stack_name, seen=seen, on_event=on_event, timeout=timeout, poll=poll,
                            done=lambda s: not s.endswith("_IN_PROGRESS"))  # fmt: skip
    if final not in _SUCCEEDED:
        raise HarnessError(_failure(stack_name, final, events))
    return stack_outputs(cloudformation, stack_name)


LAMBDA_FUNCTION_NAME_LIMIT = 64  # characters of a function name (Lambda CreateFunction: FunctionName, name only)
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")  # CloudFormation's stack name pattern


def check_stack_name(stack_name: str, template_body: str) -> None:
    """UsageError unless ``stack_name`` is a CloudFormation stack name short enough for every
    ``FunctionName: !Sub ${AWS::StackName}-<suffix>`` of the template to stay within Lambda's 64
    characters (53 with ``-aggregator``): CloudFormation would fail the create half-way."""
    if not _STACK_NAME.match(stack_name):
        raise UsageError(f"stack name {stack_name!r}: use letters, digits and '-', starting with a letter (CloudFormation's rule)")
    suffixes = re.findall(r"FunctionName:\s*!Sub\s+\$\{AWS::StackName\}(\S*)", template_body)
    longest = max(suffixes, key=len, default="")
    limit = LAMBDA_FUNCTION_NAME_LIMIT - len(longest)
    if len(stack_name) > limit:
        raise UsageError(
            f"stack name {stack_name!r} has {len(stack_name)} characters; at most {limit}, so that the function "
            f"{stack_name}{longest} stays within Lambda's {LAMBDA_FUNCTION_NAME_LIMIT}: pass a shorter --stack"
        )


def stack_outputs(cloudformation: Any, stack_name: str, *, where: str = "", deploy: str = "harness deploy") -> dict[str, str]:
    """The outputs of ``stack_name`` (``{"RunStateMachineArn": ..., ...}``); HarnessError if it
    does not exist, saying where (``where``: " in the running local stack") and how to deploy it."""
    stack = _describe(cloudformation, stack_name)
    if stack is None:
        raise HarnessError(f"stack {stack_name} does not exist{where}; deploy it first with `{deploy}`")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def destroy_stack(
    *,
    cloudformation: Any,
    stack_name: str,
    on_event: EventHandler | None = None,
    timeout: float = 3600.0,
    poll: float = 2.0,
) -> dict[str, str]:
    """Delete ``stack_name`` and wait until it is gone; the outputs it had ({} if there was no
    stack). The results bucket is kept (DeletionPolicy Retain): its name is in the outputs."""
    stack = _describe(cloudformation, stack_name)
    if stack is None:
        return {}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
    stack_id = stack["StackId"]  # a deleted stack is found by its id only
    seen = _newest_event_id(cloudformation, stack_id)
    _call(cloudformation.delete_stack, f"could not delete stack {stack_name}", StackName=stack_id)
    final, events = _follow(cloudformation, stack_id, seen=seen, on_event=on_event, timeout=timeout, poll=poll,
                            done=lambda s: s in ("DELETE_COMPLETE", "DELETE_FAILED"))  # fmt: skip
    if final != "DELETE_COMPLETE":
        cause = _root_cause(events) or final
        raise HarnessError(f"deleting stack {stack_name} failed: {cause}; fix that and destroy again (the stack is {final})")
    return outputs


def artifacts_bucket_name(*, account: str, region: str) -> str:
    """``harness-artifacts-<account>-<region>``: one per account and region, like SAM's."""
    return f"harness-artifacts-{account}-{region}"


def ensure_artifacts_bucket(*, s3: Any, sts: Any | None, name: str | None = None) -> str:
    """The artifacts bucket's name, after creating it if missing: in the S3 client's region,
    private (public access blocked, owner-enforced) and encrypted (SSE-S3)."""
    region = s3.meta.region_name or "us-east-1"
    if name is None:
        if sts is None:
            raise UsageError("naming the artifacts bucket needs an STS client (the account id); pass sts or artifacts_bucket")
        account = _call(sts.get_caller_identity, "could not read the account id (sts:GetCallerIdentity)")["Account"]
        name = artifacts_bucket_name(account=account, region=region)
    try:
        s3.head_bucket(Bucket=name)
        return name
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise HarnessError(
                f"artifacts bucket {name} exists but is not readable here ({code}): another account owns it, "
                "or this role lacks s3:ListBucket; pass another with --artifacts-bucket"
            ) from None
    except BotoCoreError as exc:
        raise HarnessError(f"could not reach S3 to check bucket {name}: {exc}") from None
    what = f"could not create the artifacts bucket {name}"
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        s3.create_bucket(Bucket=name, **location)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise HarnessError(f"{what}: {_message(exc)}") from None
    _call(s3.put_public_access_block, what, Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})  # fmt: skip
    _call(s3.put_bucket_encryption, what, Bucket=name, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})  # fmt: skip
    _call(s3.put_bucket_ownership_controls, what, Bucket=name,
          OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})  # fmt: skip
    return name


# --------------------------------------------------------------------------- the template


def _read_template(template: Path) -> str:
    try:
        body = template.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{template}: cannot read the template ({exc.strerror or exc})") from None
    if len(body.encode()) > _TEMPLATE_BODY_LIMIT:
        raise UsageError(f"{template} is over CloudFormation's {_TEMPLATE_BODY_LIMIT:,}-byte TemplateBody limit; shorten it")
    return body


def _template_parameters(cloudformation: Any, body: str, template: Path) -> list[str]:
    """The parameters ``template`` declares (CloudFormation reads it: a template error shows here)."""
    summary = _call(cloudformation.get_template_summary, f"CloudFormation rejected {template}", TemplateBody=body)
    return [p["ParameterKey"] for p in summary.get("Parameters", [])]


def _definition_files(template: Path, definitions: Mapping[str, Path] | None) -> dict[str, Path]:
    files = dict(definitions) if definitions is not None else {k: template.parent / v for k, v in DEFINITIONS.items()}
    for path in files.values():
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"{path}: cannot read the state machine definition ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise UsageError(f"{path}: the state machine definition is not valid JSON ({exc})") from None
    return files


def _upload(s3: Any, bucket: str, stem: str, path: Path, *, suffix: str) -> str:
    """Put ``path`` at ``<stem>-<sha256><suffix>`` unless it is already there; the key."""
    data = path.read_bytes()
    key = f"{stem}-{hashlib.sha256(data).hexdigest()}{suffix}"
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return key  # the same content, uploaded before
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) not in ("404", "NoSuchKey", "NotFound"):
            raise HarnessError(f"could not check s3://{bucket}/{key}: {_message(exc)}") from None
    except BotoCoreError as exc:
        raise HarnessError(f"could not reach S3 to upload {path.name}: {exc}") from None
    _call(s3.put_object, f"could not upload {path} to s3://{bucket}/{key}", Bucket=bucket, Key=key, Body=data)
    return key


# --------------------------------------------------------------------------- change sets


def _create_change_set(
    cloudformation: Any, stack_name: str, change_type: str, body: str, parameters: list[dict[str, Any]], *, poll: float, timeout: float
) -> str | None:
    """Create a change set and wait until it is ready: its id, or None when nothing changes."""
    name = f"harness-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"
    try:
        change_set_id = cloudformation.create_change_set(
            StackName=stack_name,
            ChangeSetName=name,
            ChangeSetType=change_type,
            TemplateBody=body,
            Parameters=parameters,
            Capabilities=["CAPABILITY_IAM"],
            Description="harness deploy",
        )["Id"]
    except ClientError as exc:
        if any(text in _message(exc) for text in _NO_CHANGES):
            return None
        raise HarnessError(f"CloudFormation rejected the change set for stack {stack_name}: {_message(exc)}") from None
    except BotoCoreError as exc:
        raise HarnessError(f"could not create a change set for stack {stack_name}: {_one_line(str(exc))}") from None
    deadline = time.monotonic() + timeout
    while True:
        described = _call(cloudformation.describe_change_set, f"could not read change set {name}", ChangeSetName=change_set_id)
        status = described.get("Status", "")
        if status == "CREATE_COMPLETE":
            return change_set_id
        if status == "FAILED":
            reason = described.get("StatusReason") or "no reason given"
            _call(cloudformation.delete_change_set, f"could not delete change set {name}", ChangeSetName=change_set_id)
            if any(text in reason for text in _NO_CHANGES):
                return None
            raise HarnessError(f"CloudFormation rejected the change set for stack {stack_name}: {_one_line(reason)}")
        if time.monotonic() > deadline:
            raise HarnessError(f"change set {name} of stack {stack_name} is still {status} after {timeout:.0f} s; see the CloudFormation console")
        time.sleep(poll)


# --------------------------------------------------------------------------- stack events


def _follow(
    cloudformation: Any,
    stack: str,
    *,
    seen: str | None,
    on_event: EventHandler | None,
    timeout: float,
    poll: float,
    done: Callable[[str], bool],
) -> tuple[str, list[dict[str, Any]]]:
    """Poll the stack's status and new events until ``done(status)`` and the stack's own event
    for that status has come (a status read just after ExecuteChangeSet may still be the
    previous one); (status, the new events)."""
    deadline = time.monotonic() + timeout
    events: list[dict[str, Any]] = []
    while True:
        described = _describe(cloudformation, stack)
        status = described["StackStatus"] if described else "DELETE_COMPLETE"
        fresh = _events_since(cloudformation, stack, seen) if described else []  # after the status: none is missed
        if fresh:
            seen = fresh[-1]["EventId"]
            events += fresh
            for event in fresh:
                if on_event is not None:
                    on_event(event)
        if described is None or (done(status) and any(_is_stack_event(e, status) for e in events)):
            return status, events
        if time.monotonic() > deadline:
            raise HarnessError(f"stack {stack} is still {status} after {timeout:.0f} s; it goes on in CloudFormation (see its events there)")
        time.sleep(poll)


def _is_stack_event(event: dict[str, Any], status: str) -> bool:
    """Whether ``event`` is the stack's own (not a resource's) and reports ``status``."""
    return event.get("PhysicalResourceId") == event.get("StackId") and event.get("ResourceStatus") == status


def _newest_event_id(cloudformation: Any, stack: str) -> str | None:
    try:
        page = cloudformation.describe_stack_events(StackName=stack)
    except ClientError:
        return None  # no stack yet
    except BotoCoreError as exc:
        raise HarnessError(f"could not read the events of stack {stack}: {exc}") from None
    events = page.get("StackEvents", [])
    return events[0]["EventId"] if events else None


def _events_since(cloudformation: Any, stack: str, seen: str | None) -> list[dict[str, Any]]:
    """The events newer than ``seen``, oldest first (DescribeStackEvents lists newest first)."""
    fresh: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StackName": stack}
    while True:
        page = _call(cloudformation.describe_stack_events, f"could not read the events of stack {stack}", **kwargs)
        for event in page.get("StackEvents", []):
            if event["EventId"] == seen:
                return fresh[::-1]
            fresh.append(event)
        if not page.get("NextToken"):
            return fresh[::-1]
        kwargs["NextToken"] = page["NextToken"]


def _root_cause(events: list[dict[str, Any]]) -> str | None:
    """The first failed resource and its reason, skipping the ones cancelled because of it."""
    failed = [e for e in events if str(e.get("ResourceStatus", "")).endswith("_FAILED")]
    real = [e for e in failed if not str(e.get("ResourceStatusReason", "")).startswith(_CANCELLED)] or failed
    resources = [e for e in real if e.get("ResourceType") != "AWS::CloudFormation::Stack"] or real
    if not resources:
        return None
    e = resources[0]
    reason = _one_line(e.get("ResourceStatusReason") or "no reason given")
    return f"{e['LogicalResourceId']} ({e.get('ResourceType', '?')}) {e['ResourceStatus']}: {reason}"


def _failure(stack_name: str, final: str, events: list[dict[str, Any]]) -> str:
    cause = _root_cause(events) or f"the stack ended {final}"
    outcome = {
        "ROLLBACK_COMPLETE": "it was rolled back and holds nothing; fix the cause and deploy again",
        "UPDATE_ROLLBACK_COMPLETE": "the update was rolled back and the previous version still runs; fix the cause and deploy again",
        "ROLLBACK_FAILED": "the rollback failed too; delete the stack (harness destroy) and deploy again",
        "UPDATE_ROLLBACK_FAILED": "the rollback failed too; use Continue update rollback in the CloudFormation console, or destroy and deploy again",
    }.get(final, f"the stack is {final}")
    return f"deploying stack {stack_name} failed: {cause}; {outcome}"


# --------------------------------------------------------------------------- plumbing


def _describe(cloudformation: Any, stack: str) -> dict[str, Any] | None:
    """DescribeStacks for one stack; None when it does not exist."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack).get("Stacks", [])
    except ClientError as exc:
        if "does not exist" in _message(exc):
            return None
        raise HarnessError(f"could not describe stack {stack}: {_message(exc)}") from None
    except BotoCoreError as exc:
        raise HarnessError(f"could not reach CloudFormation to describe stack {stack}: {_one_line(str(exc))}") from None
    return stacks[0] if stacks else None


def _call(method: Callable[..., Any], what: str, **kwargs: Any) -> Any:
    """``method(**kwargs)``; an AWS error becomes one HarnessError line starting with ``what``."""
    try:
        return method(**kwargs)
    except ClientError as exc:
        raise HarnessError(f"{what}: {_message(exc)}") from None
    except BotoCoreError as exc:
        raise HarnessError(f"{what}: {_one_line(str(exc))}") from None


def _message(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return _one_line(f"{error.get('Code', 'Error')}: {error.get('Message', str(exc))}")


def _one_line(text: str, width: int = 500) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 3] + "..."
