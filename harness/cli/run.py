"""``harness run``, ``harness probe`` and ``harness check``: one scenario on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from harness.cli.local import local_stack, refuse_second_local_stack
from harness.cli.render import err, out, print_run, warn
from harness.errors import RunError, UsageError
from harness.gates.verdict import EXIT_OK
from harness.options import check_baseline, check_number, check_processes, check_scenario, fault_warnings
from harness.runs import run_folder

__all__ = ["cmd_run", "cmd_probe", "cmd_check", "exit_code"]


def cmd_run(args: argparse.Namespace, *, probe: bool = False) -> int:
    """``harness run``, and with ``probe`` ``harness probe`` (the same run, stopped at the knee):
    check -> stack -> run -> analyse -> render."""
    from harness.runs import analyse_run

    scenario, baseline, processes = _check_run(args, probe=probe)  # everything that can be wrong, before anything starts
    run_id, run_dir = run_folder(run_id=args.run_id, results_dir=args.results_dir, overwrite=args.overwrite)
    if args.local:
        from harness.target import check_local_target

        check_local_target(scenario, source=args.scenario)
        refuse_second_local_stack()
    with local_stack(args.local, scenario) as env:
        aws, metrics = _prepare_run(args, scenario, run_dir=run_dir, probe=probe)
        outcome = _run(args, scenario, run_dir=run_dir, run_id=run_id, env=env, processes=processes, probe=probe)
        with err.status("pulling CloudWatch metrics and building the report..."):
            artifacts = analyse_run(run_dir, gates=args.gate, baseline_dir=baseline, aws=aws if metrics else None, period=args.period)
    print_run(artifacts)
    return exit_code(artifacts, interrupted=outcome.interrupted)


def _check_run(args: argparse.Namespace, *, probe: bool) -> tuple[Any, Path | None, int | None]:
    """The command's scenario, baseline and processes, checked: (scenario, baseline, processes)."""
    processes = check_processes(args.processes)
    check_number("--period", args.period, minimum=1, integer=True)
    baseline = check_baseline(args.baseline)
    scenario = check_scenario(args.scenario, gates=args.gate, overrides=args.set, baseline=baseline, override_limits=args.override_limits,
                              metrics=not args.no_metrics, fanout=False, probe=probe)  # fmt: skip
    warn(fault_warnings(scenario))
    return scenario, baseline, processes


def _prepare_run(args: argparse.Namespace, scenario: Any, *, run_dir: Path, probe: bool) -> tuple[Any, bool]:
    """In the command's stack: the target found, AWS access checked, the test users created
    (``--create-users``, default with ``--local``), the run announced; (AwsContext, pull metrics)."""
    from harness.auth.users import ensure_test_users
    from harness.aws import AwsContext
    from harness.errors import LocalStackError
    from harness.preflight import preflight
    from harness.target import resolve_target

    create_users = args.create_users if args.create_users is not None else args.local
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
        ensure_test_users(count=scenario.auth.users, prefix=scenario.auth.username_prefix, pool=scenario.auth.user_pool_id, region=target.region,
                          progress=err.is_terminal, on_report=lambda report: err.print(report.summary()))  # fmt: skip
    sets = f", with --set {' '.join(args.set)}" if args.set else ""
    uses_aws = scenario.auth is not None or metrics or bool(scenario.faults)
    region = f", region {target.region} (from {target.region_source})" if uses_aws else ""
    what = f"{scenario.name}: {scenario.load_profile.profile} profile, ~{_planned_duration(scenario):.0f} s, {scenario.vus} virtual users"
    err.print(f"[bold]harness {'probe' if probe else 'run'}[/] " + escape(f"{what}{region}{sets} -> {run_dir}"), highlight=False)
    return aws, metrics


def _run(args: argparse.Namespace, scenario: Any, *, run_dir: Path, run_id: str, env: dict[str, str], processes: int | None, probe: bool) -> Any:
    """The run itself (``run_headless``) with live progress; its ``RunOutcome``. RunError when
    it stopped before measuring anything."""
    from harness.load.runner import run_headless
    from harness.progress import PROGRESS_FILE, LiveProgress

    preparing = "signing in the virtual users" if scenario.auth is not None else "starting the virtual users"
    with LiveProgress(console=err, total=_planned_duration(scenario), preparing=preparing) as progress:
        outcome = run_headless(
            args.scenario, run_dir=run_dir, run_id=run_id, env=env, overwrite=args.overwrite, processes=processes,
            override_limits=args.override_limits, overrides=args.set, on_tick=lambda t: progress.poll(run_dir / PROGRESS_FILE, elapsed=t),
            probe_gates=list(args.gate) if probe else None,
        )  # fmt: skip
    if not outcome.results_path.exists():
        tail = _tail(run_dir / "locust.out") or _tail(outcome.log_path)
        raise RunError(f"the run stopped before measuring anything (Locust exit {outcome.exit_code}): {tail}; full log in {outcome.log_path}")
    if outcome.interrupted:
        err.print("[yellow]stopped[/]: Locust wrote what it measured; building the report from it")
    return outcome


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


def exit_code(artifacts: Any, *, interrupted: bool = False) -> int:
    """What happened, as an exit code (``harness.gates.Outcome.exit_code``)."""
    return artifacts.outcome.exit_code(interrupted=interrupted)


def _planned_duration(scenario: Any) -> float:
    from harness.plan import planned_duration

    return planned_duration(scenario.load_profile)


def _tail(path: Path | None, lines: int = 1) -> str:
    if path is None:
        return ""
    try:
        text = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])[:300]


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
    warn([*fault_warnings(scenario), *([f"harness fanout: {fanout}"] if fanout else [])])
    return EXIT_OK
