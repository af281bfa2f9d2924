"""infra/: the CloudFormation template and the state machines' ASL, checked before any deploy.

cfn-lint (as a subprocess, the venv's own) lints every template and, through a generated
template that embeds each ASL as a ``Definition``, the ASL too; the ASL's states are walked
for dangling and unreachable names; moto's Step Functions (the shared moto server) parses
them; and the IAM roles are held to least privilege.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from harness.fanout.deploy import DEFINITIONS

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TEMPLATE = INFRA / "fanout.yaml"
ASL_FILES = sorted((INFRA / "statemachines").glob("*.asl.json"))
TEMPLATES = sorted(p for p in INFRA.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and "statemachines" not in p.parts)
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_LOG_DELIVERY = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}  # fmt: skip


def _template() -> dict[str, Any]:
    from cfnlint.decode import decode_str  # cfn-lint takes a second to import: not at collection, on every worker

    template, errors = decode_str(TEMPLATE.read_text())
    assert not errors, errors
    return template


def _substitute(text: str) -> str:
    """The ASL with every ``${Name}`` replaced as DefinitionSubstitutions would on deploy."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "Partition":  # the template passes !Ref AWS::Partition
            return "aws"
        if name.endswith("Arn"):
            return f"arn:aws:lambda:us-east-1:123456789012:function:test-{name[:-3].lower()}"
        return f"test-{name.lower()}"

    return _PLACEHOLDER.sub(value, text)


def _cfn_lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from cfnlint.runner import main; sys.argv[0] = 'cfn-lint'; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, "--format", "parseable", "--", *map(str, paths)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


# --------------------------------------------------------------------------- cfn-lint


def test_there_is_a_template_and_asl() -> None:
    assert TEMPLATE in TEMPLATES
    assert {p.name for p in ASL_FILES} >= {"run.asl.json", "cleanup.asl.json"}


def test_cfn_lint_passes_on_every_template_and_every_asl(tmp_path: Path) -> None:
    # cfn-lint validates a state machine's Definition (rule E3601) but cannot read an ASL file by
    # itself: a generated template embeds each one, with its substitutions, as a Definition.
    resources: dict[str, Any] = {}
    for i, path in enumerate(ASL_FILES):
        # CloudFormation puts the partition in before Step Functions reads the definition;
        # cfn-lint's E3601 wants a literal one in a service integration's Resource
        text = path.read_text().replace("${Partition}", _substitute("${Partition}"))
        resources[f"StateMachine{i}"] = {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "RoleArn": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/test"},
                "Definition": json.loads(text),
                "DefinitionSubstitutions": {name: _substitute("${" + name + "}") for name in sorted(set(_PLACEHOLDER.findall(text)))},
            },
        }
    embedded = tmp_path / "statemachines.json"
    embedded.write_text(json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}, indent=1))

    done = _cfn_lint(*TEMPLATES, embedded)
    assert done.returncode == 0, f"cfn-lint found problems:\n{done.stdout}{done.stderr}"


# --------------------------------------------------------------------------- the ASL itself


def _scopes(definition: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, {"StartAt", "States"}) for the definition and every Map/Parallel inside it."""
    yield where, definition
    for name, state in definition.get("States", {}).items():
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from _scopes(state[key], f"{where}/{name}/{key}")
        for i, branch in enumerate(state.get("Branches", [])):
            yield from _scopes(branch, f"{where}/{name}/Branches/{i}")


def _targets(state: dict[str, Any]) -> list[str]:
    names = [state.get("Next"), state.get("Default")]
    names += [rule.get("Next") for rule in state.get("Choices", [])]
    names += [catch.get("Next") for catch in state.get("Catch", [])]
    return [n for n in names if n is not None]


def _problems(definition: dict[str, Any], where: str) -> list[str]:
    problems = []
    for scope, body in _scopes(definition, where):
        states = body.get("States", {})
        if body.get("StartAt") not in states:
            problems.append(f"{scope}: StartAt {body.get('StartAt')!r} is not a state")
        for name, state in states.items():
            kind = state.get("Type")
            terminal = kind in ("Succeed", "Fail", "Choice") or state.get("End") is True
            if not terminal and "Next" not in state:
                problems.append(f"{scope}/{name}: a {kind} state needs Next or End")
            problems += [f"{scope}/{name}: goes to {t!r}, which is not a state" for t in _targets(state) if t not in states]
        reached, todo = set(), [body.get("StartAt")]
        while todo:
            name = todo.pop()
            if name in reached or name not in states:
                continue
            reached.add(name)
            todo += _targets(states[name])
        problems += [f"{scope}/{name}: no state goes here" for name in states if name not in reached]
    return problems


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_asl_is_json_and_every_state_it_names_exists(path: Path) -> None:
    definition = json.loads(path.read_text())
    assert _problems(definition, path.name) == []


def test_the_structure_check_catches_a_dangling_next() -> None:
    broken = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "C": {"Type": "Succeed"}}}
    assert _problems(broken, "x") == ["x/A: goes to 'B', which is not a state", "x/C: no state goes here"]


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_moto_step_functions_accepts_the_asl(path: Path, aws_env: dict[str, str]) -> None:
    sfn = boto3.client("stepfunctions")
    definition = _substitute(path.read_text())
    arn = sfn.create_state_machine(
        name=f"lint-{path.name.split('.')[0]}",
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/test",
        type="STANDARD",
    )["stateMachineArn"]
    try:
        assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == json.loads(definition)
    finally:
        sfn.delete_state_machine(stateMachineArn=arn)


def test_moto_step_functions_rejects_a_broken_asl(aws_env: dict[str, str]) -> None:
    # the check above means something: moto parses what it is given
    sfn = boto3.client("stepfunctions")
    with pytest.raises(ClientError, match="ASLParserException"):  # moto leaves the error code empty
        sfn.create_state_machine(
            name="lint-broken", definition='{"StartAt": "A", "States": {"A": {"Type": "Nope"}}}',
            roleArn="arn:aws:iam::123456789012:role/test",
        )  # fmt: skip


def test_substitutions_match_the_asl_placeholders() -> None:
    resources = _template()["Resources"]
    machines = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::StepFunctions::StateMachine"}
    assert set(machines) == {"RunStateMachine", "CleanupStateMachine"}
    for name, props in machines.items():
        parameter = props["DefinitionS3Location"]["Key"]["Ref"]
        asl = INFRA / DEFINITIONS[parameter]
        assert set(_PLACEHOLDER.findall(asl.read_text())) == set(props["DefinitionSubstitutions"]), name
        assert props["StateMachineType"] == "STANDARD"


# --------------------------------------------------------------------------- least privilege


def _statements(role: str) -> list[dict[str, Any]]:
    policies = _template()["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def _role_names() -> list[str]:
    """The template's IAM roles, read at collection with PyYAML (CloudFormation's short-form tags
    such as ``!Sub`` read as nothing: only the resources' types are needed here)."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    resources = yaml.load(TEMPLATE.read_text(), Loader=Loader)["Resources"]
    return sorted(name for name, resource in resources.items() if resource["Type"] == "AWS::IAM::Role")


ROLES = _role_names()


@pytest.mark.parametrize("role", ROLES)
def test_no_role_has_wildcard_actions_or_denies_or_wildcard_resources(role: str) -> None:
    for statement in _statements(role):
        assert statement["Effect"] == "Allow"
        assert not [a for a in _actions(statement) if "*" in a], statement
        if "*" in _resources(statement):  # only for actions that take no resource
            assert set(_actions(statement)) <= _LOG_DELIVERY, statement


def test_the_worker_may_read_the_password_sign_in_watch_its_run_and_write_its_results_only() -> None:
    actions = {a for s in _statements("WorkerRole") for a in _actions(s)}
    assert actions == {
        "logs:CreateLogStream", "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
        "cognito-idp:AdminInitiateAuth", "cognito-idp:InitiateAuth",
        "s3:PutObject",
        "s3:GetObject", "s3:ListBucket",  # stop.json and the heartbeat; a missing one is a 404
        "states:DescribeExecution",  # its own execution, to learn of a stop from outside
    }  # fmt: skip
    assert not [a for a in actions if a.startswith("cognito-idp:Admin") and a != "cognito-idp:AdminInitiateAuth"]
    readable = [_resources(s) for s in _statements("WorkerRole") if "s3:GetObject" in _actions(s)]
    assert sorted(json.dumps(r) for r in readable) == sorted(  # the stop file and the heartbeat, nothing else of a run
        json.dumps([{"Fn::Sub": f"${{ResultsBucket.Arn}}/runs/*/{name}"}]) for name in ("stop.json", "heartbeat.json")
    )
    watch = [_resources(s) for s in _statements("WorkerRole") if "states:DescribeExecution" in _actions(s)]
    assert watch == [[{"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${AWS::StackName}-run:*"}]]
    for statement in _statements("WorkerRole"):
        text = json.dumps(_resources(statement))
        if "s3:PutObject" in _actions(statement):
            assert _resources(statement) == [{"Fn::Sub": "${ResultsBucket.Arn}/runs/*"}]
        if any(a.startswith("cognito-idp:") for a in _actions(statement)):
            assert "userpool/${UserPoolId}" in text
        if any(a.startswith("secretsmanager:") for a in _actions(statement)):
            assert all(":secret:harness/*" in json.dumps(r) for r in _resources(statement))


def test_the_controller_manages_test_users_in_the_one_pool() -> None:
    statements = {s["Sid"]: s for s in _statements("ControllerRole")}
    assert set(_actions(statements["TestUsers"])) == {
        f"cognito-idp:{a}" for a in (
            "AdminCreateUser", "AdminSetUserPassword", "AdminDeleteUser", "AdminGetUser",
            "ListUsers", "DescribeUserPool", "DescribeUserPoolClient",
        )
    }  # fmt: skip
    assert "userpool/${UserPoolId}" in json.dumps(_resources(statements["TestUsers"]))
    assert set(_actions(statements["TestUserPassword"])) == {
        f"secretsmanager:{a}" for a in ("CreateSecret", "GetSecretValue", "PutSecretValue", "DeleteSecret", "DescribeSecret")
    }
    assert set(_actions(statements["RunFiles"])) == {"s3:GetObject", "s3:PutObject"}


def test_the_state_machines_invoke_only_their_functions() -> None:
    run = {a for s in _statements("RunStateMachineRole") for a in _actions(s)}
    assert run == {
        "lambda:InvokeFunction", "states:StartExecution", "states:DescribeExecution", "states:StopExecution",
        "s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload",
    } | _LOG_DELIVERY  # fmt: skip
    cleanup_invoke = [s for s in _statements("CleanupStateMachineRole") if "lambda:InvokeFunction" in _actions(s)]
    assert "WorkerFunction" not in json.dumps(cleanup_invoke) and "ControllerFunction" in json.dumps(cleanup_invoke)


def test_the_functions_share_one_zip_on_python_312_x86() -> None:
    resources = _template()["Resources"]
    functions = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    assert {k: p["Handler"] for k, p in functions.items()} == {
        "ControllerFunction": "harness.fanout.handlers.controller",
        "WorkerFunction": "harness.fanout.handlers.worker",
        "AggregatorFunction": "harness.fanout.handlers.aggregator",
    }
    for props in functions.values():
        assert props["Runtime"] == "python3.12" and props["Architectures"] == ["x86_64"]
        assert props["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}


def test_the_results_bucket_is_private_encrypted_and_expires_runs() -> None:
    bucket = _template()["Resources"]["ResultsBucket"]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert all(props["PublicAccessBlockConfiguration"].values()) and len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert rule["SSEAlgorithm"] in ("AES256", "aws:kms")
    (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
    assert lifecycle["Prefix"] == "runs/" and lifecycle["ExpirationInDays"] == {"Ref": "ResultsRetentionDays"}


def test_the_fault_expiry_role_is_optional_assumed_by_scheduler_and_allowed_only_the_put_back_calls() -> None:
    resources = _template()["Resources"]
    role = resources["FaultExpiryRole"]
    assert role["Condition"] == "CreateFaultExpiryRole" and _template()["Outputs"]["FaultExpiryRoleArn"]["Condition"] == "CreateFaultExpiryRole"
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"} and trust["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    actions = {a for s in _statements("FaultExpiryRole") for a in _actions(s)}
    assert actions == {"lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency", "apigateway:PATCH", "fis:StopExperiment"}
