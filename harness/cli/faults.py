"""``harness faults restore RUN_DIR``: put back what a run's AWS faults changed."""

from __future__ import annotations

import argparse

from harness.cli.local import use_running_local_stack
from harness.cli.render import err, out
from harness.gates.verdict import EXIT_OK

__all__ = ["cmd_faults"]


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
            use_running_local_stack()
        except LocalStackError:
            err.print(f"{args.run_dir} ran on a local stack that is gone: what its faults changed went with it; nothing to put back", highlight=False)
            return EXIT_OK
    region = args.region or (results.meta.get("target") or {}).get("region")
    for line in restore_run(list(results.meta.get("faults") or []), aws=AwsContext(region=region), everything=args.everything):
        out.print(line, highlight=False)
    return EXIT_OK
