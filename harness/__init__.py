"""harness: load and resilience testing for Cognito-protected Amazon API Gateway APIs.

The public API, for doing from Python anything the CLI does::

    import harness
    scenario = harness.Scenario.load("scenarios/smoke.toml")
    harness.validate(scenario, source="scenarios/smoke.toml", command="run")   # what `harness run` checks first
    with harness.LocalStack() as stack:
        ...
        outcome = harness.run_headless("scenarios/smoke.toml", run_dir=run_dir, run_id="r1", env=stack.env())
        artifacts = harness.analyse_run(run_dir, gates=["p95 < 300ms"], aws=harness.AwsContext())

A distributed run with its faults, as ``harness fanout`` does it (the stack deployed with
``harness deploy`` or ``harness.deploy_stack``); ``run_fanout`` returns the same ``RunOutcome``
as ``run_headless``::

    cloudformation = harness.AwsContext().client("cloudformation")
    stack = harness.FanoutStack.of(harness.stack_outputs(cloudformation, "harness-fanout"))
    outcome = harness.run_fanout(scenario, stack=stack, run_dir=run_dir, run_id="r2", workers=8)
    artifacts = harness.analyse_run(outcome.run_dir, aws=harness.AwsContext())

Names load lazily: importing ``harness`` pulls in neither Locust (which monkey-patches the
process with gevent) nor matplotlib. One shard of a plan in this process (what a fan-out worker
runs) is ``harness.load.inprocess.run_shard``: import that module first, before boto3, since
it patches the process with gevent.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # errors
    "HarnessError": "harness.errors",
    "UsageError": "harness.errors",
    "ScenarioError": "harness.errors",
    "LimitExceeded": "harness.errors",
    "LocalStackError": "harness.errors",
    "AuthError": "harness.errors",
    "LoginFailed": "harness.errors",
    "RunError": "harness.errors",
    "MetricsUnavailable": "harness.errors",
    "ShardFailed": "harness.errors",
    # AWS
    "AwsContext": "harness.aws",
    # what to run
    "Scenario": "harness.scenario",
    "parse_duration": "harness.durations",
    "Retry": "harness.load.retry",
    "validate": "harness.validation",
    "Plan": "harness.plan",
    "build_plan": "harness.plan",
    # auth
    "create_users": "harness.auth",
    "ensure_test_users": "harness.auth",
    "delete_users": "harness.auth",
    "get_password": "harness.auth",
    "TokenPool": "harness.auth",
    # running
    "run_headless": "harness.load.runner",
    "RunOutcome": "harness.load.runner",
    # what came out
    "ResultSet": "harness.results",
    "Histogram": "harness.results",
    "classify": "harness.results",
    "OUTCOMES": "harness.results",
    "RETRY_RESULTS": "harness.results",
    "Gate": "harness.gates",
    "GateError": "harness.gates",
    "Verdict": "harness.gates",
    "Outcome": "harness.gates",
    "RunStatus": "harness.gates",
    "evaluate": "harness.gates",
    "parse_gates": "harness.gates",
    "check_gates": "harness.gates",
    "Probe": "harness.probe",
    "check_probe": "harness.probe",
    # before a run, and during it
    "preflight": "harness.preflight",
    "Overview": "harness.overview",
    "LiveProgress": "harness.progress",
    "build_queries": "harness.metrics",
    "pull_metrics": "harness.metrics:pull",
    "write_report": "harness.report",
    "analyse_run": "harness.runs",
    "RunArtifacts": "harness.runs",
    # distributed runs (Step Functions fans shards out to Lambda workers)
    "RunSpec": "harness.fanout.spec",
    "parse_input": "harness.fanout.spec",
    "FanoutExecution": "harness.fanout.execution",
    "FanoutStack": "harness.fanout.launch",
    "run_fanout": "harness.fanout.run",
    "stack_outputs": "harness.fanout.deploy",
    "execution_input": "harness.fanout.launch",
    "estimate_cost": "harness.fanout.cost",
    "build_package": "harness.fanout.package",
    "deploy_stack": "harness.fanout.deploy",
    "destroy_stack": "harness.fanout.deploy",
    # the local stack
    "LocalStack": "harness.local.stack",
    "LocalStackInfo": "harness.local.stack",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module_name), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
