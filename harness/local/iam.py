"""IAM for the stack's own roles, enforced in the moto process as AWS enforces it.

moto checks no permission unless ``INITIAL_NO_AUTH_ACTION_COUNT`` is set, and then it checks
every caller (the CLI's ``testing`` key would be refused), evaluates S3 against the operation
name instead of the IAM action (``s3:HeadObject`` rather than ``s3:GetObject``), matches the
other services against ``*`` instead of the resource, and answers in IAM's shape whatever the
service. ``install()`` (applied in the server process by ``python -m harness.local.moto``)
replaces that check:

- **Who is checked.** A request signed with the temporary key of an assumed role
  (``sts:AssumeRole`` on moto; the local Lambda runtime runs each invocation with its execution
  role's, and moto's Step Functions interpreter, patched here by ``install_state_machines()``,
  calls Lambda and S3 with the state machine's) must carry that session's token and is checked
  against the role's policies. Any other key is the CLI's administrator and is allowed, as are
  unsigned requests (Cognito's public ``InitiateAuth``, which AWS does not sign either).
- **What is checked.** The IAM action, not the operation (S3: ``HeadObject`` needs
  ``s3:GetObject``, ``HeadBucket`` and ``ListObjectsV2`` need ``s3:ListBucket``; Lambda:
  ``Invoke`` needs ``lambda:InvokeFunction``), on the resource's real ARN: S3 bucket and object,
  Secrets Manager secret (with its random suffix), Cognito user pool, log group and stream,
  Lambda function, Step Functions state machine and execution; ``*`` for actions without one.
- **How.** As IAM evaluates identity-based policies (inline and attached): an explicit Deny
  wins, else an Allow is needed. ``Action``/``NotAction`` and ``Resource``/``NotResource`` with
  ``*`` and ``?`` wildcards (actions case-insensitive); ``Condition`` with the ``String*``
  operators and ``Null`` on the request context (``s3:prefix``, ``aws:PrincipalArn``...). A
  condition this module does not know never grants and always denies: ambiguous is refused.
- **The refusal** has the service's shape: S3 a 403 ``AccessDenied`` (XML); JSON services
  ``AccessDeniedException``; query services ``AccessDenied``; the message as AWS words it::

      User: arn:aws:sts::123456789012:assumed-role/<role>/<session> is not authorized to perform:
      s3:GetObject on resource: "arn:aws:s3:::bucket/key" because no identity-based policy
      allows the s3:GetObject action

- **A missing object** is a 404 only for a caller that may also ``s3:ListBucket`` the bucket;
  otherwise S3 answers 403 (AWS's HeadObject/GetObject documentation: "If you don't have the
  s3:ListBucket permission, Amazon S3 returns an HTTP status code 403 Forbidden error"). That
  implicit ListBucket check is evaluated with no ``s3:prefix`` in the context: HeadObject and
  GetObject send no prefix, and whether AWS fills one in from the key is not documented, so a
  grant conditional on ``s3:prefix`` does not count here (ambiguous is refused).

Every checked call is recorded (``calls()``; ``GET /_harness/iam/calls`` on the server), so a
test can replay the calls of one real run against a reduced policy with ``evaluate()``::

    from harness.local.iam import evaluate, Decision
    evaluate([policy_document], "s3:GetObject", "arn:aws:s3:::b/runs/1/stop.json") is Decision.ALLOWED
"""

from __future__ import annotations

import enum
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "STATES_SESSION",
    "Call",
    "Decision",
    "RoleCredentials",
    "authorize",
    "calls",
    "denial_message",
    "evaluate",
    "install",
    "role_credentials",
    "role_policies",
]

log = logging.getLogger(__name__)

PARTITION = "aws"
_MAX_CALLS = 20_000
# The botocore operation (or moto's S3 action) -> the IAM action, where they differ.
_IAM_ACTIONS = {
    ("s3", "HeadBucket"): "ListBucket",
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeFunction",
}
# What IAM calls the service whose requests are signed with another name.
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}


class Decision(enum.Enum):
    """The outcome of evaluating identity-based policies for one request."""

    ALLOWED = "allowed"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


@dataclass(frozen=True, kw_only=True)
class Call:
    """One checked request: who, which action on which resource, with what context, and the answer."""

    principal: str
    role_arn: str
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)
    decision: str = Decision.ALLOWED.value


# --------------------------------------------------------------------------- evaluation


@lru_cache(maxsize=1024)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches(patterns: Any, value: str, *, ignore_case: bool) -> bool:
    items = [patterns] if isinstance(patterns, str) else list(patterns or [])
    return any(_pattern(str(p), ignore_case).match(value) for p in items)


_OPERATORS = frozenset({"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike", "Null"})


def _condition_holds(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool | None:
    """True/False when every operator of ``condition`` holds or not; None when one is unknown."""
    if any(op.removesuffix("IfExists") not in _OPERATORS or not isinstance(t, Mapping) for op, t in condition.items()):
        return None
    for operator, tests in condition.items():
        base = operator.removesuffix("IfExists")
        if_exists = base != operator
        for key, expected in tests.items():
            values = [expected] if isinstance(expected, (str, bool)) else list(expected)
            actual = next((v for k, v in context.items() if k.lower() == key.lower()), None)
            if base == "Null":
                wanted = str(values[0]).lower() == "true"
                if (actual is None) != wanted:
                    return False
                continue
            negated = base in ("StringNotEquals", "StringNotLike", "StringNotEqualsIgnoreCase")
            if actual is None:  # a key the request does not have: only IfExists and negations hold
                if not (if_exists or negated):
                    return False
                continue
            if base in ("StringEquals", "StringNotEquals"):
                hit = actual in [str(v) for v in values]
            elif base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
                hit = actual.lower() in [str(v).lower() for v in values]
            else:  # StringLike, StringNotLike
                hit = _matches([str(v) for v in values], actual, ignore_case=False)
            if hit == negated:
                return False
    return True


def _statements(document: Any) -> list[Mapping[str, Any]]:
    try:
        doc = json.loads(document) if isinstance(document, (str, bytes)) else document
    except ValueError:  # IAM refuses such a document; here it grants nothing
        log.warning("IAM: a policy document is not JSON, so it allows nothing: %.200s", document)
        return []
    statements = doc.get("Statement", []) if isinstance(doc, Mapping) else []
    return [statements] if isinstance(statements, Mapping) else list(statements)


def evaluate(documents: Iterable[Any], action: str, resource: str, context: Mapping[str, str] | None = None) -> Decision:
    """Evaluate identity-based policy ``documents`` (JSON text or dicts) for one request.

    An explicit Deny wins; otherwise an Allow is needed (IAM's policy evaluation logic for one
    account without resource policies, boundaries or session policies)."""
    context = context or {}
    allowed = False
    for document in documents:
        for statement in _statements(document):
            if "Action" in statement:
                concerned = _matches(statement["Action"], action, ignore_case=True)
            else:
                concerned = not _matches(statement.get("NotAction"), action, ignore_case=True)
            if not concerned:
                continue
            if "Resource" in statement:
                concerned = _matches(statement["Resource"], resource, ignore_case=False)
            else:
                concerned = not _matches(statement.get("NotResource"), resource, ignore_case=False)
            if not concerned:
                continue
            holds = _condition_holds(statement.get("Condition") or {}, context)
            if statement.get("Effect") == "Deny":
                if holds is not False:  # unknown: the Deny applies (refuse the ambiguous)
                    return Decision.EXPLICIT_DENY
            elif statement.get("Effect") == "Allow" and holds is True:
                allowed = True
    return Decision.ALLOWED if allowed else Decision.IMPLICIT_DENY


def denial_message(principal: str, action: str, resource: str, decision: Decision, *, quote: bool = False) -> str:
    """AWS's wording of a refusal (S3 quotes the resource)."""
    shown = f'"{resource}"' if quote else resource
    if decision is Decision.EXPLICIT_DENY:
        why = "with an explicit deny in an identity-based policy"
    else:
        why = f"because no identity-based policy allows the {action} action"
    return f"User: {principal} is not authorized to perform: {action} on resource: {shown} {why}"


def role_policies(account_id: str, role_arn: str) -> list[Any]:
    """The policy documents of role ``role_arn`` in moto's IAM: inline, then attached managed."""
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account_id][PARTITION].get_role_by_arn(role_arn)
    except Exception:  # a role that is gone has no permissions
        return []
    documents: list[Any] = list(role.policies.values())  # JSON text, or a dict when CloudFormation made it
    for policy in role.managed_policies.values():
        version = next((v for v in policy.versions if v.is_default), None)
        if version is not None:
            documents.append(version.document)
    return documents


# --------------------------------------------------------------------------- role sessions


@dataclass(frozen=True, kw_only=True)
class RoleCredentials:
    """Temporary credentials of a session of a role (what ``sts:AssumeRole`` answers)."""

    access_key_id: str
    secret_access_key: str
    session_token: str


def _account_of(arn: str) -> str:
    """The account of an ARN (``arn:aws:iam::<account>:role/...``); moto's default without one."""
    from moto.core import DEFAULT_ACCOUNT_ID

    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else DEFAULT_ACCOUNT_ID


_SESSION_S = 3600
_RENEW_AFTER_S = 3000.0
_sessions: dict[tuple[str, str], tuple[RoleCredentials, float]] = {}
_sessions_lock = threading.Lock()


def role_credentials(role_arn: str, *, session_name: str, region: str) -> RoleCredentials:
    """Credentials of session ``session_name`` of ``role_arn``: moto's ``sts:AssumeRole`` in this
    process, reused for 50 of their 60 minutes, as AWS services keep a role's credentials fresh
    for the function or state machine that acts with it."""
    from moto.sts.models import sts_backends

    account = _account_of(role_arn)  # moto assumes a role in the role's account
    key = (role_arn, session_name)
    now = time.monotonic()
    with _sessions_lock:
        cached = _sessions.get(key)
        if cached is not None and now - cached[1] < _RENEW_AFTER_S:
            return cached[0]
        assumed = sts_backends[account][PARTITION].assume_role(
            region_name=region, role_session_name=session_name, role_arn=role_arn,
            policy="", duration=_SESSION_S, external_id="",
        )  # fmt: skip
        creds = RoleCredentials(access_key_id=assumed.access_key_id, secret_access_key=assumed.secret_access_key, session_token=assumed.session_token)
        _sessions[key] = (creds, now)
        return creds


# --------------------------------------------------------------------------- the record

_calls: deque[Call] = deque(maxlen=_MAX_CALLS)
_calls_lock = threading.Lock()


def calls() -> list[dict[str, Any]]:
    """The checked calls so far (the latest ``_MAX_CALLS``), oldest first, as JSON-ready dicts."""
    with _calls_lock:
        return [asdict(c) | {"context": dict(c.context)} for c in _calls]


def _record(call: Call) -> None:
    with _calls_lock:
        _calls.append(call)


def authorize(
    principal: str,
    role_arn: str,
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
    *,
    policies: list[Any] | None = None,
) -> Decision:
    """Evaluate one call of ``principal`` (a session of ``role_arn``) and record it.

    For what an AWS service does with a function's role besides the function's own calls (Lambda
    writing the function's logs); ``policies`` defaults to the role's in moto's IAM."""
    if policies is None:
        policies = role_policies(_account_of(role_arn), role_arn)
    decision = evaluate(policies, action, resource, context)
    _record(Call(principal=principal, role_arn=role_arn, action=action, resource=resource, context=dict(context or {}), decision=decision.value))
    return decision


# --------------------------------------------------------------------------- the request


@dataclass(frozen=True, kw_only=True)
class _Session:
    principal: str
    role_arn: str
    account_id: str


def _credential(headers: Any) -> tuple[str, str, str] | None:
    """(access key id, region, signing service) of a SigV4-signed request, or None if unsigned."""
    auth = headers.get("Authorization") or ""
    scope = auth.partition("Credential=")[2].partition(",")[0].split("/")
    if len(scope) < 4 or not scope[0]:
        return None
    return scope[0], scope[2], scope[3]


def _session(account_id: str, key_id: str, token: str | None) -> _Session | None:
    """The assumed-role session of ``key_id``; None for any other key (the administrator)."""
    from moto.sts.models import sts_backends

    accounts = [account_id, *(a for a in list(sts_backends.keys()) if a != account_id)]
    for account in accounts:
        for assumed in list(sts_backends[account][PARTITION].assumed_roles):
            if assumed.access_key_id == key_id:
                if token != assumed.session_token:
                    raise _invalid_token()
                return _Session(principal=assumed.arn, role_arn=assumed.role_arn, account_id=assumed.account_id)
    return None


def _invalid_token() -> Exception:
    from moto.core.exceptions import InvalidClientTokenIdError

    return InvalidClientTokenIdError()


def _params(response: Any) -> dict[str, Any]:
    body = getattr(response, "body", None)
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if isinstance(body, str) and body.strip().startswith("{"):
        try:
            data = json.loads(body)
            return data if isinstance(data, dict) else {}
        except ValueError:
            return {}
    return {}


def _resource(service: str, action: str, params: Mapping[str, Any], response: Any, region: str, account: str) -> str:
    """The ARN IAM evaluates ``service:action`` against; ``*`` for actions without a resource."""
    arn = f"arn:{PARTITION}:{service}:{region}:{account}"
    if service == "secretsmanager":
        secret_id = params.get("SecretId") or params.get("Name")
        if not secret_id:
            return "*"
        from moto.secretsmanager.models import secretsmanager_backends

        secret = secretsmanager_backends[account][region].secrets.get(str(secret_id))
        if secret is not None:
            return str(secret.arn)
        return str(secret_id) if str(secret_id).startswith("arn:") else f"{arn}:secret:{secret_id}"
    if service == "cognito-idp":
        pool = params.get("UserPoolId")
        return f"{arn}:userpool/{pool}" if pool else "*"
    if service == "logs":
        group = params.get("logGroupName")
        if not group:
            return "*"
        stream = params.get("logStreamName")
        return f"{arn}:log-group:{group}:log-stream:{stream}" if stream else f"{arn}:log-group:{group}:*"
    if service == "states":
        return str(params.get("stateMachineArn") or params.get("executionArn") or params.get("mapRunArn") or "*")
    if service == "lambda":
        match = re.search(r"/functions/([^/]+)", getattr(response, "raw_path", "") or getattr(response, "path", "") or "")
        if not match:
            return "*"
        name = match.group(1).replace("%3A", ":")
        return name if name.startswith("arn:") else f"{arn}:function:{name}"
    return "*"


def _s3_context(response: Any) -> dict[str, str]:
    query = getattr(response, "querystring", None) or {}
    prefix = query.get("prefix")
    if isinstance(prefix, list):
        prefix = prefix[0] if prefix else None
    return {"s3:prefix": prefix} if prefix is not None else {}


def _refuse(response: Any, *, s3: bool, session: _Session, action: str, resource: str, decision: Decision) -> Exception:
    message = denial_message(session.principal, action, resource, decision, quote=s3)
    if s3:
        from moto.s3.exceptions import S3AccessDeniedError

        s3_error = S3AccessDeniedError()
        s3_error.message = message
        return s3_error
    from moto.core.exceptions import JsonRESTError, _RESTError

    protocol = _protocol(response)
    if protocol in ("json", "rest-json"):
        error = JsonRESTError("AccessDeniedException", message)
        # Lambda's API reference, Common Errors: AccessDeniedException is HTTP 403; the older
        # JSON services' Common Errors pages list it as 400 (not checked for each service)
        error.code = 403 if protocol == "rest-json" else 400
        return error
    query_error = _RESTError("AccessDenied", message)
    query_error.code = 403
    return query_error


def _protocol(response: Any) -> str:
    try:
        from moto.core.utils import get_service_model

        return str(get_service_model(response.boto3_service_name).protocol)
    except Exception:
        return "query"


def _object_missing(response: Any, resource: str) -> tuple[str, str] | None:
    """(bucket, key) when ``resource`` is an object that does not exist; None otherwise."""
    bucket, _, key = resource.removeprefix(f"arn:{PARTITION}:s3:::").partition("/")
    if not key:
        return None
    try:
        found = response.backend.get_object(bucket, key)
    except Exception:  # no such bucket: moto's own answer follows
        return None
    return (bucket, key) if found is None else None


def check(response: Any, iam_request_cls: type, resource: str = "*") -> None:
    """moto's ``_authenticate_and_authorize_action``, with IAM as AWS evaluates it (module docstring)."""
    from moto.core.authorization import ActionAuthenticatorMixin

    headers = response.headers
    credential = _credential(headers)
    if credential is None or headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    key_id, region, signing = credential
    session = _session(response.current_account, key_id, headers.get("X-Amz-Security-Token"))
    if session is None:
        return  # the administrator (the CLI's own credentials)
    s3 = iam_request_cls.__name__.startswith("S3")
    service = "s3" if s3 else _IAM_PREFIX.get(signing, signing)
    if s3:
        operation = str((getattr(response, "data", None) or {}).get("Action") or response._get_action())
        context = _s3_context(response)
    else:
        operation = str(response._get_action())
        params = _params(response)
        resource = _resource(service, operation, params, response, region, session.account_id)
        context = {}
    action = f"{service}:{_IAM_ACTIONS.get((service, operation), operation)}"
    if action == "sts:GetCallerIdentity":  # "No permissions are required to perform this operation" (STS API)
        return
    context = {"aws:PrincipalArn": session.role_arn, "aws:RequestedRegion": region, **context}
    policies = role_policies(session.account_id, session.role_arn)
    decision = authorize(session.principal, session.role_arn, action, resource, context, policies=policies)
    if decision is not Decision.ALLOWED:
        log.info("IAM refused %s %s on %s (%s)", session.principal, action, resource, decision.value)
        raise _refuse(response, s3=s3, session=session, action=action, resource=resource, decision=decision)
    if s3 and action == "s3:GetObject":
        missing = _object_missing(response, resource)
        if missing is not None:  # 404 only for a caller that may list the bucket (module docstring)
            bucket, _ = missing
            bucket_arn = f"arn:{PARTITION}:s3:::{bucket}"
            # no s3:prefix: the request has none (module docstring), so a prefix condition cannot hold
            listing = authorize(session.principal, session.role_arn, "s3:ListBucket", bucket_arn, context, policies=policies)
            if listing is not Decision.ALLOWED:
                raise _refuse(response, s3=True, session=session, action="s3:ListBucket", resource=bucket_arn, decision=listing)


_installed = False
_state_machines_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Check every request of an assumed role in this moto process (idempotent)."""
    global _installed
    from moto.core.authorization import ActionAuthenticatorMixin

    with _install_lock:
        if not _installed:
            ActionAuthenticatorMixin._authenticate_and_authorize_action = check  # type: ignore[assignment]  # the response is its self
            _installed = True


def install_state_machines() -> None:
    """Make moto's Step Functions interpreter call other services with the state machine's
    role (idempotent); the server applies it once moto imports its interpreter."""
    global _state_machines_installed
    with _install_lock:
        if not _state_machines_installed:
            _state_machines_act_as_their_role()
            _state_machines_installed = True


STATES_SESSION = "StepFunctions"  # the session name of a state machine's calls


def _state_machines_act_as_their_role() -> None:
    """moto's Step Functions interpreter calls Lambda, S3, Step Functions... with dummy keys (the
    administrator, here); Step Functions acts with the state machine's role (the execution's
    ``RoleArn``, or a Task's ``Credentials.RoleArn``), so its calls are checked like a Lambda's."""
    import importlib
    import importlib.util
    import pkgutil

    import boto3
    from botocore.config import Config
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser import asl
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        if not role_arn:
            return original(region, service, state_credentials)
        creds = role_credentials(str(role_arn), session_name=STATES_SESSION, region=region)
        return boto3.client(
            service_name=service, region_name=region, endpoint_url=f"http://localhost:{moto_server_port()}",
            aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            config=Config(parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1},
                          connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                          read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS),
        )  # fmt: skip

    # the interpreter's modules import the function by name: replace it in each of them
    for info in pkgutil.walk_packages(asl.__path__, prefix=f"{asl.__name__}."):
        spec = importlib.util.find_spec(info.name)
        origin = getattr(spec, "origin", None) or ""
        try:
            uses = bool(origin) and "boto_client_for" in Path(origin).read_text(encoding="utf-8")
        except OSError:
            uses = False
        if uses:
            module = importlib.import_module(info.name)
            if getattr(module, "boto_client_for", None) is original:
                module.boto_client_for = boto_client_for  # type: ignore[attr-defined]
    boto_client.boto_client_for = boto_client_for
