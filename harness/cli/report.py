"""``harness report RUN_DIR``: a run folder's report built again, offline or with its metrics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli.local import use_running_local_stack
from harness.cli.render import print_run
from harness.cli.run import exit_code
from harness.options import check_baseline, check_number

__all__ = ["cmd_report"]


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
    print_run(artifacts)
    return exit_code(artifacts)


def _find_local_stack_of(results: Any, run_dir: Path) -> None:
    """A run on the local stack has its CloudWatch metrics there: point boto3 at the running
    stack, as `harness run` does; refused when that stack is not the run's (they went with it)."""
    from harness.errors import LocalStackError
    from harness.target import uses_local_stack

    if not uses_local_stack(results.scenario):
        return
    gone = f"{run_dir} ran on a local stack at {(results.meta.get('target') or {}).get('base_url')}"
    try:
        info = use_running_local_stack()
    except LocalStackError as exc:
        raise LocalStackError(f"{gone}, whose CloudWatch metrics went with it ({exc}); rebuild the report without --pull-metrics") from None
    if info.api_url != (results.meta.get("target") or {}).get("base_url"):
        raise LocalStackError(f"{gone}, not the one running now ({info.api_url}): its metrics went with it; rebuild the report without --pull-metrics")
