"""``harness fanout`` (a run on the fan-out stack, ``harness.fanout.run.run_fanout``) and the
stack's other commands: ``harness package``, ``deploy`` and ``cleanup``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from harness.cli.local import local_stack, refuse_second_local_stack, use_running_local_stack
from harness.cli.render import err, note_bytecode, out, print_run, stack_event, warn
from harness.cli.run import exit_code
from harness.errors import RunError, ScenarioError, UsageError
from harness.gates.verdict import EXIT_OK, EXIT_RUN_FAILED
from harness.options import check_baseline, check_number, check_scenario, fault_warnings
from harness.runs import run_folder

__all__ = ["cmd_fanout", "cmd_package", "cmd_deploy", "cmd_cleanup"]


def cmd_fanout(args: argparse.Namespace) -> int:
    """``harness fanout``: check -> stack -> run (``run_fanout``) -> analyse -> render."""
    from harness.fanout.run import run_fanout
    from harness.runs import analyse_run

    scenario, reference, baseline = _check_fanout(args)  # everything that can be wrong with the command, before anything starts
    run_id, run_dir = run_folder(run_id=args.run_id, results_dir=args.results_dir, overwrite=args.overwrite)
    if args.local:
        refuse_second_local_stack()
    with local_stack(args.local, scenario):
        run = _prepare_fanout(args, scenario, reference, run_id=run_id, run_dir=run_dir)
        if run is None:
            err.print("not started")
            return EXIT_OK
        outcome = run_fanout(scenario, stack=run.stack, run_dir=run_dir, run_id=run_id, input=run.data, aws=run.aws, stack_aws=run.on_stack,
                             faults=run.faults, on_progress=_every_10_s(), on_note=_fanout_note, status=err.status)  # fmt: skip
        err.print(escape(outcome.summary), highlight=False)
        with err.status("pulling CloudWatch metrics and building the report..."):
            artifacts = analyse_run(run_dir, gates=args.gate, baseline_dir=baseline, aws=None if args.no_metrics else run.aws, period=args.period)
    print_run(artifacts)
    if args.local:
        err.print("the run's local stack has stopped, and its test users and fan-out stack with it: nothing to clean up", highlight=False)
    for shard in artifacts.results.meta.get("failed_shards", []):
        err.print(escape(f"shard {shard['index']} (segment {shard['segment']}) failed: {shard['reason']}"), highlight=False)
    return exit_code(artifacts, interrupted=outcome.interrupted)


def _check_fanout(args: argparse.Namespace) -> tuple[Any, Any, Path | None]:
    """The command's scenario (or reference input) and baseline, checked: (scenario, reference, baseline)."""
    from harness.fanout.launch import parse_reference
    from harness.fanout.spec import check_start_lead

    if (args.scenario is None) == (args.reference is None):
        raise UsageError("fanout: give a scenario file, or the reference input with --input '{\"users\": {...}}'")
    if args.reference is not None and args.set:
        raise UsageError("fanout: --set changes a scenario file; with --input, put the numbers in the input")
    check_number("--workers", args.workers, minimum=1, integer=True)
    check_number("--memory", args.memory, minimum=128, integer=True)
    check_number("--period", args.period, minimum=1, integer=True)
    baseline = check_baseline(args.baseline)
    if args.scenario is None:
        return None, parse_reference(args.reference), baseline
    scenario = check_scenario(args.scenario, gates=args.gate, overrides=args.set, baseline=baseline, override_limits=args.override_limits,
                              metrics=not args.no_metrics, fanout=True)  # fmt: skip
    if args.workers is not None:  # --workers replaces fanout.workers: held to the same limits, named as the flag
        with _named_as_flag("--workers", args.workers, field="fanout.workers"):
            check_scenario(args.scenario, overrides=[*args.set, f"fanout.workers={args.workers}"], override_limits=args.override_limits)
    warn(fault_warnings(scenario))
    check_start_lead(scenario, args.workers, path=str(args.scenario))  # before anything starts
    return scenario, None, baseline


@dataclass
class _Prepared:
    """A fan-out run ready to start: its stack, input, faults and the two accounts."""

    stack: Any
    data: dict[str, Any]
    aws: Any  # the target's region: faults, CloudWatch
    on_stack: Any  # the stack's region: the run
    faults: Any = None


def _prepare_fanout(args: argparse.Namespace, scenario: Any, reference: Any, *, run_id: str, run_dir: Path) -> _Prepared | None:
    """The stack found (or deployed into the local stack), the input checked as the state
    machine will, the faults checked, the cost shown and the start confirmed; None: not started."""
    from harness.aws import AwsContext
    from harness.fanout.execution import FanoutExecution
    from harness.fanout.launch import FanoutStack, check_stack_pool, execution_input
    from harness.fanout.spec import parse_input
    from harness.target import resolve_target

    data = execution_input(scenario=scenario, reference=reference, workers=args.workers, override_limits=args.override_limits)
    target = resolve_target(scenario) if scenario else None
    # the target's region (faults, CloudWatch) and the stack's (the run) are found apart: they may differ
    run = _Prepared(stack=None, data=data, aws=AwsContext(region=target.region if target else None), on_stack=None)
    stack_name = args.stack or (scenario.fanout.stack_name if scenario else "harness-fanout")
    outputs, defaults, run.on_stack = _fanout_stack(args, stack_name)
    check_stack_pool(scenario, defaults, stack_name=stack_name, stack_region=run.on_stack.region)
    run.stack = FanoutStack.of(outputs)
    with _named_as_flag("--workers", args.workers, field="fanout.workers"):
        spec = parse_input({**data, "run_id": run_id}, defaults=defaults)  # the same check the state machine makes
    FanoutExecution.check_run_id_unused(run.on_stack.client("stepfunctions"), state_machine_arn=run.stack.run_state_machine, run_id=run_id)
    if not args.local:  # the local runtime's concurrency is this machine's; on AWS the account's is shared
        from harness.fanout.launch import check_concurrency

        for note in check_concurrency(run.on_stack.client("lambda"), workers=spec.workers, function_name=run.stack.worker_function):
            err.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    what = scenario.name if scenario else "the reference input"
    err.print(escape(f"harness fanout {what}: {spec.scenario().load_profile.profile} profile, {spec.workers} workers, "
                     f"{spec.segments} segment(s), state machine {run.stack.run_state_machine} -> {run_dir}"), highlight=False)  # fmt: skip
    if scenario is not None and scenario.faults:
        from harness.fanout.faults import FanoutFaults

        with err.status("checking the faults..."):
            run.faults = FanoutFaults(scenario, spec.windows, target=target, aws=run.aws, run_id=run_id)
            run.faults.check()
        err.print(f"{len(scenario.faults)} fault(s), applied from here on the run's clock: keep this command running until the run ends", highlight=False)
    return run if _confirm_cost(args, spec) else None


def _fanout_stack(args: argparse.Namespace, stack_name: str) -> tuple[dict[str, str], Any, Any]:
    """The fan-out stack's outputs, the target it was deployed for and its ``AwsContext``;
    with ``--local`` deployed now into the command's local stack."""
    from harness.fanout.deploy import stack_outputs
    from harness.fanout.launch import stack_aws, stack_defaults
    from harness.fanout.spec import StackDefaults

    on_stack = stack_aws(args.region)
    if not args.local:
        outputs = stack_outputs(on_stack.client("cloudformation"), stack_name, where=f" in {on_stack.region} (--region, else AWS_REGION or the AWS profile's)")
        return outputs, stack_defaults(on_stack.client("cloudformation"), stack_name), on_stack
    from harness.fanout.launch import deploy_local
    from harness.local.stack import load_local_info

    info = load_local_info()
    with err.status("deploying the fan-out stack into the local stack...") as status:
        outputs = deploy_local(info, aws=on_stack, stack_name=stack_name, on_event=lambda e: status.update(stack_event(e)))
    defaults = StackDefaults(base_url=info.api_url, user_pool_id=info.user_pool_id, client_id=info.client_id, region=info.region)
    return outputs, defaults, on_stack


def _confirm_cost(args: argparse.Namespace, spec: Any) -> bool:
    """Show what the run costs on AWS; ask before starting it (not with --yes, nor locally)."""
    from harness.fanout.cost import estimate_cost

    estimate = estimate_cost(spec, memory_mb=args.memory)
    err.print(f"on AWS this run costs about ${estimate.total:,.2f}:" + (" (the local stack bills nothing)" if args.local else ""), highlight=False)
    for line in estimate.lines():
        err.print(line, highlight=False, markup=False)
    if args.local or args.yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("fanout: not asking on a non-terminal: pass --yes to start the run")
    return input("start the run? [y/N] ").strip().lower() in {"y", "yes"}


# what run_fanout says (``on_note(kind, text)``), as the command prints it
_NOTES = {
    "failing": "[red]stopping[/]: ",
    "stopping": "[yellow]stopping[/]: ",
    "not waiting longer": "[yellow]not waiting longer[/]: ",
    "fault": "[red]fault[/] ",
    "stopped": "[yellow]stopped[/]: ",
}


def _fanout_note(kind: str, text: str) -> None:
    err.print(_NOTES[kind] + escape(text), highlight=False)


def _every_10_s() -> Any:
    """Progress for a log (not a terminal, where the status line shows it): a line every 10 s."""
    last = [0.0]

    def show(progress: Any) -> None:
        if not err.is_terminal and time.time() - last[0] >= 10:
            last[0] = time.time()
            print(progress.line(), file=sys.stderr, flush=True)

    return show


@contextlib.contextmanager
def _named_as_flag(flag: str, value: Any, *, field: str) -> Iterator[None]:
    """A scenario error about ``field`` that a command-line ``flag`` set is the flag's: say so."""
    try:
        yield
    except ScenarioError as exc:
        if value is None or exc.field not in (field, f"scenario.{field}"):
            raise
        raise UsageError(f"{flag} {value}: {exc.reason}") from None


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
    note_bytecode(info, python)
    return EXIT_OK


def cmd_deploy(args: argparse.Namespace) -> int:
    import tempfile

    from harness.fanout.deploy import check_stack_name, deploy_stack
    from harness.fanout.launch import TEMPLATE, stack_aws
    from harness.fanout.package import build_package, lambda_runtime

    check_stack_name(args.stack, TEMPLATE.read_text(encoding="utf-8"))  # before the zip is built
    parameters = _deploy_parameters(args)
    aws = stack_aws(args.region)
    with tempfile.TemporaryDirectory(prefix="harness-package-") as tmp:
        code = args.code
        if code is None:
            with err.status("building the code zip" + ("" if args.local else " with Linux wheels") + "..."):
                package = build_package(out=Path(tmp) / "harness-fanout.zip", deps=not args.local)
            if not args.local:  # the local runtime runs this machine's Python, whatever the zip holds
                note_bytecode(package, lambda_runtime()[0])
            code = package.path
        with err.status(f"deploying {args.stack}...") as status:

            def on_event(event: dict[str, Any]) -> None:
                status.update(stack_event(event))
                err.print(stack_event(event), highlight=False)

            outputs = deploy_stack(
                cloudformation=aws.client("cloudformation"), s3=aws.client("s3"), sts=aws.client("sts"), stack_name=args.stack,
                template=TEMPLATE, parameters=parameters, code_zip=code,
                on_event=on_event,
            )  # fmt: skip
    table = Table(title=f"stack {args.stack}", show_header=False, title_justify="left")
    for key, value in sorted(outputs.items()):
        table.add_row(key, value)
    out.print(table)
    return EXIT_OK


def _deploy_parameters(args: argparse.Namespace) -> dict[str, str]:
    """The template's parameters: --parameter, then the local stack's, the scenario's, and the
    flags (they win); UsageError when the target, pool or client is missing."""
    parameters = dict(_parameter(p) for p in args.parameter)
    if args.local:
        from harness.fanout.launch import local_parameters

        for name, value in local_parameters(use_running_local_stack()).items():
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
    return parameters


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise UsageError(f"--parameter {text!r}: write NAME=VALUE, e.g. WorkerMemory=3008")
    return name, value


def cmd_cleanup(args: argparse.Namespace) -> int:
    import json

    from harness.fanout.deploy import stack_outputs
    from harness.fanout.launch import FanoutStack, stack_aws

    data = _cleanup_input(args)
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


def _cleanup_input(args: argparse.Namespace) -> dict[str, Any]:
    """The cleanup state machine's input (--input, or the scenario's pool and users), checked;
    with --local, this process pointed at the running local stack."""
    from harness.fanout.launch import parse_reference

    if args.scenario and args.reference:
        raise UsageError("cleanup: give --scenario or --input, not both")
    check_number("--timeout", args.timeout, minimum=1)
    if args.local:
        from harness.errors import LocalStackError

        try:
            use_running_local_stack()
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
    return data
