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
import logging
from collections.abc import Callable, Sequence

from rich.markup import escape

from harness.cli.fanout import cmd_cleanup, cmd_deploy, cmd_fanout, cmd_package
from harness.cli.faults import cmd_faults
from harness.cli.local import cmd_local
from harness.cli.parser import build_parser
from harness.cli.render import err, out
from harness.cli.report import cmd_report
from harness.cli.run import cmd_check, cmd_probe, cmd_run
from harness.cli.users import cmd_users
from harness.errors import HarnessError, ScenarioError
from harness.gates.verdict import EXIT_INTERRUPTED

__all__ = ["main", "build_parser", "out", "err"]

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
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
    parser = build_parser()
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
