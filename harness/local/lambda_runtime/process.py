"""One invocation in a subprocess: ``lambda_child.py`` in a fresh interpreter, with the
function's environment, the event on stdin and the result on a pipe of its own; how it ended
(answer, ``Unhandled`` error, ``Sandbox.Timedout``, ``Runtime.ExitError``) as an ``Outcome``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.local.iam import RoleCredentials
from harness.local.lambda_runtime.function import Function
from harness.local.lambda_runtime.watchdog import kill_and_reap, read_messages

__all__ = ["Outcome", "child_env", "execute"]

CHILD = str(Path(__file__).with_name("lambda_child.py"))
INHERITED = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "LD_LIBRARY_PATH", "SYSTEMROOT")
MAX_OUTPUT_BYTES = 1 << 20  # of a handler's output kept for the log (head and tail)


@dataclass(kw_only=True)
class Outcome:
    """How one invocation ended."""

    request_id: str
    payload: bytes = b""
    error: dict[str, Any] | None = None
    output: str = ""
    init_ms: float = 0.0
    duration_ms: float = 0.0
    max_memory_mb: int = 0


def child_env(func: Function, code_dir: Path, log_stream: str, creds: RoleCredentials) -> dict[str, str]:
    """The handler's environment: a few of ours, the function's, then what Lambda sets."""
    env = {k: os.environ[k] for k in INHERITED if k in os.environ}
    env.update(func.variables)
    port = os.environ.get("MOTO_PORT", "5000")
    env.update(
        {
            "_HANDLER": func.handler,
            "LAMBDA_TASK_ROOT": str(code_dir),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{func.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": func.name,
            "AWS_LAMBDA_FUNCTION_VERSION": func.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(func.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": f"{func.timeout:g}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": func.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_REGION": func.region,
            "AWS_DEFAULT_REGION": func.region,
            "AWS_ACCESS_KEY_ID": creds.access_key_id,
            "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
            "AWS_SESSION_TOKEN": creds.session_token,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        }
    )
    return env


def execute(func: Function, code_dir: Path, event: bytes, request_id: str, log_stream: str, creds: RoleCredentials) -> Outcome:
    """Run the handler once in its own process group; kill the group when it answered or ran out
    of time (as Lambda freezes the sandbox after the answer, nothing keeps running after it)."""
    outcome = Outcome(request_id=request_id)
    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as output:
        stdin.write(event)
        stdin.seek(0)
        started = time.time()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-u", "-P", CHILD, str(write_fd), request_id, func.arn],
                stdin=stdin,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=code_dir,
                env=child_env(func, code_dir, log_stream, creds),
                pass_fds=(write_fd,),
                start_new_session=True,  # its own process group, killed as a whole
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        ready = result = None
        timed_out = False
        try:
            ready, result, timed_out = read_messages(read_fd, func.timeout)
        finally:
            os.close(read_fd)
            # an answer or a timeout: kill now; the pipe closed without an answer: let it exit first
            grace = 0.0 if result is not None or timed_out else 2.0
            status = kill_and_reap(proc, grace)
        outcome.output = read_capped(output)

    # the child measures its own phases (wall clock): init from our start to its "ready"
    outcome.init_ms = max(0.0, (float(ready["at"]) - started) * 1000) if ready else (time.time() - started) * 1000
    if result is not None:
        outcome.duration_ms = float(result.get("duration_ms", 0.0))
        outcome.max_memory_mb = int(result.get("max_memory_mb", 0))
        if "error" in result:
            outcome.error = result["error"]
        else:
            outcome.payload = str(result["payload"]).encode()
    elif timed_out:  # the init phase or the handler ran out of time
        outcome.duration_ms = func.timeout * 1000 if ready else outcome.init_ms
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        message = f"{now} {request_id} Task timed out after {func.timeout:.2f} seconds"
        outcome.error = {"errorMessage": message, "errorType": "Sandbox.Timedout"}
        outcome.output += message + "\n"
    else:  # it ended without an answer (sys.exit, a crash)
        why = f"signal {-status}" if status < 0 else f"exit status {status}"
        message = f"RequestId: {request_id} Error: Runtime exited with error: {why}"
        outcome.error = {"errorMessage": message, "errorType": "Runtime.ExitError"}
        outcome.output += message + "\n"
    if outcome.error is not None:
        outcome.payload = json.dumps(outcome.error).encode()
    return outcome


def read_capped(file: Any) -> str:
    """The output file as text; when larger than the cap, its head and tail around a marker."""
    size = file.seek(0, io.SEEK_END)
    file.seek(0)
    if size <= MAX_OUTPUT_BYTES:
        return file.read().decode(errors="replace")
    half = MAX_OUTPUT_BYTES // 2
    head = file.read(half)
    file.seek(size - half)
    tail = file.read()
    cut = f"\n[... {size - 2 * half} bytes of output left out ...]\n"
    return head.decode(errors="replace") + cut + tail.decode(errors="replace")
