"""The ``harness`` command: a thin shell over the public API.

    harness run scenarios/burst.toml --local       # headless run on the local stack
    harness probe scenarios/probe.toml --local     # a ramp that stops at the knee: the sustainable rate
    harness check scenarios/burst.toml             # validate and show the plan, send nothing
    harness report reports/<run-id> --baseline reports/<other>
    harness local up | run | status | env | down
    harness users create --scenario scenarios/burst.toml
    harness fanout scenarios/steady.toml --workers 10 --local   # Step Functions + worker Lambdas
    harness fanout --input '{"users": {"NumberOfUsers": "100", "NumberOfCallsPerUser": "100"}}'
    harness package | deploy | cleanup                          # the fan-out stack

Exit codes: 0 passed, 1 a gate failed, 2 bad usage or scenario, 3 the run itself failed,
130 interrupted (results still written). Errors print one line, never a traceback.
Every option also reads a ``HARNESS_*`` environment variable; an explicit option wins.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

import harness
from harness.errors import FaultError, HarnessError, RunError, ScenarioError, UsageError
from harness.gates.verdict import EXIT_GATE_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE
from harness.options import check_baseline, check_number, check_processes, check_scenario, fault_warnings
from harness.runs import run_folder

__all__ = ["main"]


# Not a terminal (CI logs, pipes): rich would assume 80 columns and squeeze the tables, and
# wrap long lines mid-name (a secret's name, a path); give tables room and never wrap text.
out = Console(width=None if sys.stdout.isatty() else 200, soft_wrap=not sys.stdout.isatty())
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200, soft_wrap=not sys.stderr.isatty())


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(f"HARNESS_{name}", default)


def _flag(name: str) -> bool:
    return str(_env(name, "")).lower() in {"1", "true", "yes", "on"}


# ---- argument parsing -----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Load and resilience tests for Cognito-protected API Gateway APIs.")
    parser.add_argument("--version", action="version", version=f"harness {harness.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (never secrets)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    report.add_argument("--gate", action="append", default=[], metavar="EXPR", help='a gate to judge the run by, besides the scenario\'s, e.g. "p95 < 300ms" (repeatable)')
    report.add_argument("--pull-metrics", action="store_true", help="pull the run's CloudWatch metrics again into metrics.csv (needs AWS access)")
    report.add_argument("--period", type=int, default=None, help="CloudWatch period in seconds for --pull-metrics (default: chosen from the run length)")

    check = sub.add_parser("check", help="validate a scenario and its gates and show the plan, sending nothing (like k6 inspect)")
    check.add_argument("scenario", help="scenario file, e.g. scenarios/smoke.toml")
    check.add_argument("--gate", action="append", default=[], metavar="EXPR", help="extra gate to validate (repeatable)")
    check.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a scenario field, as for `harness run`")
    check.add_argument("--baseline", type=Path, default=_env("BASELINE"), help="the baseline `harness run` would get (regression gates need it)")
    check.add_argument("--override-limits", action="store_true", default=_flag("OVERRIDE_LIMITS"), help="allow a scenario to raise its safety limits")

    local = sub.add_parser("local", help="the local stack: moto server + API Gateway emulator on 127.0.0.1")
    local.add_argument("action", choices=["up", "run", "status", "down", "env"], help="up: start in the background; run: in the foreground until Ctrl-C")
    local.add_argument("--throttle-rate", type=float, default=None, help="stage throttle rate (requests per second)")
    local.add_argument("--throttle-burst", type=int, default=None, help="stage throttle burst")
    local.add_argument("--scenario", default=None, help="up/run: set the stack up as this scenario's [local] table says (throttling, backend latency, the Lambda integration)")

    users = sub.add_parser("users", help="create or delete the Cognito test users")
    users.add_argument("action", choices=["create", "delete"])
    users.add_argument("--scenario", help="take pool, region, count and prefix from this scenario")
    users.add_argument("--pool", dest="user_pool_id", help="user pool id (or 'local')")
    users.add_argument("--count", type=int, help="create: how many users (<prefix>0 .. <prefix>N-1); delete takes no count: it removes every <prefix>N user")
    users.add_argument("--prefix", default=None, help="username prefix (default loadtestuser)")
    users.add_argument("--region", default=None, help="the pool's region (default: from the pool id, else AWS_REGION or the AWS profile's)")
    users.add_argument("--rate", type=float, default=25.0, help="admin API calls per second at most (two per user created)")
    users.add_argument("--local", action="store_true", default=_flag("LOCAL"), help="use the running local stack (harness local up)")

    fanout = sub.add_parser(
        "fanout",
        help="run a scenario on many worker Lambdas through Step Functions (infra/fanout.yaml) and write reports/<run-id>/",
        description="Start the fan-out stack's run state machine: each worker Lambda runs the same engine as `harness run` on its "
        "shard, all from one start instant; the merged results give the same report, gates and exit codes as `harness run`. "
        "Prints what the run costs on AWS first and asks before it starts (--yes skips the question).",
    )
    fanout.add_argument("scenario", nargs="?", help="scenario file (or --input)")
    fanout.add_argument("--input", dest="reference", metavar="JSON", help='the AWS reference design\'s input instead of a scenario: \'{"users": {"NumberOfUsers": "100", "NumberOfCallsPerUser": "100"}}\'')
    fanout.add_argument("--workers", type=int, default=_env("WORKERS"), help="worker Lambdas (default: the scenario's fanout.workers; with --input one per 25 users)")
    fanout.add_argument("--local", action="store_true", default=_flag("LOCAL"), help="start a local stack, deploy the fan-out stack into it and run there")
    fanout.add_argument("--yes", "-y", action="store_true", default=_flag("YES"), help="start without asking (CI)")
    fanout.add_argument("--stack", default=_env("STACK"), help="the fan-out stack's name (default: the scenario's fanout.stack_name, harness-fanout)")
    fanout.add_argument("--region", default=_env("STACK_REGION"), help="the fan-out stack's region (default: AWS_REGION, else the AWS profile's); the user pool and target may be elsewhere")
    fanout.add_argument("--results-dir", default=_env("RESULTS_DIR"), help="run folder (default reports/<run-id>)")
    fanout.add_argument("--run-id", default=_env("RUN_ID"), help="run id, also the execution's name: letters, digits, - and _ (default: time and a random suffix)")
    fanout.add_argument("--overwrite", action="store_true", default=_flag("OVERWRITE"), help="replace the run already in the run folder (else it is refused)")
    fanout.add_argument("--gate", action="append", default=[], metavar="EXPR", help='extra gate, e.g. "p95 < 300ms" (repeatable)')
    fanout.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a scenario field, as for `harness run`")
    fanout.add_argument("--baseline", type=Path, default=_env("BASELINE"), help="earlier run folder to compare with")
    fanout.add_argument("--override-limits", action="store_true", default=_flag("OVERRIDE_LIMITS"), help="allow a scenario (or --input) to raise its safety limits")
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
    deploy.add_argument("--stack", default=_env("STACK") or "harness-fanout", help="stack name (default harness-fanout)")
    deploy.add_argument("--region", default=_env("STACK_REGION"), help="the fan-out stack's region (default: AWS_REGION, else the AWS profile's); the user pool and target may be elsewhere")
    deploy.add_argument("--scenario", help="take the target URL, user pool and client from this scenario")
    deploy.add_argument("--target-url", help="the API the reference input loads (TargetUrl)")
    deploy.add_argument("--path", default=None, help="the path the reference input calls (TargetPath, default /)")
    deploy.add_argument("--user-pool-id", help="the test users' pool (UserPoolId)")
    deploy.add_argument("--client-id", help="the pool's app client (UserPoolClientId)")
    deploy.add_argument("--code", type=Path, help="a zip from `harness package` (default: built now)")
    deploy.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE", help="any other template parameter, e.g. WorkerMemory=3008 (repeatable)")

    cleanup = sub.add_parser("cleanup", help="run the cleanup state machine: delete the test users and their password secret")
    cleanup.add_argument("--local", action="store_true", default=_flag("LOCAL"), help="the fan-out stack deployed into the running local stack")
    cleanup.add_argument("--stack", default=_env("STACK") or "harness-fanout", help="stack name (default harness-fanout)")
    cleanup.add_argument("--region", default=_env("STACK_REGION"), help="the fan-out stack's region (default: AWS_REGION, else the AWS profile's); the user pool and target may be elsewhere")
    cleanup.add_argument("--scenario", help="delete this scenario's test users (its pool and prefix)")
    cleanup.add_argument("--input", dest="reference", metavar="JSON", help='the reference design\'s cleanup input, e.g. \'{"NumberOfUsers": "100"}\'')
    cleanup.add_argument("--timeout", type=float, default=1800.0, metavar="SECONDS", help="give up waiting after this long (default 1800); the execution goes on")
    faults = sub.add_parser("faults", help="what a run's faults changed on AWS")
    faults_sub = faults.add_subparsers(dest="faults_action", required=True)
    restore = faults_sub.add_parser("restore", help="put back what a run's AWS faults changed (from its results.json), and delete their expiry schedules")
    restore.add_argument("run_dir", type=Path, help="the run folder (holds results.json)")
    restore.add_argument("--all", dest="everything", action="store_true", help="also put back the faults harness already put back (the same previous values again)")
    restore.add_argument("--region", default=None, help="the region the faults were applied in (default: the run's target region)")
    for command in sub.choices.values():  # `harness check X -v` as well as `harness -v check X`
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more (never secrets)")
    return parser


def _run_options(parser: argparse.ArgumentParser, *, gate: str, set_help: str) -> None:
    """The options ``harness run`` and ``harness probe`` share (both run a scenario headless)."""
    parser.add_argument("--local", action="store_true", default=_flag("LOCAL"), help="start the local stack for this run (moto + API Gateway emulator)")
    parser.add_argument("--results-dir", default=_env("RESULTS_DIR"), help="run folder (default reports/<run-id>)")
    parser.add_argument("--run-id", default=_env("RUN_ID"), help="run id: letters, digits, - and _ (default: time and a random suffix)")
    parser.add_argument("--overwrite", action="store_true", default=_flag("OVERWRITE"), help="replace the run already in the run folder (else it is refused)")
    parser.add_argument("--gate", action="append", default=[], metavar="EXPR", help=gate)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help=set_help)
    parser.add_argument("--create-users", action=argparse.BooleanOptionalAction, default=None, help="create the scenario's test users first (default: on with --local)")
    parser.add_argument("--override-limits", action="store_true", default=_flag("OVERRIDE_LIMITS"), help="allow a scenario to raise its safety limits")
    parser.add_argument("--period", type=int, default=_env("METRICS_PERIOD"), help="CloudWatch period in seconds (default: chosen from the run length)")
    parser.add_argument("--no-metrics", action="store_true", help="do not pull CloudWatch metrics")


# ---- commands -------------------------------------------------------------------------------


@contextlib.contextmanager
def _local_stack(enabled: bool, scenario: Any) -> Iterator[dict[str, str]]:
    """Start a local stack for this command, set up as the scenario's ``[local]`` says,
    and point this process at it."""
    if not enabled:
        yield {}
        return
    from harness.local.stack import LocalStack
    from harness.scenario import LocalSettings

    settings = scenario.local if scenario is not None else LocalSettings()
    with err.status("starting the local stack (moto + API Gateway emulator)..."):
        stack = LocalStack.for_scenario(settings)
        stack.start()
    try:
        with stack.activate() as env:
            yield env
    finally:
        stack.stop()


def cmd_run(args: argparse.Namespace, *, probe: bool = False) -> int:
    """``harness run``, and with ``probe`` ``harness probe`` (the same run, stopped at the knee)."""
    from harness.load.runner import run_headless
    from harness.progress import PROGRESS_FILE, LiveProgress
    from harness.runs import analyse_run

    # everything that can be wrong with the command is found before anything starts
    processes = check_processes(args.processes)
    check_number("--period", args.period, minimum=1, integer=True)
    baseline = check_baseline(args.baseline)
    scenario = check_scenario(args.scenario, gates=args.gate, overrides=args.set, baseline=baseline, override_limits=args.override_limits,
                              metrics=not args.no_metrics, fanout=False, probe=probe)  # fmt: skip
    _warn(fault_warnings(scenario))
    run_id, run_dir = run_folder(run_id=args.run_id, results_dir=args.results_dir, overwrite=args.overwrite)
    if args.local:
        from harness.target import check_local_target

        check_local_target(scenario, source=args.scenario)
        _refuse_second_local_stack()
    create_users = args.create_users if args.create_users is not None else args.local

    with _local_stack(args.local, scenario) as env:
        from harness.aws import AwsContext
        from harness.errors import LocalStackError
        from harness.preflight import preflight
        from harness.target import resolve_target

        try:
            target = resolve_target(scenario)  # a missing local stack fails here, in one line
        except LocalStackError as exc:
            raise LocalStackError(f"{exc}, or pass --local to start one for this run") from None
        if not args.local and scenario.target.base_url == "local":
            _refuse_other_local_settings(scenario, args.scenario)
        aws = AwsContext(region=target.region)
        metrics = not args.no_metrics
        if metrics and (skipped := _nothing_in_cloudwatch(scenario)):
            metrics = False  # nothing to pull: the run needs no AWS for it
            err.print(f"[yellow]note:[/] server metrics skipped: {escape(skipped)} (nothing of it in CloudWatch to pull)", highlight=False)
        with err.status("checking AWS access (credentials, user pool, password secret, CloudWatch)..."):
            preflight(scenario, aws, target=target, metrics=metrics, secret=not create_users)
        if create_users and scenario.auth is not None:
            _create_users(scenario.auth.users, scenario.auth.username_prefix, pool=scenario.auth.user_pool_id, region=target.region)
        planned = _planned_duration(scenario)
        sets = f", with --set {' '.join(args.set)}" if args.set else ""
        uses_aws = scenario.auth is not None or metrics or bool(scenario.faults)
        region = f", region {target.region} (from {target.region_source})" if uses_aws else ""
        err.print(
            f"[bold]harness {'probe' if probe else 'run'}[/] "
            + escape(
                f"{scenario.name}: {scenario.load_profile.profile} profile, ~{planned:.0f} s, {scenario.vus} virtual users"
                f"{region}{sets} -> {run_dir}"
            ),
            highlight=False,
        )
        preparing = "signing in the virtual users" if scenario.auth is not None else "starting the virtual users"
        with LiveProgress(console=err, total=planned, preparing=preparing) as progress:
            outcome = run_headless(
                args.scenario,
                run_dir=run_dir,
                run_id=run_id,
                env=env,
                overwrite=args.overwrite,
                processes=processes,
                override_limits=args.override_limits,
                overrides=args.set,
                on_tick=lambda t: progress.poll(run_dir / PROGRESS_FILE, elapsed=t),
                probe_gates=list(args.gate) if probe else None,
            )
        if not outcome.results_path.exists():
            tail = _tail(run_dir / "locust.out") or _tail(outcome.log_path)
            raise RunError(f"the run stopped before measuring anything (Locust exit {outcome.exit_code}): {tail}; full log in {outcome.log_path}")
        if outcome.interrupted:
            err.print("[yellow]stopped[/]: Locust wrote what it measured; building the report from it")
        with err.status("pulling CloudWatch metrics and building the report..."):
            artifacts = analyse_run(run_dir, gates=args.gate, baseline_dir=baseline, aws=aws if metrics else None, period=args.period)
    _print_run(artifacts)
    return _exit_code(artifacts, interrupted=outcome.interrupted)


def _nothing_in_cloudwatch(scenario: Any) -> str | None:
    """Why a `harness run` of the scenario has no CloudWatch metrics to pull, or None when it has
    some: no API Gateway API, Lambda function or user pool named (``unmeasured_layers``)."""
    from harness.target import unmeasured_layers

    unmeasured = unmeasured_layers(scenario)
    if all(layer in unmeasured for layer in ("apigw", "lambda", "cognito")):
        return unmeasured["apigw"]
    return None


def cmd_probe(args: argparse.Namespace) -> int:
    return cmd_run(args, probe=True)


def _refuse_second_local_stack(what: str = "run without --local to use it, or stop it first with `harness local down`") -> None:
    from harness.local.stack import local_status, state_file

    status = local_status()
    if status is not None and status.get("healthy"):
        raise UsageError(f"a local stack is already running ({state_file()}): {what}")


def _refuse_other_local_settings(scenario: Any, path: str) -> None:
    """A scenario's ``[local]`` table that the running local stack does not follow is refused:
    the run would measure another API than the scenario describes."""
    from harness.local.stack import load_local_info, scenario_differences

    differences = scenario_differences(scenario.local, load_local_info())
    if differences:
        raise UsageError(
            f"{path}: [local] asks for {'; '.join(differences)}; set the stack up as the scenario says with "
            f"`harness local up --scenario {path}`, or stop it (`harness local down`) and run with --local"
        )


def _exit_code(artifacts: Any, *, interrupted: bool = False) -> int:
    """What happened, as an exit code (``harness.gates.Outcome.exit_code``)."""
    return artifacts.outcome.exit_code(interrupted=interrupted)


def _planned_duration(scenario: Any) -> float:
    from harness.plan import planned_duration

    return planned_duration(scenario.load_profile)


def _tail(path: Path, lines: int = 1) -> str:
    try:
        text = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])[:300]


def cmd_report(args: argparse.Namespace) -> int:
    from harness.aws import AwsContext
    from harness.gates import check_gates, parse_gates
    from harness.runs import analyse_run, load_results

    check_number("--period", args.period, minimum=1, integer=True)
    baseline = check_baseline(args.baseline)
    results = load_results(args.run_dir)
    check_gates(parse_gates(args.gate, path="--gate"), endpoints=results.endpoint_names(), baseline=baseline is not None, path="--gate")
    check_gates(parse_gates(results.scenario.get("gates", [])), endpoints=results.endpoint_names(), baseline=baseline is not None, path=str(args.run_dir))
    if args.pull_metrics:
        _find_local_stack_of(results, args.run_dir)
    aws = AwsContext(region=(results.meta.get("target") or {}).get("region")) if args.pull_metrics else None
    artifacts = analyse_run(args.run_dir, gates=args.gate, baseline_dir=baseline, aws=aws, period=args.period)
    _print_run(artifacts)
    return _exit_code(artifacts)


def _find_local_stack_of(results: Any, run_dir: Path) -> None:
    """A run on the local stack has its CloudWatch metrics there: point boto3 at the running
    stack, as `harness run` does; refused when that stack is not the run's (they went with it)."""
    from harness.errors import LocalStackError
    from harness.target import uses_local_stack

    if not uses_local_stack(results.scenario):
        return
    gone = f"{run_dir} ran on a local stack at {(results.meta.get('target') or {}).get('base_url')}"
    try:
        info = _use_running_local_stack()
    except LocalStackError as exc:
        raise LocalStackError(f"{gone}, whose CloudWatch metrics went with it ({exc}); rebuild the report without --pull-metrics") from None
    if info.api_url != (results.meta.get("target") or {}).get("base_url"):
        raise LocalStackError(f"{gone}, not the one running now ({info.api_url}): its metrics went with it; rebuild the report without --pull-metrics")


def cmd_faults(args: argparse.Namespace) -> int:
    """``harness faults restore RUN_DIR``: put back what the run's AWS faults changed."""
    from harness.aws import AwsContext
    from harness.errors import LocalStackError
    from harness.faults.restore import restore_run
    from harness.runs import load_results
    from harness.target import uses_local_stack

    results = load_results(args.run_dir)
    if uses_local_stack(results.scenario):
        try:
            _use_running_local_stack()
        except LocalStackError:
            err.print(f"{args.run_dir} ran on a local stack that is gone: what its faults changed went with it; nothing to put back", highlight=False)
            return EXIT_OK
    region = args.region or (results.meta.get("target") or {}).get("region")
    for line in restore_run(list(results.meta.get("faults") or []), aws=AwsContext(region=region), everything=args.everything):
        out.print(line, highlight=False)
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from harness.gates import parse_gates
    from harness.overview import Overview

    baseline = check_baseline(args.baseline)
    scenario = check_scenario(args.scenario, gates=args.gate, overrides=args.set, baseline=baseline, override_limits=args.override_limits)
    overview = Overview.of(scenario, gates=parse_gates(args.gate, path="--gate"))
    table = Table(title=f"{args.scenario}: valid; nothing was sent", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for label, text in overview.facts():
        table.add_row(label, escape(text))  # plain text: "[auth]" is not markup
    out.print(table)
    endpoints = Table(title="endpoints", title_justify="left")
    for col in ("endpoint", "method", "path", "weight", "share", "requests"):
        endpoints.add_column(col, justify="right" if col in ("weight", "share", "requests") else "left", no_wrap=True)
    for ep in overview.endpoints:
        endpoints.add_row(escape(ep.name), ep.method, escape(ep.path), str(ep.weight), f"{ep.share:.1%}", f"{ep.requests:,.0f}")
    out.print(endpoints)
    from harness.fanout.spec import start_lead_warning

    fanout = start_lead_warning(scenario) if "fanout" in scenario.model_fields_set else None  # a [fanout] table: meant for harness fanout
    _warn([*fault_warnings(scenario), *([f"harness fanout: {fanout}"] if fanout else [])])
    return EXIT_OK


def _warn(warnings: Sequence[str]) -> None:
    """What is allowed but probably not meant, before any load: one line each, on stderr."""
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def cmd_local(args: argparse.Namespace) -> int:
    import json
    import shlex

    from harness.local.stack import load_local_info, local_down, local_status, local_up

    check_number("--throttle-rate", args.throttle_rate, minimum=0, inclusive=False)
    check_number("--throttle-burst", args.throttle_burst, minimum=1, integer=True)
    settings: dict[str, Any] = {}
    if args.scenario:
        from harness.local.stack import settings_of

        settings = settings_of(check_scenario(args.scenario).local)
    if args.throttle_rate or args.throttle_burst:
        from harness.local.apigw.config import Throttle

        rate = args.throttle_rate or 10_000
        settings["throttle"] = Throttle(rate=rate, burst=args.throttle_burst or max(1, int(rate)))  # the flags win
    if args.action == "up":
        changes: list[str] = []
        with err.status("starting the local stack..."):
            info = local_up(**settings, on_change=changes.append)
        _print_stack(info)
        if changes:  # it was running already: set up as asked now
            out.print(escape("The local stack was already running; changed now: " + "; ".join(changes)), highlight=False)
        out.print("Scenarios with target 'local' now use it; `harness local down` stops it.")
    elif args.action == "run":
        from harness.local.stack import LocalStack, forget_local, record_local

        _refuse_second_local_stack("stop it first with `harness local down`, or use it as it is")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop cleanly, like Ctrl-C
        with err.status("starting the local stack..."):
            stack = LocalStack(**settings)
            stack.start()
        info = stack.info
        try:
            record_local(info)  # status, env, run and the rest find it as they find `local up`'s
            _print_stack(info)
            out.print("Running until Ctrl-C; harness commands in other shells use it as they use `harness local up`'s. "
                      "To point other tools (boto3) at it from another shell:")  # fmt: skip
            for key, value in {**stack.env(), "HARNESS_LOCAL_INFO": info.model_dump_json()}.items():
                print(f"export {key}={shlex.quote(value)}", flush=True)
            # not signal.pause(): a Ctrl-C arriving just before it would be missed
            while all(p is not None and p.poll() is None for p in (stack.emulator, stack.moto.process if stack.moto else None)):
                time.sleep(1.0)
            err.print("the local stack's processes were stopped (`harness local down`?); exiting")
        except KeyboardInterrupt:
            pass
        finally:
            forget_local(info)
            stack.stop()
    elif args.action == "status":
        status = local_status()
        if not status:
            out.print("no local stack is running; start one with `harness local up`")
            return 1
        out.print_json(json.dumps(status, default=str))
        return 0 if status.get("healthy") else 1
    elif args.action == "env":
        for key, value in load_local_info().env().items():
            print(f"export {key}={shlex.quote(value)}")
    else:
        out.print("stopped" if local_down() else "no local stack was running")
    return EXIT_OK


def _print_stack(info: Any) -> None:
    table = Table(title="local stack", show_header=False)
    for key in ("endpoint_url", "api_url", "region", "user_pool_id", "client_id", "api_id", "stage", "log_dir"):
        table.add_row(key, str(getattr(info, key)))
    out.print(table)


def _create_users(count: int, prefix: str, *, pool: str, region: str | None, rate: float = 25.0) -> Any:
    """Create (or reuse) test users. ``rate`` caps admin calls per second: two per user, under
    Cognito's default quota of 50 user creations per second."""
    from harness.auth.users import create_users
    from harness.aws import AwsContext
    from harness.target import resolve_pool

    pool_id, region = resolve_pool(pool, region)
    aws = AwsContext(region=region)
    report = create_users(cognito=aws.client("cognito-idp"), secrets=aws.client("secretsmanager"), user_pool_id=pool_id, count=count, prefix=prefix, rate=rate, progress=err.is_terminal)
    err.print(report.summary())
    if not report.ok:
        raise RunError(f"{len(report.failures)} test users could not be created; see the summary above")
    return report


def cmd_users(args: argparse.Namespace) -> int:
    from harness.auth.users import DEFAULT_PREFIX, delete_users
    from harness.aws import AwsContext
    from harness.target import resolve_pool

    check_number("--count", args.count, minimum=1, integer=True)
    check_number("--rate", args.rate, minimum=0, inclusive=False)
    if args.action == "delete" and args.count is not None:
        raise UsageError(
            "users delete: --count is for create; delete removes every <prefix>N user of the pool (and then the password secret); "
            "pick the users with --prefix"
        )
    pool, count, prefix, region = args.user_pool_id, args.count, args.prefix, args.region
    if args.scenario:
        from harness.scenario import Scenario

        scenario = Scenario.load(args.scenario)
        if scenario.auth is None:
            raise UsageError(f"{args.scenario}: the scenario has no [auth] section; add one or pass --pool and --count")
        from harness.target import scenario_region

        pool = pool or scenario.auth.user_pool_id
        count = count or scenario.auth.users
        prefix = prefix or scenario.auth.username_prefix
        region = region or scenario_region(scenario, source=args.scenario)[0]
    if args.local:
        pool = pool or "local"
    if not pool:
        raise UsageError("users: no user pool; pass --scenario FILE, --pool ID or --local (the stack of `harness local up`)")
    prefix = prefix or DEFAULT_PREFIX
    if args.action == "create":
        if not count:
            raise UsageError("users create: how many? pass --count N or --scenario FILE")
        _create_users(count, prefix, pool=pool, region=region, rate=args.rate)
        return EXIT_OK
    pool_id, region = resolve_pool(pool, region)
    aws = AwsContext(region=region)
    report = delete_users(cognito=aws.client("cognito-idp"), secrets=aws.client("secretsmanager"), user_pool_id=pool_id, prefix=prefix, rate=args.rate, progress=err.is_terminal)
    err.print(report.summary())
    return EXIT_OK if report.ok else EXIT_RUN_FAILED


# ---- fan-out ----------------------------------------------------------------------------------


def cmd_fanout(args: argparse.Namespace) -> int:
    from harness.aws import AwsContext
    from harness.fanout.cost import estimate_cost
    from harness.fanout.deploy import stack_outputs
    from harness.fanout.execution import FanoutExecution, Progress
    from harness.fanout.launch import FanoutStack, check_stack_pool, execution_input, parse_reference, stack_aws, stack_defaults
    from harness.fanout.spec import StackDefaults, check_start_lead, parse_input
    from harness.runs import analyse_run

    # everything that can be wrong with the command is found before anything starts
    if (args.scenario is None) == (args.reference is None):
        raise UsageError("fanout: give a scenario file, or the reference input with --input '{\"users\": {...}}'")
    if args.reference is not None and args.set:
        raise UsageError("fanout: --set changes a scenario file; with --input, put the numbers in the input")
    check_number("--workers", args.workers, minimum=1, integer=True)
    check_number("--memory", args.memory, minimum=128, integer=True)
    check_number("--period", args.period, minimum=1, integer=True)
    baseline = check_baseline(args.baseline)
    scenario = reference = None
    if args.scenario is not None:
        scenario = check_scenario(args.scenario, gates=args.gate, overrides=args.set, baseline=baseline, override_limits=args.override_limits,
                                  metrics=not args.no_metrics, fanout=True)  # fmt: skip
        if args.workers is not None:  # --workers replaces fanout.workers: held to the same limits, named as the flag
            with _named_as_flag("--workers", args.workers, field="fanout.workers"):
                check_scenario(args.scenario, overrides=[*args.set, f"fanout.workers={args.workers}"], override_limits=args.override_limits)
        _warn(fault_warnings(scenario))
        check_start_lead(scenario, args.workers, path=str(args.scenario))  # before anything starts
    else:
        reference = parse_reference(args.reference)
    run_id, run_dir = run_folder(run_id=args.run_id, results_dir=args.results_dir, overwrite=args.overwrite)
    if args.local:
        _refuse_second_local_stack()
    stack_name = args.stack or (scenario.fanout.stack_name if scenario else "harness-fanout")

    with _local_stack(args.local, scenario) as _:
        from harness.target import resolve_target

        data = execution_input(scenario=scenario, reference=reference, workers=args.workers, override_limits=args.override_limits)
        target = resolve_target(scenario) if scenario else None
        # the target's region (faults, CloudWatch) and the stack's (the run) are found apart: they may differ
        aws = AwsContext(region=target.region if target else None)
        on_stack = stack_aws(args.region)
        if args.local:
            from harness.fanout.launch import deploy_local
            from harness.local.stack import load_local_info

            info = load_local_info()
            with err.status("deploying the fan-out stack into the local stack...") as status:
                outputs = deploy_local(info, aws=on_stack, stack_name=stack_name, on_event=lambda e: status.update(_stack_event(e)))
            defaults = StackDefaults(base_url=info.api_url, user_pool_id=info.user_pool_id, client_id=info.client_id, region=info.region)
        else:
            outputs = stack_outputs(on_stack.client("cloudformation"), stack_name, where=f" in {on_stack.region} (--region, else AWS_REGION or the AWS profile's)")
            defaults = stack_defaults(on_stack.client("cloudformation"), stack_name)
        check_stack_pool(scenario, defaults, stack_name=stack_name, stack_region=on_stack.region)
        stack = FanoutStack.of(outputs)
        with _named_as_flag("--workers", args.workers, field="fanout.workers"):
            spec = parse_input({**data, "run_id": run_id}, defaults=defaults)  # the same check the state machine makes
        FanoutExecution.check_run_id_unused(on_stack.client("stepfunctions"), state_machine_arn=stack.run_state_machine, run_id=run_id)
        if not args.local:  # the local runtime's concurrency is this machine's; on AWS the account's is shared
            from harness.fanout.launch import check_concurrency

            for note in check_concurrency(on_stack.client("lambda"), workers=spec.workers, function_name=stack.worker_function):
                err.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
        what = scenario.name if scenario else "the reference input"
        err.print(escape(f"harness fanout {what}: {spec.scenario().load_profile.profile} profile, {spec.workers} workers, "
                         f"{spec.segments} segment(s), state machine {stack.run_state_machine} -> {run_dir}"), highlight=False)  # fmt: skip
        faults = None
        if scenario is not None and scenario.faults:
            from harness.fanout.faults import FanoutFaults

            with err.status("checking the faults..."):
                faults = FanoutFaults(scenario, spec.windows, target=resolve_target(scenario), aws=aws, run_id=run_id)
                faults.check()
            err.print(f"{len(scenario.faults)} fault(s), applied from here on the run's clock: keep this command running until the run ends", highlight=False)
        estimate = estimate_cost(spec, memory_mb=args.memory)
        err.print(f"on AWS this run costs about ${estimate.total:,.2f}:" + (" (the local stack bills nothing)" if args.local else ""), highlight=False)
        for line in estimate.lines():
            err.print(line, highlight=False, markup=False)
        if not args.local and not args.yes:
            if not sys.stdin.isatty():
                raise UsageError("fanout: not asking on a non-terminal: pass --yes to start the run")
            if input("start the run? [y/N] ").strip().lower() not in {"y", "yes"}:
                err.print("not started")
                return EXIT_OK
        owner = contextlib.ExitStack()
        if faults:  # this process applies the faults: should it go silent, the workers stop (fanout.heartbeat_timeout)
            from harness.fanout.heartbeat import Heartbeat
            from harness.fanout.store import RunStore

            owner.enter_context(Heartbeat(RunStore(on_stack.client("s3"), bucket=stack.bucket, run_id=run_id)))
        with owner:
            execution = FanoutExecution.start(
                sfn=on_stack.client("stepfunctions"), s3=on_stack.client("s3"), state_machine_arn=stack.run_state_machine, bucket=stack.bucket, run_id=run_id, input=data
            )
            interrupted, failure, final = False, None, None
            previous = signal.signal(signal.SIGTERM, _interrupt)  # CI cancels with SIGTERM: stop as on Ctrl-C
            try:
                final = _follow(execution, run_dir, faults)
            except KeyboardInterrupt:
                interrupted = True
                final = _stop_execution(execution, "stopped by harness (Ctrl-C)", faults, reason="interrupted")
            except FaultError as exc:  # a fault that cannot start: the run would measure something else
                failure = str(exc)
                err.print(f"[red]stopping[/]: {escape(failure)}", highlight=False)
                final = _stop_execution(execution, f"harness: {failure}"[:200], faults, reason="failed")
            finally:
                signal.signal(signal.SIGTERM, previous)
                if faults:  # still active ones end now, whatever happened (and at exit, at the latest)
                    ending = "interrupted" if interrupted else "failed" if failure else _FAULTS_END.get(final.status if final else "", "failed")
                    for problem in faults.end_all(ending):
                        err.print(f"[red]fault[/] {escape(problem)}", highlight=False)
        stopped_outside = None
        if not interrupted and failure is None and final is not None:
            # ended by itself: before its merge (StopExecution from the console, a timeout), its workers may still load
            stopped_outside = execution.settle(final)
            if stopped_outside:
                err.print(f"[yellow]stopped[/]: {escape(stopped_outside)}", highlight=False)
        path = execution.download(run_dir)
        (run_dir / "progress.json").unlink(missing_ok=True)  # as after `harness run`: the run is over
        if path is None:
            raise RunError(f"the execution {final.status.lower()} before planning any shard: {execution.failure()}")
        _note_fanout(path, execution, stack, faults=faults, failure=failure, stopped=stopped_outside)
        err.print(escape(f"execution {final.status.lower()}: {final.done} of {final.shards} shards done, {final.failed} failed"), highlight=False)
        with err.status("pulling CloudWatch metrics and building the report..."):
            artifacts = analyse_run(run_dir, gates=args.gate, baseline_dir=baseline, aws=None if args.no_metrics else aws, period=args.period)
    _print_run(artifacts)
    if args.local:
        err.print("the run's local stack has stopped, and its test users and fan-out stack with it: nothing to clean up", highlight=False)
    for shard in artifacts.results.meta.get("failed_shards", []):
        err.print(escape(f"shard {shard['index']} (segment {shard['segment']}) failed: {shard['reason']}"), highlight=False)
    return _exit_code(artifacts, interrupted=interrupted or stopped_outside is not None)


@contextlib.contextmanager
def _named_as_flag(flag: str, value: Any, *, field: str) -> Iterator[None]:
    """A scenario error about ``field`` that a command-line ``flag`` set is the flag's: say so."""
    try:
        yield
    except ScenarioError as exc:
        if value is None or exc.field not in (field, f"scenario.{field}"):
            raise
        raise UsageError(f"{flag} {value}: {exc.reason}") from None


# how a fan-out run's faults end when its execution ends by itself
_FAULTS_END = {"SUCCEEDED": "completed", "ABORTED": "interrupted"}


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _stop_execution(execution: Any, cause: str, faults: Any, *, reason: str) -> Any:
    """Stop a fan-out run: faults end at once (``reason``), the workers end their shards and
    save what they measured (waiting 30 s at most for them), StopExecution; the last progress."""
    if faults:
        faults.end_all(reason)
    err.print("[yellow]stopping[/]: the workers end their shards and save what they measured; StopExecution")
    execution.stop(cause)
    try:
        with err.status("waiting for the running shards to save their results (Ctrl-C again: do not wait)..."):
            left = execution.drain(timeout=30.0)
    except KeyboardInterrupt:
        left = -1
    if left:
        err.print("[yellow]not waiting longer[/]: shards still running are left out of the results", highlight=False)
    return execution.progress()


def _follow(execution: Any, run_dir: Path, faults: Any = None) -> Any:
    """Wait for the execution with a live line on a terminal, a plain line every 10 s otherwise;
    ``run_dir/progress.json`` holds the latest progress, as for ``harness run``. ``faults``
    (``FanoutFaults``) are scheduled as the segments are planned."""
    from dataclasses import asdict

    from harness.progress import PROGRESS_FILE, write_progress

    last = [0.0]
    run_dir.mkdir(parents=True, exist_ok=True)

    def show(progress: Any) -> None:
        if faults:
            faults.follow(execution.store)
        write_progress(run_dir / PROGRESS_FILE, {**asdict(progress), "running": progress.running})
        if err.is_terminal:
            status.update(escape(progress.line()))
        elif time.time() - last[0] >= 10:
            last[0] = time.time()
            print(progress.line(), file=sys.stderr, flush=True)

    with err.status("starting the execution...") as status:
        return execution.wait(on_progress=show)


def _note_fanout(
    path: Path, execution: Any, stack: Any, *, faults: Any = None, failure: str | None = None, stopped: str | None = None
) -> None:
    """The run's state machine and worker function go into results.json, so that the report
    pulls their CloudWatch metrics too; the faults applied from here, with the recovery times
    measured again now that their real windows are known; a fault that could not start fails
    the run; an execution stopped outside harness makes it ``interrupted``, saying so."""
    from harness.results import ResultSet

    results = ResultSet.load(path)
    results.meta.setdefault("fanout", {}).update(
        state_machine_arn=stack.run_state_machine, execution_arn=execution.execution_arn, worker_function=stack.worker_function
    )
    if faults:
        from harness.faults.recovery import annotate

        results.meta["faults"] = faults.records()
        annotate(results)
    if failure:
        results.meta.update(status="failed", error=failure)
    elif stopped:
        results.meta.update(status="interrupted", error=stopped)
    results.save(path)


def _stack_event(event: dict[str, Any]) -> str:
    reason = f": {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
    return escape(f"deploying: {event.get('LogicalResourceId')} {event.get('ResourceStatus')}{reason}")[:200]


def cmd_package(args: argparse.Namespace) -> int:
    from harness.fanout.package import CONSTRAINTS, build_package, lambda_runtime, write_constraints

    python = args.python or lambda_runtime()[0]
    if args.write_constraints:
        with err.status(f"resolving the Lambda dependencies for Python {python}..."):
            pins = write_constraints(python_version=python)
        err.print(f"{CONSTRAINTS}: {len(pins)} packages pinned", highlight=False)
    with err.status("building the code zip" + ("" if args.no_deps else f" with Linux wheels for Python {python}") + "..."):
        info = build_package(out=args.out, python_version=python, deps=not args.no_deps)
    out.print(f"{info.path}: {info.files:,} files, {info.size_zipped / 1e6:.1f} MB zipped, {info.size_unzipped / 1e6:.1f} MB unzipped "
              f"(Lambda allows 250 MB unzipped); sha256 {info.sha256[:12]}", highlight=False)  # fmt: skip
    _note_bytecode(info, python)
    return EXIT_OK


def _note_bytecode(info: Any, python: str) -> None:
    if info.bytecode is None:
        err.print(f"[yellow]note:[/] no Python {python} here to compile the bytecode (set HARNESS_LAMBDA_PYTHON): the zip holds source only, "
                  "and every cold start compiles it", highlight=False)  # fmt: skip


def cmd_deploy(args: argparse.Namespace) -> int:
    import tempfile

    from harness.fanout.deploy import deploy_stack
    from harness.fanout.deploy import check_stack_name
    from harness.fanout.launch import TEMPLATE, stack_aws
    from harness.fanout.package import build_package, lambda_runtime

    check_stack_name(args.stack, TEMPLATE.read_text(encoding="utf-8"))  # before the zip is built
    parameters = dict(_parameter(p) for p in args.parameter)
    if args.local:
        from harness.fanout.launch import local_parameters

        for name, value in local_parameters(_use_running_local_stack()).items():
            parameters.setdefault(name, value)
    if args.scenario:
        from harness.target import resolve_target

        target = resolve_target(check_scenario(args.scenario))
        parameters.setdefault("TargetUrl", target.base_url)
        parameters.setdefault("UserPoolId", target.user_pool_id or "")
        parameters.setdefault("UserPoolClientId", target.client_id or "")
    for name, value in (("TargetUrl", args.target_url), ("UserPoolId", args.user_pool_id), ("UserPoolClientId", args.client_id), ("TargetPath", args.path)):
        if value:
            parameters[name] = value
    missing = [n for n in ("TargetUrl", "UserPoolId", "UserPoolClientId") if not parameters.get(n)]
    if missing:
        raise UsageError(f"deploy: {', '.join(missing)} missing: pass --scenario FILE, or --target-url, --user-pool-id and --client-id")
    aws = stack_aws(args.region)
    with tempfile.TemporaryDirectory(prefix="harness-package-") as tmp:
        code = args.code
        if code is None:
            with err.status("building the code zip" + ("" if args.local else " with Linux wheels") + "..."):
                package = build_package(out=Path(tmp) / "harness-fanout.zip", deps=not args.local)
            if not args.local:  # the local runtime runs this machine's Python, whatever the zip holds
                _note_bytecode(package, lambda_runtime()[0])
            code = package.path
        with err.status(f"deploying {args.stack}...") as status:
            outputs = deploy_stack(
                cloudformation=aws.client("cloudformation"), s3=aws.client("s3"), sts=aws.client("sts"), stack_name=args.stack,
                template=TEMPLATE, parameters=parameters, code_zip=code,
                on_event=lambda e: (status.update(_stack_event(e)), err.print(_stack_event(e), highlight=False)),
            )  # fmt: skip
    table = Table(title=f"stack {args.stack}", show_header=False, title_justify="left")
    for key, value in sorted(outputs.items()):
        table.add_row(key, value)
    out.print(table)
    return EXIT_OK


def _use_running_local_stack() -> Any:
    """Point boto3 in this process at the running local stack (``harness local up``), unless the
    environment already points somewhere; its ``LocalStackInfo``."""
    from harness.local.stack import load_local_info

    info = load_local_info()
    for key, value in info.env(jwks=False).items():
        os.environ.setdefault(key, value)
    return info


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise UsageError(f"--parameter {text!r}: write NAME=VALUE, e.g. WorkerMemory=3008")
    return name, value


def cmd_cleanup(args: argparse.Namespace) -> int:
    import json

    from harness.fanout.deploy import stack_outputs
    from harness.fanout.launch import FanoutStack, parse_reference, stack_aws

    if args.scenario and args.reference:
        raise UsageError("cleanup: give --scenario or --input, not both")
    check_number("--timeout", args.timeout, minimum=1)
    if args.local:
        from harness.errors import LocalStackError

        try:
            _use_running_local_stack()
        except LocalStackError as exc:
            raise LocalStackError(
                f"{exc}. (`harness fanout --local` runs on a stack of its own, which is gone with its test users when the run "
                "ends: nothing is left to clean up. To keep a stack: `harness local up`, `harness deploy --local`, then "
                "`harness fanout` and `harness cleanup --local`)"
            ) from None
    data: dict[str, Any] = {}
    if args.reference:
        data = parse_reference(args.reference)
    elif args.scenario:
        from harness.target import resolve_target

        scenario = check_scenario(args.scenario)
        if scenario.auth is None:
            raise UsageError(f"{args.scenario}: the scenario has no [auth] section: it has no test users to delete")
        data = {"user_pool_id": resolve_target(scenario).user_pool_id, "prefix": scenario.auth.username_prefix, "count": scenario.auth.users}
    aws = stack_aws(args.region)
    local = {"where": " in the running local stack", "deploy": "harness deploy --local" + ("" if args.stack == "harness-fanout" else f" --stack {args.stack}")}
    stack = FanoutStack.of(stack_outputs(aws.client("cloudformation"), args.stack, **(local if args.local else {})))
    sfn = aws.client("stepfunctions")
    from harness.runs import new_run_id

    name = "cleanup-" + new_run_id()
    arn = sfn.start_execution(stateMachineArn=stack.cleanup_state_machine, name=name, input=json.dumps(data))["executionArn"]
    deadline = time.time() + args.timeout
    with err.status("deleting the test users..."):
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            if time.time() >= deadline:
                raise RunError(f"the cleanup execution is still running after {args.timeout:g} s (--timeout); it goes on by itself: {arn}")
            time.sleep(1.0)
    if described["status"] != "SUCCEEDED":
        from harness.fanout.aggregate import failure_reason

        raise RunError(f"the cleanup execution {described['status'].lower()}: {failure_reason(described.get('error'), described.get('cause'))}")
    result = json.loads(described.get("output") or "{}")
    out.print(escape(str(result.get("summary") or result)), highlight=False)
    return EXIT_OK if result.get("ok", True) else EXIT_RUN_FAILED


# ---- output ---------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _print_run(artifacts: Any) -> None:
    from harness.report.tables import late_starts

    results = artifacts.results
    meta = results.meta
    table = Table(title=f"{meta.get('scenario', '')} ({meta.get('profile', '')}, {results.duration():.0f} s, {meta.get('status', '')})")
    for col in ("endpoint", "requests", "rps", "p50 ms", "p95 ms", "p99 ms", "max ms", "ok", "throttled", "auth", "server", "client", "transport"):
        table.add_column(col, justify="left" if col == "endpoint" else "right", no_wrap=True)
    for row in results.summary():
        table.add_row(
            row["endpoint"], f"{row['requests']:,}", _fmt(row["rps"]), _fmt(row["p50_ms"]), _fmt(row["p95_ms"]), _fmt(row["p99_ms"]), _fmt(row["max_ms"]),
            *(f"{row[o]:,}" for o in ("ok", "throttled", "auth", "server", "client", "transport")),
        )  # fmt: skip
    out.print(table)
    pacer = results.pacer_totals()
    if pacer.target:
        line = f"planned {pacer.target:,.0f} requests, released {pacer.released:,} ({100 * pacer.released / pacer.target:.1f}%), dropped {pacer.dropped:,}"
        late = late_starts(meta)
        if late:  # drops a late start caused: the start lead's, not the virtual users'
            line += f" ({late[1]})"
        generator = meta.get("generator") or {}
        if generator.get("stalls"):
            line += f"; load generator stalled {generator['stalls']:,} times (longest {generator['longest_stall_ms']:g} ms)"
        out.print(line)
    retries = results.retry_summary()
    if retries:
        total = retries[-1]
        out.print(
            f"retries (counted apart from the first attempts above): {total['retried']:,} requests retried with {total['retry_attempts']:,} "
            f"more attempts ({total['attempts']:,} in all); {total['ok_after_retry']:,} ok after a retry, {total['gave_up']:,} gave up, "
            f"{total['failed_after_retry']:,} failed on a status not retried, {total['stopped']:,} stopped by the end of the run"
        )
    for note in artifacts.notes:
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    _print_comparison(artifacts.comparison)
    _print_verdict(artifacts)
    _print_probe(artifacts)
    if artifacts.report is not None:
        out.print(f"report: {artifacts.report.html}", highlight=False)
    out.print(f"run folder: {artifacts.run_dir}", highlight=False)


def _print_comparison(comparison: Any) -> None:
    if comparison is None:
        return
    for warning in comparison.warnings:
        out.print(f"[yellow]not like for like:[/] {escape(warning)}", highlight=False)
    style = "red" if comparison.regressions else "green"
    out.print(f"[{style}]{comparison.headline()}[/]", highlight=False)
    for regression in comparison.regressions[:10]:
        out.print(f"  {regression.text()}", highlight=False, markup=False)
    if len(comparison.regressions) > 10:
        out.print(f"  and {len(comparison.regressions) - 10} more: see the report", highlight=False)


def _print_verdict(artifacts: Any) -> None:
    """The verdict, only for a run that was judged; otherwise what happened instead
    (``artifacts.outcome``, the one decision)."""
    from harness.gates import Outcome

    outcome = artifacts.outcome
    if outcome is Outcome.RUN_FAILED:
        reason = artifacts.results.meta.get("error") or "see locust.log in the run folder"
        err.print(f"[red]run failed:[/] {escape(str(reason))}", highlight=False)
        return
    lines = artifacts.verdict.summary_lines()
    if outcome is Outcome.ABORTED:
        reason = artifacts.results.meta.get("error") or "an abort_on rule held"
        err.print(f"[red]run aborted:[/] {escape(str(reason))}; the results above cover what was measured until then", highlight=False)
        for line in lines:
            out.print(f"  (not judged) {line}", highlight=False, markup=False)
        return
    if outcome is Outcome.NOT_JUDGED:
        err.print(f"[yellow]{artifacts.status}[/]: the results above cover what was measured until then; the run was not judged", highlight=False)
        for line in lines:
            out.print(f"  (not judged) {line}", highlight=False, markup=False)
        return
    if not lines:
        out.print("no gates: measured, not judged (add gates to the scenario or pass --gate)", highlight=False)
        return
    if artifacts.results.meta.get("probe"):
        out.print("gates, judged on the steps that held (the knee step is not part of the verdict):", highlight=False)
    for line in lines:
        style = "green" if line.startswith("PASS") else "red"
        out.print(f"[{style}]{escape(line)}[/]", highlight=False)
    verdict = "[green]PASSED[/]" if outcome is Outcome.PASSED else "[red]FAILED[/]"
    out.print(f"verdict: {verdict}")


def _print_probe(artifacts: Any) -> None:
    """A probe's answer: the sustainable rate and the knee (``harness.probe``)."""
    from harness.gates import Outcome, format_amount

    probe = artifacts.results.meta.get("probe")
    if not probe or artifacts.outcome is Outcome.RUN_FAILED:
        return

    for step in probe["steps"]:
        p95 = "-" if step["p95_ms"] is None else format_amount(step["p95_ms"], "ms")
        errors = "-" if step["error_rate"] is None else format_amount(step["error_rate"], "%")
        throttled = "-" if step["throttled_rate"] is None else format_amount(step["throttled_rate"], "%")
        mark = "held" if step["held"] else "BREACHED " + "; ".join(step["breached"])
        out.print(
            f"  step {step['step']}: {format_amount(step['rate'], 'rps')} planned, {format_amount(step['achieved_rate'], 'rps')} sent, "
            f"p95 {p95}, errors {errors}, throttled {throttled}: {mark}",
            highlight=False, markup=False,
        )  # fmt: skip
    top = probe["planned_steps"][-1] if probe["planned_steps"] else None
    if probe["sustainable_rate"] is not None:
        out.print(f"[green]sustainable rate: {format_amount(probe['sustainable_rate'], 'rps')}[/]", highlight=False)
    else:
        out.print("[red]sustainable rate: none[/] (even the first step breached the gates)", highlight=False)
    knee = next((s for s in probe["steps"] if not s["held"]), None)
    if knee is not None:
        breached = "; ".join(b.replace(": ", " breached: ", 1) for b in knee["breached"])
        out.print(f"knee: {format_amount(knee['rate'], 'rps')} ({escape(breached)})", highlight=False)
    elif probe["top_held"]:
        out.print(f"knee: not reached: the ramp's top ({format_amount(top, 'rps')}) held; raise load.to_rate to probe further", highlight=False)
    elif artifacts.outcome is Outcome.NOT_JUDGED:
        out.print("knee: not reached before the run was interrupted", highlight=False)


# ---- entry point ----------------------------------------------------------------------------

COMMANDS = {
    "run": cmd_run,
    "probe": cmd_probe,
    "report": cmd_report,
    "check": cmd_check,
    "local": cmd_local,
    "users": cmd_users,
    "fanout": cmd_fanout,
    "package": cmd_package,
    "deploy": cmd_deploy,
    "cleanup": cmd_cleanup,
    "faults": cmd_faults,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # botocore at DEBUG prints request bodies (passwords): never below INFO
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        return COMMANDS[args.command](args)
    except HarnessError as exc:
        message = str(exc)
        if args.verbose and isinstance(exc, ScenarioError) and len(exc.details) > 1:
            for line in exc.details:  # every problem, not only the first
                err.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)
            message = f"{exc.path}: {len(exc.details)} problems, listed above; fix each"
        err.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
