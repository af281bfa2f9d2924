"""moto's CloudFormation, close enough to AWS's for ``infra/fanout.yaml`` and ``harness deploy``.

``install()`` (applied in the server process: ``python -m harness.local.moto --patch
harness.local.cloudformation:install``, or listed in ``DEFAULT_PATCHES``) changes five things:

- **State machines land where they run.** moto's CloudFormation creates
  ``AWS::StepFunctions::StateMachine`` in its plain Step Functions backend, which the API does not
  read once ``execute_state_machine`` is on: the stack said CREATE_COMPLETE, yet ListStateMachines
  was empty. They now go to the backend the API uses.
- **State machine properties.** moto reads only ``DefinitionString``, ``RoleArn``,
  ``StateMachineName`` and ``Tags``. Added: ``Definition``, ``DefinitionS3Location`` (read from
  moto's S3) and ``DefinitionSubstitutions`` (``${Name}`` replaced, as AWS does), plus
  ``StateMachineType``, ``LoggingConfiguration`` and ``TracingConfiguration``.
- **Change sets keep the stack's outputs.** After ExecuteChangeSet moto left the outputs of the
  stack as they were before (none, for a new stack); they are now rebuilt from the template.
- **Failures are stack events, as on AWS.** moto wrote only the stack's own events and let an
  error in a resource escape ExecuteChangeSet as an HTTP error (often an unparsable one). Each
  resource now gets ``CREATE_IN_PROGRESS``/``CREATE_COMPLETE``/``CREATE_FAILED`` (and the UPDATE and
  DELETE ones) with the reason; a failed create is rolled back (``ROLLBACK_COMPLETE``). moto cannot
  undo an update, so a failed update ends ``UPDATE_ROLLBACK_FAILED`` and says so.
- **A role's inline policies are JSON.** moto kept ``AWS::IAM::Role`` ``Policies`` as the
  template's dicts, and ``GetRolePolicy`` answered their Python repr, which no client parses;
  they are stored as JSON text, as ``PutRolePolicy`` stores them.

Nothing here runs against AWS; it only makes moto answer the way AWS does::

    from harness.local.cloudformation import install
    install()        # before the server handles its first request; idempotent
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["install"]

_installed = False


def install() -> None:
    """Patch moto's CloudFormation and Step Functions models in this process (once)."""
    global _installed
    if _installed:
        return
    _state_machines()
    _change_sets()
    _resource_events()
    _role_policies_as_json()
    _installed = True


# --------------------------------------------------------------------------- IAM role policies


def _role_policies_as_json() -> None:
    from moto.iam.models import Role

    put_policy = Role.put_policy

    def put(self: Any, policy_name: str, policy_json: Any) -> None:
        put_policy(self, policy_name, policy_json if isinstance(policy_json, str) else json.dumps(policy_json))

    Role.put_policy = put


# --------------------------------------------------------------------------- state machines


class _ApiBackends:
    """``stepfunctions_backends[account][region]`` as the API sees it: moto's executing backend
    when ``execute_state_machine`` is configured, its plain one otherwise."""

    def __getitem__(self, account_id: str) -> Any:
        from moto.stepfunctions.responses import get_backend

        class _Regions:
            def __getitem__(self, region_name: str) -> Any:
                return get_backend(account_id, region_name)

        return _Regions()


def _state_machines() -> None:
    from moto.stepfunctions import models
    from moto.stepfunctions.utils import cfn_to_api_tags

    models.stepfunctions_backends = _ApiBackends()  # type: ignore[assignment]  # a stand-in, read by StateMachine's CloudFormation methods only
    cls = models.StateMachine

    def create(cls_: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
        props = cloudformation_json["Properties"]
        backend = models.stepfunctions_backends[account_id][region_name]
        return backend.create_state_machine(
            name=props.get("StateMachineName", resource_name),
            definition=_definition(props, account_id, region_name),
            roleArn=props.get("RoleArn", ""),
            tags=cfn_to_api_tags(props.get("Tags", [])),
            loggingConfiguration=_api_shape(props.get("LoggingConfiguration")),
            tracingConfiguration=_api_shape(props.get("TracingConfiguration")),
            sm_type=props.get("StateMachineType"),
        )

    def update(cls_: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> Any:
        props = cloudformation_json.get("Properties", {})
        name = props.get("StateMachineName", original_resource.name)
        if name != original_resource.name:  # a new name replaces the state machine
            new = create(cls_, name, cloudformation_json, account_id, region_name)
            cls.delete_from_cloudformation_json(original_resource.arn, cloudformation_json, account_id, region_name)
            return new
        backend = models.stepfunctions_backends[account_id][region_name]
        return backend.update_state_machine(
            original_resource.arn,
            definition=_definition(props, account_id, region_name),
            role_arn=props.get("RoleArn"),
            logging_configuration=_api_shape(props.get("LoggingConfiguration")),
            tracing_configuration=_api_shape(props.get("TracingConfiguration")),
        )

    cls.create_from_cloudformation_json = classmethod(create)  # type: ignore[assignment]
    cls.update_from_cloudformation_json = classmethod(update)  # type: ignore[assignment]


def _definition(props: dict[str, Any], account_id: str, region_name: str) -> str:
    """The ASL text of a state machine resource, substituted as AWS does."""
    if "DefinitionString" in props:
        text = props["DefinitionString"]
    elif "Definition" in props:
        text = json.dumps(props["Definition"])
    elif "DefinitionS3Location" in props:
        text = _s3_text(props["DefinitionS3Location"], account_id, region_name)
    else:
        raise ValueError("InvalidDefinition", "one of Definition, DefinitionString or DefinitionS3Location is required")
    for name, value in (props.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + name + "}", value if isinstance(value, str) else json.dumps(value))
    return text


def _s3_text(location: dict[str, Any], account_id: str, region_name: str) -> str:
    from moto.s3.exceptions import MissingBucket
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    bucket, key = location.get("Bucket", ""), location.get("Key", "")
    try:
        obj = s3_backends[account_id][get_partition(region_name)].get_object(bucket, key, version_id=location.get("Version"))
    except MissingBucket:
        obj = None
    if obj is None:
        raise ValueError("InvalidDefinition", f"DefinitionS3Location s3://{bucket}/{key} does not exist")
    return obj.value.decode("utf-8")


def _api_shape(value: Any) -> Any:
    """CloudFormation's PascalCase keys -> the API's camelCase (``LogGroupArn`` -> ``logGroupArn``)."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _api_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_api_shape(item) for item in value]
    return value


# --------------------------------------------------------------------------- change sets


def _change_sets() -> None:
    from moto.cloudformation.models import CloudFormationBackend

    execute = CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)  # ValidationError if unknown
        stack = self.stacks[change_set.stack_id]
        try:
            execute(self, change_set_name, stack_name)
        except Exception as exc:  # on AWS a failed execution is a stack status, not an API error
            _roll_back(stack, change_set, exc)
            return
        stack.parameters = dict(change_set.parameters)
        stack._parse_template()  # moto set stack.template, not the parsed template the outputs come from
        stack.output_map = stack._create_output_map()

    CloudFormationBackend.execute_change_set = execute_change_set


def _roll_back(stack: Any, change_set: Any, exc: BaseException) -> None:
    """What AWS does after a resource failed: events, rollback, a final status."""
    change_set.execution_status = "EXECUTE_FAILED"
    failed = [e.logical_resource_id for e in stack.events if e.resource_status.endswith("_FAILED") and e.logical_resource_id != stack.name]
    if not failed:  # the error came from outside any one resource (a parameter, a reference...)
        stack._add_stack_event(f"{change_set.change_set_type}_FAILED", resource_status_reason=_reason(exc))
    names = ", ".join(dict.fromkeys(failed)) or stack.name
    if change_set.change_set_type == "CREATE":
        stack._add_stack_event(
            "ROLLBACK_IN_PROGRESS",
            resource_status_reason=f"The following resource(s) failed to create: [{names}]. Rollback requested by user.",
        )
        try:
            stack.resource_map.delete()
        except Exception as err:
            stack._add_stack_event("ROLLBACK_FAILED", resource_status_reason=_reason(err))
            stack.status = "ROLLBACK_FAILED"
            return
        stack._add_stack_event("ROLLBACK_COMPLETE")
        stack.status = "ROLLBACK_COMPLETE"
    else:
        stack._add_stack_event(
            "UPDATE_ROLLBACK_FAILED",
            resource_status_reason=f"The following resource(s) failed to update: [{names}]. "
            "The local stack (moto) cannot roll an update back: resources may be partly updated.",
        )
        stack.status = "UPDATE_ROLLBACK_FAILED"


# --------------------------------------------------------------------------- resource events


def _resource_events() -> None:
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import parsing

    create, update = parsing.parse_and_create_resource, parsing.parse_and_update_resource
    delete = parsing.ResourceMap._delete_resource
    make_map = cfn_models.Stack._create_resource_map

    def create_resource_map(self: Any) -> Any:
        resource_map = make_map(self)
        setattr(resource_map, "_harness_stack", self)  # noqa: B010 - the stack whose events a resource's events join
        return resource_map

    def parse_and_create_resource(logical_id: str, resource_json: Any, resources_map: Any, account_id: str, region_name: str) -> Any:
        stack = getattr(resources_map, "_harness_stack", None)
        kind = resource_json.get("Type", "")
        _event(stack, logical_id, kind, "CREATE_IN_PROGRESS")
        try:
            resource = create(logical_id, resource_json, resources_map, account_id, region_name)
        except Exception as exc:
            _event(stack, logical_id, kind, "CREATE_FAILED", reason=_reason(exc))
            raise
        if resource is not None:
            _event(stack, logical_id, kind, "CREATE_COMPLETE", physical_id=_physical_id(resource))
        return resource

    def parse_and_update_resource(logical_id: str, resource_json: Any, resources_map: Any, account_id: str, region_name: str) -> Any:
        stack = getattr(resources_map, "_harness_stack", None)
        kind = resource_json.get("Type", "")
        original = resources_map._parsed_resources.get(logical_id)
        _event(stack, logical_id, kind, "UPDATE_IN_PROGRESS")
        try:
            resource = update(logical_id, resource_json, resources_map, account_id, region_name)
        except Exception as exc:
            _event(stack, logical_id, kind, "UPDATE_FAILED", reason=_reason(exc))
            raise
        if resource is None and original is not None:
            # moto has no update for this type and would forget the resource (a GetAtt on it then
            # fails); keep it, and say that it was not changed.
            _event(stack, logical_id, kind, "UPDATE_COMPLETE", physical_id=_physical_id(original),
                   reason=f"the local stack (moto) cannot update {kind}: kept as it was")  # fmt: skip
            return original
        _event(stack, logical_id, kind, "UPDATE_COMPLETE", physical_id=_physical_id(resource))
        return resource

    def delete_resource(self: Any, parsed_resource: Any, resource_json: Any) -> None:
        stack = getattr(self, "_harness_stack", None)
        logical_id = getattr(parsed_resource, "logical_resource_id", "") or ""
        kind = resource_json.get("Type", "") if isinstance(resource_json, dict) else ""
        physical_id = _physical_id(parsed_resource)
        _event(stack, logical_id, kind, "DELETE_IN_PROGRESS", physical_id=physical_id)
        try:
            delete(self, parsed_resource, resource_json)
        except Exception as exc:
            _event(stack, logical_id, kind, "DELETE_FAILED", physical_id=physical_id, reason=_reason(exc))
            raise
        _event(stack, logical_id, kind, "DELETE_COMPLETE", physical_id=physical_id)

    cfn_models.Stack._create_resource_map = create_resource_map
    parsing.parse_and_create_resource = parse_and_create_resource
    parsing.parse_and_update_resource = parse_and_update_resource
    parsing.ResourceMap._delete_resource = delete_resource


def _event(stack: Any, logical_id: str, kind: str, status: str, *, physical_id: str = "", reason: str | None = None) -> None:
    if stack is None or not logical_id:
        return
    from moto.cloudformation.models import Event

    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical_id,
            resource_type=kind,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


def _physical_id(resource: Any) -> str:
    try:
        return str(getattr(resource, "physical_resource_id", "") or "")
    except Exception:  # some models compute it and may fail half-built
        return ""


def _reason(exc: BaseException) -> str:
    """One line, like a CloudFormation ResourceStatusReason: ``Code: message``."""
    code = getattr(exc, "error_type", None) or getattr(exc, "code", None)
    message = getattr(exc, "message", None)
    if isinstance(code, str) and isinstance(message, str) and message:
        text = f"{code}: {message}"
    elif len(exc.args) > 1 and all(isinstance(a, str) for a in exc.args):
        text = ": ".join(exc.args)  # moto's ValueError("InvalidParameterValueException", "...")
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())
