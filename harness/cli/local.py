"""``harness local``, and the local stack a command starts for itself (``--local``) or uses
(``harness local up``'s).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

from rich.markup import escape

from harness.cli.render import err, out, print_stack
from harness.errors import UsageError
from harness.gates.verdict import EXIT_OK
from harness.options import check_number, check_scenario

__all__ = ["cmd_local", "local_stack", "refuse_second_local_stack", "use_running_local_stack"]


@contextlib.contextmanager
def local_stack(enabled: bool, scenario: Any) -> Iterator[dict[str, str]]:
    """With ``--local``: a local stack for this command (``harness.local.stack.stack_for``), set
    up as the scenario's ``[local]`` says; this process points at it. Otherwise nothing."""
    if not enabled:
        yield {}
        return
    from harness.local.stack import stack_for

    with stack_for(scenario.local if scenario is not None else None,
                   starting=lambda: err.status("starting the local stack (moto + API Gateway emulator)...")) as env:  # fmt: skip
        yield env


def refuse_second_local_stack(what: str = "run without --local to use it, or stop it first with `harness local down`") -> None:
    from harness.local.stack import local_status, state_file

    status = local_status()
    if status is not None and status.get("healthy"):
        raise UsageError(f"a local stack is already running ({state_file()}): {what}")


def use_running_local_stack() -> Any:
    """Point boto3 in this process at the running local stack (``harness local up``), unless the
    environment already points somewhere; its ``LocalStackInfo``."""
    from harness.local.stack import load_local_info

    info = load_local_info()
    for key, value in info.env(jwks=False).items():
        os.environ.setdefault(key, value)
    return info


def cmd_local(args: argparse.Namespace) -> int:
    """``harness local up | run | status | env | down``."""
    import json
    import shlex

    from harness.local.stack import load_local_info, local_down, local_status

    settings = _local_settings(args)
    if args.action == "up":
        _local_up(settings)
    elif args.action == "run":
        _local_run(settings)
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


def _local_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The stack's settings: the scenario's ``[local]`` table, then the throttle flags (they win)."""
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
    return settings


def _local_up(settings: dict[str, Any]) -> None:
    from harness.local.stack import local_up

    changes: list[str] = []
    with err.status("starting the local stack..."):
        info = local_up(**settings, on_change=changes.append)
    print_stack(info)
    if changes:  # it was running already: set up as asked now
        out.print(escape("The local stack was already running; changed now: " + "; ".join(changes)), highlight=False)
    out.print("Scenarios with target 'local' now use it; `harness local down` stops it.")


def _local_run(settings: dict[str, Any]) -> None:
    """``harness local run``: the stack in the foreground until Ctrl-C (or SIGTERM)."""
    import shlex

    from harness.local.stack import LocalStack, forget_local, record_local

    refuse_second_local_stack("stop it first with `harness local down`, or use it as it is")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop cleanly, like Ctrl-C
    with err.status("starting the local stack..."):
        stack = LocalStack(**settings)
        stack.start()
    info = stack.info
    try:
        record_local(info)  # status, env, run and the rest find it as they find `local up`'s
        print_stack(info)
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
