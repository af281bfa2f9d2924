"""The command line's grammar: every command, option and its ``HARNESS_*`` environment variable.

args = build_parser().parse_args(["run", "scenarios/smoke.toml", "--local"])
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import harness

__all__ = ["build_parser"]


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(f"HARNESS_{name}", default)


def _flag(name: str) -> bool:
    return str(_env(name, "")).lower() in {"1", "true", "yes", "on"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Load and resilience tests for Cognito-protected API Gateway APIs.")
    parser.add_argument("--version", action="version", version=f"harness {harness.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (never secrets)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_commands(sub)
    _add_local_commands(sub)
    _add_fanout_commands(sub)
    _add_faults_commands(sub)
    for command in sub.choices.values():  # `harness check X -v` as well as `harness -v check X`
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more (never secrets)")
    return parser


def _add_run_commands(sub: Any) -> None:
    """run, probe, report, check: one scenario on this machine."""
    run = sub.add_parser("run", help="run a scenario headless and write reports/<run-id>/")
    run.add_argument("scenario", help="scenario file, e.g. scenarios/smoke.toml")
    _run_options(
        run,
        gate='extra gate, e.g. "p95 < 300ms" (repeatable)',
        set_help="override a scenario field, validated like the file: --set load.rate=200 --set load.duration=30s (repeatable)",
    )
    run.add_argument("--processes", type=int, default=_env("PROCESSES"), help="Locust worker processes on this machine: 1 or more, or -1 for one per core")
    run.add_argument("--baseline", type=Path, default=_env("BASELINE"), help="earlier run folder to compare with (regression gates need it)")

    probe = sub.add_parser(
        "probe",
        help="find the sustainable rate: run the scenario's ramp step by step and stop at the first step that breaches its gates",
        description="Run the scenario's ramp profile step by step; each step is judged by the scenario's client-side gates (and --gate) "
        "on its whole seconds but the first, and the first step that breaches one (the knee) ends the run. Prints "
        "'sustainable rate: N rps' (the last step that held). Exit 0 when a knee was found or the ramp's top held, "
        "1 when even the first step breached, 2 bad usage, 3 the run failed, 130 interrupted.",
    )
    probe.add_argument("scenario", help="scenario file with a ramp profile, e.g. scenarios/probe.toml")
    _run_options(
        probe,
        gate='another client-side gate to judge each step by, e.g. "p95 < 300ms" (repeatable)',
        set_help="override a scenario field, as for `harness run`: --set load.to_rate=400",
    )
    probe.set_defaults(processes=None, baseline=None)  # one process (steps are judged live), no regressions

    report = sub.add_parser(
        "report",
        help="(re)build report.html, summary.md, verdict.json and junit.xml for a run folder",
        description="Rebuild a run folder's report offline from its results.json (and metrics.csv). "
        "This rewrites the folder's verdict.json, junit.xml, report.html and summary.md in place: "
        "the verdict then holds the scenario's gates plus the --gate ones given here.",
    )
    report.add_argument("run_dir", type=Path, help="a run folder written by `harness run` (reports/<run-id>)")
    report.add_argument("--baseline", type=Path, default=_env("BASELINE"), help="an earlier run folder to compare with (side by side, regressions marked)")
    report.add_argument(
        "--gate", action="append", default=[], metavar="EXPR", help='a gate to judge the run by, besides the scenario\'s, e.g. "p95 < 300ms" (repeatable)'
    )
    report.add_argument("--pull-metrics", action="store_true", help="pull the run's CloudWatch metrics again into metrics.csv (needs AWS access)")
    report.add_argument("--period", type=int, default=None, help="CloudWatch period in seconds for --pull-metrics (default: chosen from the run length)")

    check = sub.add_parser("check", help="validate a scenario and its gates and show the plan, sending nothing (like k6 inspect)")
    check.add_argument("scenario", help="scenario file, e.g. scenarios/smoke.toml")
    check.add_argument("--gate", action="append", default=[], metavar="EXPR", help="extra gate to validate (repeatable)")
    check.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a scenario field, as for `harness run`")
    check.add_argument("--baseline", type=Path, default=_env("BASELINE"), help="the baseline `harness run` would get (regression gates need it)")
    check.add_argument("--override-limits", action="store_true", default=_flag("OVERRIDE_LIMITS"), help="allow a scenario to raise its safety limits")


def _add_local_commands(sub: Any) -> None:
    """local, users: the local stack and the test users."""
    local = sub.add_parser("local", help="the local stack: moto server + API Gateway emulator on 127.0.0.1")
    local.add_argument("action", choices=["up", "run", "status", "down", "env"], help="up: start in the background; run: in the foreground until Ctrl-C")
    local.add_argument("--throttle-rate", type=float, default=None, help="stage throttle rate (requests per second)")
    local.add_argument("--throttle-burst", type=int, default=None, help="stage throttle burst")
    local.add_argument(
        "--scenario", default=None, help="up/run: set the stack up as this scenario's [local] table says (throttling, backend latency, the Lambda integration)"
    )

    users = sub.add_parser("users", help="create or delete the Cognito test users")
    users.add_argument("action", choices=["create", "delete"])
    users.add_argument("--scenario", help="take pool, region, count and prefix from this scenario")
    users.add_argument("--pool", dest="user_pool_id", help="user pool id (or 'local')")
    users.add_argument("--count", type=int, help="create: how many users (<prefix>0 .. <prefix>N-1); delete takes no count: it removes every <prefix>N user")
    users.add_argument("--prefix", default=None, help="username prefix (default loadtestuser)")
    users.add_argument("--region", default=None, help="the pool's region (default: from the pool id, else AWS_REGION or the AWS profile's)")
    users.add_argument("--rate", type=float, default=25.0, help="admin API calls per second at most (two per user created)")
    users.add_argument("--local", action="store_true", default=_flag("LOCAL"), help="use the running local stack (harness local up)")


def _add_fanout_commands(sub: Any) -> None:
    """fanout, package, deploy, cleanup: runs on the fan-out stack."""
    fanout = sub.add_parser(
        "fanout",
        help="run a scenario on many worker Lambdas through Step Functions (infra/fanout.yaml) and write reports/<run-id>/",
        description="Start the fan-out stack's run state machine: each worker Lambda runs the same engine as `harness run` on its "
        "shard, all from one start instant; the merged results give the same report, gates and exit codes as `harness run`. "
        "Prints what the run costs on AWS first and asks before it starts (--yes skips the question).",
    )
    fanout.add_argument("scenario", nargs="?", help="scenario file (or --input)")
    fanout.add_argument(
        "--input",
        dest="reference",
        metavar="JSON",
        help='the AWS reference design\'s input instead of a scenario: \'{"users": {"NumberOfUsers": "100", "NumberOfCallsPerUser": "100"}}\'',
    )
    fanout.add_argument(
        "--workers", type=int, default=_env("WORKERS"), help="worker Lambdas (default: the scenario's fanout.workers; with --input one per 25 users)"
    )
    fanout.add_argument("--local", action="store_true", default=_flag("LOCAL"), help="start a local stack, deploy the fan-out stack into it and run there")
    fanout.add_argument("--yes", "-y", action="store_true", default=_flag("YES"), help="start without asking (CI)")
    _add_stack_options(fanout, stack_default=None, stack_help="the fan-out stack's name (default: the scenario's fanout.stack_name, harness-fanout)")
    fanout.add_argument("--results-dir", default=_env("RESULTS_DIR"), help="run folder (default reports/<run-id>)")
    fanout.add_argument(
        "--run-id", default=_env("RUN_ID"), help="run id, also the execution's name: letters, digits, - and _ (default: time and a random suffix)"
    )
    fanout.add_argument("--overwrite", action="store_true", default=_flag("OVERWRITE"), help="replace the run already in the run folder (else it is refused)")
    fanout.add_argument("--gate", action="append", default=[], metavar="EXPR", help='extra gate, e.g. "p95 < 300ms" (repeatable)')
    fanout.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a scenario field, as for `harness run`")
    fanout.add_argument("--baseline", type=Path, default=_env("BASELINE"), help="earlier run folder to compare with")
    fanout.add_argument(
        "--override-limits", action="store_true", default=_flag("OVERRIDE_LIMITS"), help="allow a scenario (or --input) to raise its safety limits"
    )
    fanout.add_argument("--memory", type=int, default=1769, help="the workers' memory in MB, for the cost estimate (the stack's WorkerMemory)")
    fanout.add_argument("--period", type=int, default=_env("METRICS_PERIOD"), help="CloudWatch period in seconds (default: chosen from the run length)")
    fanout.add_argument("--no-metrics", action="store_true", help="do not pull CloudWatch metrics")

    package = sub.add_parser("package", help="build the fan-out Lambdas' code zip (Linux wheels for the Lambda Python runtime)")
    package.add_argument("--out", type=Path, default=Path("dist/harness-fanout.zip"), help="where the zip goes (default dist/harness-fanout.zip)")
    package.add_argument("--python", default=None, help="the Lambda runtime's Python version (default: the template's, python3.12)")
    package.add_argument("--no-deps", action="store_true", help="harness's own source only (what the local stack runs)")
    package.add_argument("--write-constraints", action="store_true",
                         help="resolve the dependencies afresh and pin them in harness/infra/lambda-constraints.txt, then build")  # fmt: skip

    deploy = sub.add_parser("deploy", help="create or update the fan-out stack (infra/fanout.yaml) with a CloudFormation change set")
    deploy.add_argument("--local", action="store_true", default=_flag("LOCAL"), help="deploy into the running local stack (harness local up)")
    _add_stack_options(deploy)
    deploy.add_argument("--scenario", help="take the target URL, user pool and client from this scenario")
    deploy.add_argument("--target-url", help="the API the reference input loads (TargetUrl)")
    deploy.add_argument("--path", default=None, help="the path the reference input calls (TargetPath, default /)")
    deploy.add_argument("--user-pool-id", help="the test users' pool (UserPoolId)")
    deploy.add_argument("--client-id", help="the pool's app client (UserPoolClientId)")
    deploy.add_argument("--code", type=Path, help="a zip from `harness package` (default: built now)")
    deploy.add_argument(
        "--parameter", action="append", default=[], metavar="NAME=VALUE", help="any other template parameter, e.g. WorkerMemory=3008 (repeatable)"
    )

    cleanup = sub.add_parser("cleanup", help="run the cleanup state machine: delete the test users and their password secret")
    cleanup.add_argument("--local", action="store_true", default=_flag("LOCAL"), help="the fan-out stack deployed into the running local stack")
    _add_stack_options(cleanup)
    cleanup.add_argument("--scenario", help="delete this scenario's test users (its pool and prefix)")
    cleanup.add_argument("--input", dest="reference", metavar="JSON", help='the reference design\'s cleanup input, e.g. \'{"NumberOfUsers": "100"}\'')
    cleanup.add_argument(
        "--timeout", type=float, default=1800.0, metavar="SECONDS", help="give up waiting after this long (default 1800); the execution goes on"
    )


def _add_stack_options(parser: Any, *, stack_default: str | None = "harness-fanout", stack_help: str = "stack name (default harness-fanout)") -> None:
    """--stack and --region: which fan-out stack a command uses (fanout, deploy, cleanup)."""
    parser.add_argument("--stack", default=_env("STACK") or stack_default, help=stack_help)
    parser.add_argument(
        "--region",
        default=_env("STACK_REGION"),
        help="the fan-out stack's region (default: AWS_REGION, else the AWS profile's); the user pool and target may be elsewhere",
    )


def _add_faults_commands(sub: Any) -> None:
    """faults restore: what a run's faults changed."""
    faults = sub.add_parser("faults", help="what a run's faults changed on AWS")
    faults_sub = faults.add_subparsers(dest="faults_action", required=True)
    restore = faults_sub.add_parser("restore", help="put back what a run's AWS faults changed (from its results.json), and delete their expiry schedules")
    restore.add_argument("run_dir", type=Path, help="the run folder (holds results.json)")
    restore.add_argument(
        "--all", dest="everything", action="store_true", help="also put back the faults harness already put back (the same previous values again)"
    )
    restore.add_argument("--region", default=None, help="the region the faults were applied in (default: the run's target region)")


def _run_options(parser: argparse.ArgumentParser, *, gate: str, set_help: str) -> None:
    """The options ``harness run`` and ``harness probe`` share (both run a scenario headless)."""
    parser.add_argument("--local", action="store_true", default=_flag("LOCAL"), help="start the local stack for this run (moto + API Gateway emulator)")
    parser.add_argument("--results-dir", default=_env("RESULTS_DIR"), help="run folder (default reports/<run-id>)")
    parser.add_argument("--run-id", default=_env("RUN_ID"), help="run id: letters, digits, - and _ (default: time and a random suffix)")
    parser.add_argument("--overwrite", action="store_true", default=_flag("OVERWRITE"), help="replace the run already in the run folder (else it is refused)")
    parser.add_argument("--gate", action="append", default=[], metavar="EXPR", help=gate)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help=set_help)
    parser.add_argument(
        "--create-users", action=argparse.BooleanOptionalAction, default=None, help="create the scenario's test users first (default: on with --local)"
    )
    parser.add_argument("--override-limits", action="store_true", default=_flag("OVERRIDE_LIMITS"), help="allow a scenario to raise its safety limits")
    parser.add_argument("--period", type=int, default=_env("METRICS_PERIOD"), help="CloudWatch period in seconds (default: chosen from the run length)")
    parser.add_argument("--no-metrics", action="store_true", help="do not pull CloudWatch metrics")
