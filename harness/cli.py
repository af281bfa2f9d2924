"""The ``harness`` command: a thin shell over the public API.

    harness run scenarios/burst.toml --local       # headless run on the local stack
    harness report reports/<run-id> --baseline reports/<other>
    harness local up | run | status | env | down
    harness users create --scenario scenarios/burst.toml

Exit codes: 0 passed, 1 a gate failed, 2 bad usage or scenario, 3 the run itself failed,
130 interrupted (results still written). Errors print one line, never a traceback.
Every option also reads a ``HARNESS_*`` environment variable; an explicit option wins.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, Sequence

from rich.console import Console
from rich.table import Table

import harness
from harness.errors import HarnessError, RunError, UsageError

__all__ = ["main"]

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_RUN_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

# Not a terminal (CI logs, pipes): rich would assume 80 columns and squeeze the tables.
out = Console(width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 150)


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
    run.add_argument("--local", action="store_true", default=_flag("LOCAL"), help="start the local stack for this run (moto + API Gateway emulator)")
    run.add_argument("--results-dir", default=_env("RESULTS_DIR"), help="run folder (default reports/<run-id>)")
    run.add_argument("--run-id", default=_env("RUN_ID"), help="run id (default: time and a random suffix)")
    run.add_argument("--processes", type=int, default=_env("PROCESSES"), help="Locust worker processes on this machine (-1: one per core)")
    run.add_argument("--gate", action="append", default=[], metavar="EXPR", help='extra gate, e.g. "p95 < 300ms" (repeatable)')
    run.add_argument("--baseline", type=Path, default=_env("BASELINE"), help="earlier run folder to compare with")
    run.add_argument("--create-users", action=argparse.BooleanOptionalAction, default=None, help="create the scenario's test users first (default: on with --local)")
    run.add_argument("--override-limits", action="store_true", default=_flag("OVERRIDE_LIMITS"), help="allow a scenario to raise its safety limits")
    run.add_argument("--period", type=int, default=_env("METRICS_PERIOD"), help="CloudWatch period in seconds (default: chosen from the run length)")
    run.add_argument("--no-metrics", action="store_true", help="do not pull CloudWatch metrics")

    report = sub.add_parser("report", help="(re)build report.html, summary.md and verdict.json for a run folder")
    report.add_argument("run_dir", type=Path)
    report.add_argument("--baseline", type=Path, default=_env("BASELINE"))
    report.add_argument("--gate", action="append", default=[], metavar="EXPR")
    report.add_argument("--pull-metrics", action="store_true", help="pull CloudWatch metrics again (needs AWS access)")
    report.add_argument("--period", type=int, default=None)

    local = sub.add_parser("local", help="the local stack: moto server + API Gateway emulator on 127.0.0.1")
    local.add_argument("action", choices=["up", "run", "status", "down", "env"], help="up: start in the background; run: in the foreground until Ctrl-C")
    local.add_argument("--throttle-rate", type=float, default=None, help="stage throttle rate (requests per second)")
    local.add_argument("--throttle-burst", type=int, default=None, help="stage throttle burst")

    users = sub.add_parser("users", help="create or delete the Cognito test users")
    users.add_argument("action", choices=["create", "delete"])
    users.add_argument("--scenario", help="take pool, region, count and prefix from this scenario")
    users.add_argument("--pool", dest="user_pool_id", help="user pool id (or 'local')")
    users.add_argument("--count", type=int, help="number of users")
    users.add_argument("--prefix", default=None, help="username prefix (default loadtestuser)")
    users.add_argument("--region", default=None)
    users.add_argument("--rate", type=float, default=25.0, help="admin API calls per second at most (two per user created)")
    users.add_argument("--local", action="store_true", default=_flag("LOCAL"), help="use the running local stack (harness local up)")
    return parser


# ---- commands -------------------------------------------------------------------------------


@contextlib.contextmanager
def _local_stack(enabled: bool, scenario: Any) -> Iterator[dict[str, str]]:
    """Start a local stack for this command, set up as the scenario's ``[local]`` says,
    and point this process at it."""
    if not enabled:
        yield {}
        return
    from harness.local.apigw.config import BackendConfig, Throttle
    from harness.local.stack import LocalStack

    settings = scenario.local
    throttle = Throttle(rate=settings.throttle_rate, burst=settings.throttle_burst) if settings.throttle_rate else None
    backend = BackendConfig(latency_ms=settings.latency_ms, latency_sigma=settings.latency_sigma, error_rate=settings.error_rate)
    with err.status("starting the local stack (moto + API Gateway emulator)..."):
        stack = LocalStack(throttle=throttle, backend=backend)
        stack.start()
    try:
        with stack.activate() as env:
            yield env
    finally:
        stack.stop()


def cmd_run(args: argparse.Namespace) -> int:
    from harness.load.runner import run_headless
    from harness.gates import parse_gates
    from harness.runs import analyse_run
    from harness.scenario import Scenario

    scenario = Scenario.load(args.scenario, override_limits=args.override_limits)
    # bad gates fail now, not after the run
    parse_gates(scenario.gates, path=args.scenario)
    parse_gates(args.gate, path="--gate")
    if args.baseline is not None and not (args.baseline / "results.json").exists():
        raise UsageError(f"--baseline {args.baseline}: no results.json there; pass a run folder written by `harness run`")
    run_id = args.run_id or time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    run_dir = Path(args.results_dir or Path("reports") / run_id)
    create_users = args.create_users if args.create_users is not None else args.local

    with _local_stack(args.local, scenario) as env:
        from harness.target import resolve_target

        resolve_target(scenario)  # a missing local stack fails here, in one line
        if create_users and scenario.auth is not None:
            _create_users(scenario.auth.users, scenario.auth.username_prefix, pool=scenario.auth.user_pool_id, region=scenario.auth.region)
        planned = _planned_duration(scenario)
        err.print(f"[bold]harness run[/] {scenario.name}: {scenario.load_profile.profile} profile, ~{planned:.0f} s, {scenario.vus} virtual users -> {run_dir}")
        with err.status("running...") as status:
            outcome = run_headless(
                args.scenario,
                run_dir=run_dir,
                run_id=run_id,
                env=env,
                processes=args.processes,
                override_limits=args.override_limits,
                on_tick=lambda t: status.update(f"running... {t:.0f} s of ~{planned:.0f} s"),
            )
        if not outcome.results_path.exists():
            tail = _tail(run_dir / "locust.out") or _tail(outcome.log_path)
            raise RunError(f"the run stopped before measuring anything (Locust exit {outcome.exit_code}): {tail}; full log in {outcome.log_path}")
        from harness.aws import AwsContext

        aws = None if args.no_metrics else AwsContext()
        with err.status("pulling CloudWatch metrics and building the report..."):
            artifacts = analyse_run(run_dir, gates=args.gate, baseline_dir=args.baseline, aws=aws, period=args.period)
    _print_run(artifacts)
    status = artifacts.results.meta.get("status")
    if status == "failed":
        err.print(f"[red]run failed:[/] {artifacts.results.meta.get('error')}")
        return EXIT_RUN_FAILED
    if outcome.interrupted or status == "interrupted":
        err.print("[yellow]interrupted[/]: the results above cover what was measured until then")
        return EXIT_INTERRUPTED
    return EXIT_OK if artifacts.verdict.passed else EXIT_GATE_FAILED


def _planned_duration(scenario: Any) -> float:
    from harness.plan import build_plan

    return build_plan(scenario.load_profile).duration


def _tail(path: Path, lines: int = 1) -> str:
    try:
        text = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])[:300]


def cmd_report(args: argparse.Namespace) -> int:
    from harness.aws import AwsContext
    from harness.runs import analyse_run

    aws = AwsContext() if args.pull_metrics else None
    artifacts = analyse_run(args.run_dir, gates=args.gate, baseline_dir=args.baseline, aws=aws, period=args.period)
    _print_run(artifacts)
    return EXIT_OK if artifacts.verdict.passed else EXIT_GATE_FAILED


def cmd_local(args: argparse.Namespace) -> int:
    import json
    import shlex

    from harness.local.stack import load_local_info, local_down, local_status, local_up

    throttle = None
    if args.throttle_rate or args.throttle_burst:
        from harness.local.apigw.config import Throttle

        rate = args.throttle_rate or 10_000
        throttle = Throttle(rate=rate, burst=args.throttle_burst or max(1, int(rate)))
    if args.action == "up":
        with err.status("starting the local stack..."):
            info = local_up(throttle=throttle)
        _print_stack(info)
        out.print("Scenarios with target 'local' now use it; `harness local down` stops it.")
    elif args.action == "run":
        import signal

        from harness.local.stack import LocalStack

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop cleanly, like Ctrl-C
        with err.status("starting the local stack..."):
            stack = LocalStack(throttle=throttle)
            stack.start()
        try:
            _print_stack(stack.info)
            out.print("Running until Ctrl-C. To point boto3 (and harness) at it from another shell:")
            for key, value in {**stack.env(), "HARNESS_LOCAL_INFO": stack.info.model_dump_json()}.items():
                print(f"export {key}={shlex.quote(value)}", flush=True)
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
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

    pool, count, prefix, region = args.user_pool_id, args.count, args.prefix, args.region
    if args.scenario:
        from harness.scenario import Scenario

        scenario = Scenario.load(args.scenario)
        if scenario.auth is None:
            raise UsageError(f"{args.scenario}: the scenario has no [auth] section; add one or pass --pool and --count")
        pool = pool or scenario.auth.user_pool_id
        count = count or scenario.auth.users
        prefix = prefix or scenario.auth.username_prefix
        region = region or scenario.auth.region
    if args.local:
        pool = pool or "local"
    if not pool:
        raise UsageError("users: no user pool; pass --scenario FILE, --pool ID or --local")
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


# ---- output ---------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _print_run(artifacts: Any) -> None:
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
        generator = meta.get("generator") or {}
        if generator.get("stalls"):
            line += f"; load generator stalled {generator['stalls']:,} times (longest {generator['longest_stall_ms']:g} ms)"
        out.print(line)
    for note in artifacts.notes:
        err.print(f"[yellow]note:[/] {note}")
    for line in artifacts.verdict.summary_lines():
        style = "green" if line.startswith("PASS") else "red"
        out.print(f"[{style}]{line}[/]")
    verdict = "[green]PASSED[/]" if artifacts.verdict.passed else "[red]FAILED[/]"
    out.print(f"verdict: {verdict}")
    if artifacts.report is not None:
        out.print(f"report: {artifacts.report.html}")
    out.print(f"run folder: {artifacts.run_dir}")


# ---- entry point ----------------------------------------------------------------------------

COMMANDS = {"run": cmd_run, "report": cmd_report, "local": cmd_local, "users": cmd_users}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # botocore at DEBUG prints request bodies (passwords): never below INFO
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        return COMMANDS[args.command](args)
    except HarnessError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
