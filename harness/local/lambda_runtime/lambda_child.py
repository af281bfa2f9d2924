"""One Lambda execution environment: the child side of ``harness.local.lambda_runtime.process``.

The runtime starts it by path, in the function's code directory, with the function's environment::

    python -u -P lambda_child.py CONTROL_FD RESULT_FD FUNCTION_NAME

(the function's name is there for ``ps``). It puts ``LAMBDA_TASK_ROOT`` first on ``sys.path`` (like ``/var/task``), then serves invocations
one at a time, each a JSON line on ``CONTROL_FD``: ``{"request_id", "arn", "event", "output"}``.
For each it points stdout and stderr at the ``output`` file (the invocation's log), imports the
handler named by ``_HANDLER`` (``package.module.function``) the first time (Lambda's init phase),
and calls it with the event and a context object. On ``RESULT_FD`` it writes one JSON document per
line: ``{"ready": true, "at": <epoch seconds>}`` once the handler is loaded, then
``{"payload": "<the result as JSON text>"}`` or ``{"error": {...}}`` (Lambda's error shape), with
the handler's ``duration_ms`` and the process's ``max_memory_mb``. A failed init answers the
error and ends the process (Lambda resets the environment). Between invocations the runtime
freezes the process group. If the server that started it goes away, its group is killed.

Only the standard library is imported here, so nothing of the server leaks into the function.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import time
import traceback
from typing import IO, Any

_HERE = os.path.abspath(__file__)


class LambdaContext:
    """The ``context`` argument of a handler, with the attributes Lambda's Python runtime has."""

    def __init__(self, *, request_id: str, invoked_function_arn: str, deadline_ms: float) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


class _RuntimeError(Exception):
    """An error of the runtime itself (bad handler name, module not found...), with Lambda's type."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _error(exc: BaseException, request_id: str) -> dict[str, Any]:
    """Lambda's error payload for ``exc``; also printed to stderr as Lambda's runtime does."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) != _HERE]
    stack = traceback.format_list(frames)
    error_type = exc.error_type if isinstance(exc, _RuntimeError) else type(exc).__name__
    message = str(exc)
    sys.stderr.write(f"[ERROR] {error_type}: {message}\nTraceback (most recent call last):\n{''.join(stack)}")
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}


def _load_handler(spec: str) -> Any:
    module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise _RuntimeError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _RuntimeError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from exc
    except SyntaxError as exc:
        raise _RuntimeError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}") from exc
    handler = getattr(module, attr, None)
    if handler is None:
        raise _RuntimeError("Runtime.HandlerNotFound", f"Handler '{attr}' missing on module '{module_name}'")
    return handler


_request_id = ""  # the invocation being served, for the log lines


def _setup_logging() -> None:
    """The root logger as Lambda's Python runtime sets it up: tab-separated, UTC, with the request id."""

    class _RequestId(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.aws_request_id = _request_id
            return True

    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestId())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "WARNING").upper())


def _peak_memory_mb() -> int:
    """This process's peak resident memory: VmHWM on Linux (ru_maxrss would count the server's
    memory the child was forked with), ru_maxrss elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10))


def _die_with_parent() -> None:
    """Kill this process group when the server that started it is gone: no orphaned handlers.

    The guard is a forked watchdog process, not a thread: a handler that monkey-patches the
    process (gevent, as Locust does) while another thread runs deadlocks on the import lock. It
    leaves the group, which the runtime freezes between invocations, so that it still runs then."""
    server, handler, group = os.getppid(), os.getpid(), os.getpgid(0)
    if os.fork() != 0:
        return
    try:  # the watchdog: holds no pipe of the handler's, polls, and ends with the handler
        os.closerange(3, 1 << 16)
        os.setpgid(0, 0)
        while os.getppid() == handler:
            time.sleep(0.5)
            try:
                os.kill(server, 0)
            except ProcessLookupError:
                os.killpg(group, signal.SIGKILL)
                return
    finally:
        os._exit(0)


def _send(channel: IO[bytes], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message).encode() + b"\n")
    channel.flush()


FILE_DESCRIPTORS = 1024
"""What a Lambda execution environment allows (Lambda quotas: "File descriptors: 1,024"): a
handler past it gets EMFILE, here as on AWS."""


def _limit_file_descriptors() -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = FILE_DESCRIPTORS if hard == resource.RLIM_INFINITY else min(FILE_DESCRIPTORS, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))  # the hard limit too: the handler cannot raise it


def _output_to(path: str) -> None:
    """stdout and stderr (and what the handler starts) into this invocation's output file."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _invoke(handler: Any, message: dict[str, Any]) -> dict[str, Any]:
    """One invocation of the loaded handler: its answer, or Lambda's error shape."""
    timeout_s = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
    context = LambdaContext(request_id=_request_id, invoked_function_arn=message["arn"], deadline_ms=time.time() * 1000 + timeout_s * 1000)
    started = time.perf_counter()
    answer: dict[str, Any]
    try:
        result = handler(message["event"], context)
    except Exception as exc:
        answer = {"error": _error(exc, _request_id)}
    else:
        try:
            answer = {"payload": json.dumps(result)}
        except (TypeError, ValueError) as exc:
            marshal = _RuntimeError("Runtime.MarshalError", f"Unable to marshal response: {exc}")
            answer = {"error": _error(marshal, _request_id)}
    answer["duration_ms"] = (time.perf_counter() - started) * 1000
    answer["max_memory_mb"] = _peak_memory_mb()
    return answer


def main(argv: list[str]) -> int:
    global _request_id
    control_fd, result_fd = int(argv[1]), int(argv[2])
    for fd in (control_fd, result_fd):
        os.set_inheritable(fd, False)  # the handler's own subprocesses must not hold the pipes
    control, channel = os.fdopen(control_fd, "rb"), os.fdopen(result_fd, "wb")
    _die_with_parent()
    _limit_file_descriptors()
    sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT", os.getcwd()))
    _setup_logging()

    handler = None
    for line in control:  # one invocation per line, until the runtime closes the pipe
        message = json.loads(line)
        _output_to(message["output"])
        _request_id = message["request_id"]
        if handler is None:
            try:
                handler = _load_handler(os.environ.get("_HANDLER", ""))
            except Exception as exc:  # init failed: Lambda reports it as the invocation's error
                sys.stderr.flush()
                _send(channel, {"error": _error(exc, _request_id)})
                return 0
        _send(channel, {"ready": True, "at": time.time()})
        answer = _invoke(handler, message)
        sys.stdout.flush()  # the output is in its file before the runtime reads it
        sys.stderr.flush()
        _send(channel, answer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
