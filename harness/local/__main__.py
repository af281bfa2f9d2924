"""Run the local stack from a shell, without the ``harness`` CLI.

    python -m harness.local up        # detached; prints the LocalStackInfo as JSON
    python -m harness.local status    # JSON, exit 1 when none is recorded or it is unhealthy
    python -m harness.local env       # `export` lines for boto3 and pycognito
    python -m harness.local down      # stops it
    python -m harness.local run       # in the foreground until Ctrl-C
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from collections.abc import Sequence

from harness.errors import HarnessError
from harness.local.stack import LocalStack, load_local_info, local_down, local_status, local_up


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.local", description="The harness local stack.")
    parser.add_argument("command", choices=["up", "status", "env", "down", "run"])
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            print(local_up(region=args.region).model_dump_json(indent=2))
        elif args.command == "status":
            status = local_status()
            print(json.dumps(status, indent=2))
            return 0 if status and status["healthy"] else 1
        elif args.command == "env":
            for key, value in load_local_info().env().items():
                print(f"export {key}={shlex.quote(value)}")
        elif args.command == "down":
            print("stopped" if local_down() else "no local stack was running")
        else:
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            with LocalStack(region=args.region) as stack:
                print(stack.info.model_dump_json(indent=2), flush=True)
                try:
                    signal.pause()
                except KeyboardInterrupt:
                    pass
    except HarnessError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
