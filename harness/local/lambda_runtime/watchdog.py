"""The watchdog of one handler process: Lambda's init and handler time limits, then the kill.

``read_messages`` waits on the child's result pipe no longer than the phase allows;
``kill_and_reap`` ends the child's whole process group, whatever it left running.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from typing import Any

__all__ = ["INIT_LIMIT_S", "kill_and_reap", "read_messages"]

INIT_LIMIT_S = 10.0  # Lambda's init phase limit


def read_messages(fd: int, timeout: float) -> tuple[dict[str, Any] | None, dict[str, Any] | None, bool]:
    """(the "ready" message, the result message, timed out) from the child's pipe; None for a
    message that never came.

    Returns as soon as the result is in, when the child closes the pipe (it ended), or when its
    time is up: ``INIT_LIMIT_S`` for the init phase, then ``timeout`` for the handler.
    """
    deadline = time.monotonic() + INIT_LIMIT_S
    ready: dict[str, Any] | None = None
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return ready, None, True
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:  # it closed the pipe: it ended
                return ready, None, False
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                message = json.loads(line)
                if "ready" not in message:
                    return ready, message, False
                ready = message
                deadline = time.monotonic() + timeout


def kill_and_reap(proc: subprocess.Popen[bytes], grace: float) -> int:
    """Give the child ``grace`` seconds to exit, SIGKILL its process group (the child when too
    slow, and whatever it left running), reap it and return its exit code."""
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # a reaped leader's group id stays ours while it has members
    except (ProcessLookupError, PermissionError):
        pass
    return proc.wait()
