"""One execution environment: ``lambda_child.py`` in an interpreter of its own, with the
function's environment, that initialises the function once and then answers its invocations one
at a time, frozen (``SIGSTOP``) between them as Lambda freezes an environment. Each invocation's
event goes in on a control pipe, its result comes back on a pipe of its own, its output goes to a
file of its own; how it ended (answer, ``Unhandled`` error, ``Sandbox.Timedout``,
``Runtime.ExitError``) is an ``Outcome``. A timeout, a crash or a failed init ends the
environment (Lambda resets it); an answer, even an error one, keeps it for the next invocation."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.local.iam import RoleCredentials
from harness.local.lambda_runtime.function import Function
from harness.local.lambda_runtime.watchdog import kill_and_reap, read_messages

__all__ = ["Environment", "Outcome", "child_env"]

CHILD = str(Path(__file__).with_name("lambda_child.py"))
INHERITED = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "LD_LIBRARY_PATH", "SYSTEMROOT")
MAX_OUTPUT_BYTES = 1 << 20  # of a handler's output kept for the log (head and tail)
EXIT_GRACE_S = 2.0  # a child that closed its result pipe without an answer: time to exit by itself


@dataclass(kw_only=True)
class Outcome:
    """How one invocation ended."""

    request_id: str
    log_stream: str = ""
    cold: bool = True  # the environment was initialised for it (the REPORT line's Init Duration)
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


def environment_key(func: Function, code_dir: Path, creds: RoleCredentials) -> tuple[Any, ...]:
    """What an environment was made for: an invocation of anything else needs a new one (new code,
    configuration or credentials), as Lambda never reuses an environment across them."""
    variables = tuple(sorted(func.variables.items()))
    return (func.arn, func.version, func.sha, func.handler, func.runtime, func.memory, func.timeout, variables, str(code_dir), creds.access_key_id)


class Environment:
    """A handler process that serves one invocation at a time (the pool hands it out).

    ::

        env = Environment(func, code_dir, creds)
        outcome = env.invoke(event, request_id)  # cold the first time, warm after
        env.alive  # False once a timeout or a crash ended it
        env.close()
    """

    def __init__(self, func: Function, code_dir: Path, creds: RoleCredentials) -> None:
        self.func = func
        self.key = environment_key(func, code_dir, creds)
        self.log_stream = func.log_stream(uuid.uuid4().hex)  # one per environment, as on Lambda
        self.idle_since = time.monotonic()
        self._initialised = False
        control_read, control_write = os.pipe()
        result_read, result_write = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-u", "-P", CHILD, str(control_read), str(result_write), func.name],  # the name: for ps
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # each invocation points them at its own output file
                stderr=subprocess.DEVNULL,
                cwd=code_dir,
                env=child_env(func, code_dir, self.log_stream, creds),
                pass_fds=(control_read, result_write),
                start_new_session=True,  # its own process group: frozen, thawed and killed as a whole
            )
        except BaseException:
            os.close(control_write)
            os.close(result_read)
            raise
        finally:
            os.close(control_read)
            os.close(result_write)
        self._control = os.fdopen(control_write, "wb")
        self._result_fd = result_read
        self._status: int | None = None

    @property
    def alive(self) -> bool:
        return self._status is None and self._proc.poll() is None

    def invoke(self, event: bytes, request_id: str) -> Outcome:
        """Run one invocation; freeze the environment after its answer, or end it (a timeout, an
        init error, a process that ended without an answer)."""
        cold = not self._initialised
        outcome = Outcome(request_id=request_id, log_stream=self.log_stream, cold=cold)
        with tempfile.NamedTemporaryFile(prefix="lambda-output-") as output:
            message = {"request_id": request_id, "arn": self.func.arn, "event": json.loads(event), "output": output.name}
            started = time.time()
            ready = result = None
            timed_out = False
            self._signal(signal.SIGCONT)
            try:
                self._control.write(json.dumps(message).encode() + b"\n")
                self._control.flush()
                ready, result, timed_out = read_messages(self._result_fd, self.func.timeout)
            except OSError:  # a broken pipe: it was gone before the invocation reached it
                pass
            finally:
                if result is not None and ready is not None:
                    self._initialised = True
                    self._signal(signal.SIGSTOP)  # as Lambda freezes it: nothing runs until the next invocation
                else:  # a timeout (kill now), an init error or a process that ended (let it exit first)
                    self.close(grace=0.0 if timed_out or result is not None else EXIT_GRACE_S)
            self.idle_since = time.monotonic()
            outcome.output = read_capped(output)
        self._conclude(outcome, ready, result, timed_out, started)
        return outcome

    def _conclude(self, outcome: Outcome, ready: dict[str, Any] | None, result: dict[str, Any] | None, timed_out: bool, started: float) -> None:
        func, request_id = self.func, outcome.request_id
        # the child measures its own phases (wall clock): init from our start to its "ready"
        if outcome.cold:
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
            status = self._status if self._status is not None else 0
            why = f"signal {-status}" if status < 0 else f"exit status {status}"
            message = f"RequestId: {request_id} Error: Runtime exited with error: {why}"
            outcome.error = {"errorMessage": message, "errorType": "Runtime.ExitError"}
            outcome.output += message + "\n"
        if outcome.error is not None:
            outcome.payload = json.dumps(outcome.error).encode()

    def close(self, grace: float = 0.0) -> None:
        """End the environment: its whole process group, whatever it left running (idempotent)."""
        if self._status is not None:
            return
        self._signal(signal.SIGCONT)  # a frozen child cannot exit by itself
        self._status = kill_and_reap(self._proc, grace)
        for close in (self._control.close, lambda: os.close(self._result_fd)):
            try:
                close()
            except OSError:
                pass

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self._proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def read_capped(file: Any) -> str:
    """The output file as text; when larger than the cap, its head and tail around a marker."""
    size = file.seek(0, io.SEEK_END)
    file.seek(0)
    if size <= MAX_OUTPUT_BYTES:
        return str(file.read().decode(errors="replace"))
    half = MAX_OUTPUT_BYTES // 2
    head = file.read(half)
    file.seek(size - half)
    tail = file.read()
    cut = f"\n[... {size - 2 * half} bytes of output left out ...]\n"
    return str(head.decode(errors="replace") + cut + tail.decode(errors="replace"))
