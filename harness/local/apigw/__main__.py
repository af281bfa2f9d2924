"""``python -m harness.local.apigw --config-file PATH``: run the emulator until SIGTERM/SIGINT.

Prints one JSON line ``{"url": ..., "port": ..., "admin": ...}`` to stdout once it listens.
Exit codes: 0 after a clean stop, 2 for a bad config, 3 when it cannot start.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from harness.errors import HarnessError

from .config import EmulatorConfig
from .server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.local.apigw",
        description="Local API Gateway (HTTP API) emulator with a Cognito JWT authorizer.",
    )
    parser.add_argument(
        "--config-file",
        default=os.environ.get("HARNESS_APIGW_CONFIG"),
        help="EmulatorConfig JSON (env HARNESS_APIGW_CONFIG); without it, all defaults and no authorizer",
    )
    parser.add_argument("--host", help="overrides the config's host")
    parser.add_argument("--port", type=int, help="overrides the config's port (0: any free port)")
    parser.add_argument("--log-level", default=os.environ.get("HARNESS_APIGW_LOG_LEVEL", "INFO"), help="default INFO")
    parser.add_argument("--exit-with-parent", type=int, default=None, metavar="PID", help="exit when process PID is gone")
    args = parser.parse_args(argv)
    if args.exit_with_parent:
        from harness.processes import exit_with_parent

        exit_with_parent(args.exit_with_parent)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s apigw %(levelname)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        text = Path(args.config_file).read_text() if args.config_file else "{}"
        config = EmulatorConfig.model_validate_json(text)
    except OSError as exc:
        print(f"error: cannot read the emulator config {args.config_file}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "config"
        print(
            f"error: {args.config_file}: {where}: {first.get('msg')} ({exc.error_count()} error(s)); fix the file",
            file=sys.stderr,
        )
        return 2
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        config = config.model_copy(update=overrides)
    try:
        serve(config)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
