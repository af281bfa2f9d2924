"""A local Lambda runtime behind moto's ``Invoke``: handler code runs in a subprocess.

moto runs function code only in Docker; with ``{"lambda": {"use_docker": False}}`` it echoes the
payload instead. ``install()`` (called in the server process by ``python -m harness.local.moto``)
makes every invocation run the deployed function:

- **Code.** moto keeps the zip in ``LambdaFunction.code_bytes`` (for ``ZipFile``, ``S3Bucket``/
  ``S3Key`` and CloudFormation alike). It is extracted once per SHA-256 into the code directory
  (``code_dir``: argument > ``HARNESS_LOCAL_LAMBDA_CODE_DIR`` > a temporary directory removed at
  exit), which is the handler's working directory and first on ``sys.path``, like ``/var/task``.
- **Interpreter.** Each invocation is a fresh ``sys.executable`` running ``lambda_child.py`` (a
  cold start every time; nothing stays warm). Third-party packages therefore come from this
  interpreter, the project's venv, and not from Linux wheels in the zip: locally a worker uses the
  project's own installed packages. Pure-Python packages in the zip still win (first on sys.path).
- **Environment.** The function's variables, then what Lambda sets (``AWS_LAMBDA_FUNCTION_NAME``,
  ``..._MEMORY_SIZE``, ``..._TIMEOUT``, ``AWS_REGION``, ``_HANDLER``, ``LAMBDA_TASK_ROOT``...), the
  execution role's temporary credentials (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_SESSION_TOKEN`` of moto's ``sts:AssumeRole``, session name = the function's name, as
  Lambda does; reused for 50 of their 60 minutes) and ``AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT``,
  so boto3 in the handler talks to this server as the role, and ``harness.local.iam`` allows or
  refuses each call by the role's policies. Of the server's own environment only PATH, HOME, TMPDIR, the locale and
  LD_LIBRARY_PATH are passed on (no PYTHONPATH, no AWS_PROFILE, no endpoints).
- **Result and log.** The event goes in on stdin; the result comes back on a pipe of its own,
  so prints and logging never corrupt it. stdout/stderr are the function's log: CloudWatch Logs
  ``/aws/lambda/<name>`` (START/END/REPORT lines as on Lambda, one stream per invocation), the
  server log (its tail), and with ``LogType=Tail`` the last 4 KB in ``x-amz-log-result``.
- **Errors** as Lambda reports them, HTTP 200 with ``X-Amz-Function-Error: Unhandled``: an uncaught
  exception gives ``{"errorMessage", "errorType", "requestId", "stackTrace"}``; past ``Timeout`` the
  process group is killed and the error is ``Sandbox.Timedout``; a process that dies without an
  answer gives ``Runtime.ExitError``. moto's Step Functions use ``errorType`` as the error name,
  so an ASL's ``Retry``/``Catch`` match it. A handler process also dies with the server.
- **Concurrency.** Reserved concurrency (``PutFunctionConcurrency``; 0 throttles everything) and
  the account limit shared by the functions without a reservation (``concurrency``: argument >
  ``HARNESS_LOCAL_LAMBDA_CONCURRENCY`` > 1000, minus the reservations) answer HTTP 429
  ``TooManyRequestsException`` with Lambda's ``Reason``; Step Functions see
  ``Lambda.TooManyRequestsException``. Memory is reported (``Max Memory Used``), not enforced.
  ``GetAccountSettings`` (which moto does not serve) answers that account limit and what the
  reservations leave unreserved, as ``harness fanout`` asks it before a run.
- **Metrics** into moto's CloudWatch, namespace ``AWS/Lambda``, dimension ``FunctionName``,
  aggregated per second (stamped with the second the invocation started) and published every
  second: Invocations, Errors, Throttles (Sum), Duration (ms, percentiles), ConcurrentExecutions
  (Maximum; also account-wide, without dimensions).
- ``InvocationType=Event`` runs in a background thread and answers 202 (a throttled event is
  retried for up to 5 minutes, a failed one is not retried); ``DryRun`` answers 204. Calls that moto makes itself (S3
  notifications, SQS event sources...) carry no invocation type and run synchronously, as in moto.

    from harness.local.lambda_runtime import install
    install()                    # before the moto server handles its first request
    install(concurrency=50)      # or: HARNESS_LOCAL_LAMBDA_CONCURRENCY=50
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import io
import json
import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.utils import get_backend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.cloudwatch.models import cloudwatch_backends
from moto.logs.models import logs_backends

from harness.errors import LocalStackError
from harness.local.datum import distribution
from harness.local.iam import RoleCredentials, role_credentials

__all__ = [
    "CODE_DIR_ENV",
    "CONCURRENCY_ENV",
    "LambdaRuntime",
    "TooManyRequestsException",
    "concurrency_default",
    "install",
]

CONCURRENCY_ENV = "HARNESS_LOCAL_LAMBDA_CONCURRENCY"
CODE_DIR_ENV = "HARNESS_LOCAL_LAMBDA_CODE_DIR"
NAMESPACE = "AWS/Lambda"
RESERVED_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT = "ConcurrentInvocationLimitExceeded"

_CHILD = str(Path(__file__).with_name("lambda_child.py"))
_INHERITED = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "LD_LIBRARY_PATH", "SYSTEMROOT")
_INIT_LIMIT_S = 10.0  # Lambda's init phase limit
_TAIL_BYTES = 4096  # x-amz-log-result
_MAX_OUTPUT_BYTES = 1 << 20  # of a handler's output kept for the log (head and tail)
_MAX_EVENT_CHARS = 256 * 1024  # CloudWatch Logs event limit
_SERVER_LOG_CHARS = 2000
_ASYNC_RETRY_S = 300.0

log = logging.getLogger(__name__)

_FnKey = tuple[str, str, str | None]  # (account, region, function name); None: the whole account


class TooManyRequestsException(LambdaClientError):
    """HTTP 429 as Lambda answers a throttled invocation; boto3 raises ClientError with this code."""

    code = 429

    def __init__(self, reason: str) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")
        self.reason = reason
        self.description = json.dumps({"Reason": reason, "Type": "User", "message": "Rate Exceeded."})


def concurrency_default() -> int:
    """``HARNESS_LOCAL_LAMBDA_CONCURRENCY`` when set, else 1000 (Lambda's default account limit)."""
    raw = os.environ.get(CONCURRENCY_ENV, "").strip()
    if not raw:
        return 1000
    if not raw.isdigit():
        raise LocalStackError(
            f"{CONCURRENCY_ENV}={raw!r} is not a whole number; set it to the account limit, e.g. 1000"
        )
    return int(raw)


# --------------------------------------------------------------------------- one invocation


@dataclass(frozen=True, kw_only=True)
class _Function:
    """What an invocation needs of a moto ``LambdaFunction``, read once (it may change meanwhile)."""

    account_id: str
    region: str
    name: str
    arn: str
    role: str
    version: str
    handler: str
    runtime: str
    variables: Mapping[str, str]
    timeout: float
    memory: int
    code: bytes
    sha: str

    @classmethod
    def of(cls, fn: LambdaFunction) -> _Function:
        code = getattr(fn, "code_bytes", b"") or b""
        if not code:
            raise InvalidParameterValueException(
                f"The local Lambda runtime runs zip packages only and {fn.function_name} has no code zip; "
                "deploy it with ZipFile or S3Bucket/S3Key"
            )
        return cls(
            account_id=fn.account_id,
            region=fn.region,
            name=fn.function_name,
            arn=fn.function_arn,
            role=str(fn.role or ""),
            version=str(fn.version),
            handler=fn.handler or "",
            runtime=fn.run_time or "python3",
            variables={str(k): str(v) for k, v in (fn.environment_vars or {}).items()},
            timeout=float(fn.timeout or 3),
            memory=int(fn.memory_size or 128),
            code=code,
            sha=getattr(fn, "code_digest", "") or _sha256(code),
        )

    @property
    def key(self) -> _FnKey:
        return (self.account_id, self.region, self.name)

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"


@dataclass(kw_only=True)
class _Outcome:
    """How one invocation ended."""

    request_id: str
    payload: bytes = b""
    error: dict[str, Any] | None = None
    output: str = ""
    init_ms: float = 0.0
    duration_ms: float = 0.0
    max_memory_mb: int = 0


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _child_env(func: _Function, code_dir: Path, log_stream: str, creds: RoleCredentials) -> dict[str, str]:
    """The handler's environment: a few of ours, the function's, then what Lambda sets."""
    env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
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


def _execute(
    func: _Function, code_dir: Path, event: bytes, request_id: str, log_stream: str, creds: RoleCredentials
) -> _Outcome:
    """Run the handler once in its own process group; kill the group when it answered or ran out
    of time (as Lambda freezes the sandbox after the answer, nothing keeps running after it)."""
    outcome = _Outcome(request_id=request_id)
    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as output:
        stdin.write(event)
        stdin.seek(0)
        started = time.time()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-u", "-P", _CHILD, str(write_fd), request_id, func.arn],
                stdin=stdin,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=code_dir,
                env=_child_env(func, code_dir, log_stream, creds),
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
            ready, result, timed_out = _read_messages(read_fd, func.timeout)
        finally:
            os.close(read_fd)
            # an answer or a timeout: kill now; the pipe closed without an answer: let it exit first
            grace = 0.0 if result is not None or timed_out else 2.0
            status = _kill_and_reap(proc, grace)
        outcome.output = _read_capped(output)

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
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
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


def _read_messages(fd: int, timeout: float) -> tuple[dict[str, Any] | None, dict[str, Any] | None, bool]:
    """(the "ready" message, the result message, timed out) from the child's pipe; None for a
    message that never came.

    Returns as soon as the result is in, when the child closes the pipe (it ended), or when its
    time is up: ``_INIT_LIMIT_S`` for the init phase, then ``timeout`` for the handler.
    """
    deadline = time.monotonic() + _INIT_LIMIT_S
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


def _kill_and_reap(proc: subprocess.Popen[bytes], grace: float) -> int:
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


def _read_capped(file: Any) -> str:
    """The output file as text; when larger than the cap, its head and tail around a marker."""
    size = file.seek(0, io.SEEK_END)
    file.seek(0)
    if size <= _MAX_OUTPUT_BYTES:
        return file.read().decode(errors="replace")
    half = _MAX_OUTPUT_BYTES // 2
    head = file.read(half)
    file.seek(size - half)
    tail = file.read()
    cut = f"\n[... {size - 2 * half} bytes of output left out ...]\n"
    return head.decode(errors="replace") + cut + tail.decode(errors="replace")


# --------------------------------------------------------------------------- shared state


class _CodeCache:
    """Zips extracted once per SHA-256 under ``root``; safe across threads (and processes).

    Without a ``root``, a temporary directory is made on first use and removed at exit.
    """

    def __init__(self, root: Path | None) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._ready: set[str] = set()

    @property
    def root(self) -> Path:
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="harness-lambda-"))
                atexit.register(shutil.rmtree, self._root, ignore_errors=True)
            return self._root

    def path(self, func: _Function) -> Path:
        root = self.root
        target = root / func.sha
        if func.sha in self._ready:
            return target
        with self._lock:
            lock = self._locks.setdefault(func.sha, threading.Lock())
        with lock:
            if not target.is_dir():
                root.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{func.sha[:12]}-"))
                try:
                    with zipfile.ZipFile(io.BytesIO(func.code)) as archive:
                        archive.extractall(staging)
                    staging.rename(target)  # atomic: readers never see half a tree
                except zipfile.BadZipFile as exc:
                    raise InvalidParameterValueException(
                        f"Could not unzip the code of {func.name} ({exc}); upload a zip file"
                    ) from exc
                except OSError:
                    if not target.is_dir():  # not another process that won the race
                        raise
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
            self._ready.add(func.sha)
        return target


@dataclass
class _Slot:
    """One running invocation, as counted by ``_Limits``."""

    key: _FnKey
    unreserved: bool


class _Limits:
    """Running invocations per function and account; throttles as Lambda does."""

    def __init__(self, account_limit: int) -> None:
        self.account_limit = account_limit
        self._lock = threading.Lock()
        self._running: dict[_FnKey, int] = {}
        self._unreserved: dict[tuple[str, str], int] = {}

    def acquire(self, key: _FnKey, reserved: int | None, reserved_total: int) -> tuple[_Slot, int, int]:
        """A slot, the function's and the account's running count with it; or raise the 429."""
        account = (key[0], key[1])
        with self._lock:
            running = self._running.get(key, 0)
            if reserved is not None:
                if running >= reserved:
                    raise TooManyRequestsException(RESERVED_LIMIT)
            else:
                unreserved = self._unreserved.get(account, 0)
                if unreserved >= self.account_limit - reserved_total:
                    raise TooManyRequestsException(ACCOUNT_LIMIT)
                self._unreserved[account] = unreserved + 1
            self._running[key] = running + 1
            return _Slot(key, reserved is None), running + 1, self._account_running(account)

    def release(self, slot: _Slot) -> None:
        with self._lock:
            self._running[slot.key] -= 1
            if not self._running[slot.key]:
                del self._running[slot.key]
            if slot.unreserved:
                self._unreserved[(slot.key[0], slot.key[1])] -= 1

    def running(self) -> dict[_FnKey, int]:
        """Running counts per function and per account (function name None)."""
        with self._lock:
            out: dict[_FnKey, int] = dict(self._running)
            for (account, region, _), n in self._running.items():
                out[(account, region, None)] = out.get((account, region, None), 0) + n
            return out

    def _account_running(self, account: tuple[str, str]) -> int:
        return sum(n for (a, r, _), n in self._running.items() if (a, r) == account)


@dataclass
class _Tally:
    """What one function did in one second."""

    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    concurrency: int = 0
    durations: dict[float, int] = field(default_factory=dict)


class _Metrics:
    """Per function and second; published to moto's CloudWatch by ``flush()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tallies: dict[tuple[_FnKey, int], _Tally] = {}

    def _tally(self, key: _FnKey, second: int) -> _Tally:
        tally = self._tallies.get((key, second))
        if tally is None:
            tally = self._tallies[(key, second)] = _Tally()
        return tally

    def concurrency(self, running: Mapping[_FnKey, int], second: int) -> None:
        with self._lock:
            for key, n in running.items():
                tally = self._tally(key, second)
                tally.concurrency = max(tally.concurrency, n)

    def throttled(self, key: _FnKey, second: int) -> None:
        with self._lock:
            self._tally(key, second).throttles += 1

    def finished(self, key: _FnKey, second: int, duration_ms: float, error: bool) -> None:
        with self._lock:
            tally = self._tally(key, second)
            tally.invocations += 1
            tally.errors += int(error)
            value = _round_ms(duration_ms)
            tally.durations[value] = tally.durations.get(value, 0) + 1

    def flush(self) -> None:
        with self._lock:
            tallies, self._tallies = self._tallies, {}
        batches: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for ((account, region, name), second), tally in sorted(tallies.items(), key=lambda kv: kv[0][1]):
            batches.setdefault((account, region), []).extend(_data(name, second, tally))
        for (account, region), data in batches.items():
            cloudwatch_backends[account][region].put_metric_data(NAMESPACE, data)


def _round_ms(ms: float) -> float:
    """Three significant digits (0.01 ms under 10 ms), which bounds the distinct values."""
    for limit, digits in ((10.0, 2), (100.0, 1), (1000.0, 0)):
        if ms < limit:
            return round(ms, digits)
    return float(round(ms, -1))


def _data(name: str | None, second: int, t: _Tally) -> list[dict[str, Any]]:
    """The metric data of one function (or, name None, the account) in one second."""
    dims = [{"Name": "FunctionName", "Value": name}] if name else []
    stamp = datetime.fromtimestamp(second, tz=timezone.utc).replace(tzinfo=None)  # moto: naive UTC

    out = []
    if t.concurrency:
        out += distribution("ConcurrentExecutions", "Count", dims, stamp, [(float(t.concurrency), 1)])
    if name is None:
        return out
    if t.invocations:
        out += distribution("Invocations", "Count", dims, stamp, [(1.0, t.invocations)])
        out += distribution("Errors", "Count", dims, stamp, [(0.0, t.invocations - t.errors), (1.0, t.errors)])
        out += distribution("Duration", "Milliseconds", dims, stamp, t.durations.items())
    if t.invocations or t.throttles:
        out += distribution("Throttles", "Count", dims, stamp, [(0.0, t.invocations), (1.0, t.throttles)])
    return out


# --------------------------------------------------------------------------- the runtime


class LambdaRuntime:
    """Runs invocations of moto's functions in subprocesses, with limits, logs and metrics.

    ``concurrency``: the account limit, argument > ``HARNESS_LOCAL_LAMBDA_CONCURRENCY`` > 1000.
    ``code_dir``: where zips are extracted, argument > ``HARNESS_LOCAL_LAMBDA_CODE_DIR`` > a
    temporary directory made on first use and removed when the process exits.
    """

    def __init__(self, *, concurrency: int | None = None, code_dir: Path | str | None = None) -> None:
        self.concurrency = concurrency_default() if concurrency is None else int(concurrency)
        root = code_dir or os.environ.get(CODE_DIR_ENV, "").strip()
        self.code = _CodeCache(Path(root) if root else None)
        self._limits = _Limits(self.concurrency)
        self._metrics = _Metrics()
        self._logs_lock = threading.Lock()  # moto's Logs backend is not thread-safe
        self._publisher: threading.Thread | None = None

    def start(self) -> None:
        """Start publishing metrics every second (a daemon thread; idempotent)."""
        if self._publisher is None:
            self._publisher = threading.Thread(target=self._publish, name="lambda-metrics", daemon=True)
            self._publisher.start()

    def invoke(self, fn: LambdaFunction, body: Any, request_headers: Any, response_headers: dict[str, Any]) -> bytes:
        """What moto's ``LambdaFunction.invoke`` returns: the payload; headers go in ``response_headers``."""
        kind = _header(request_headers, "X-Amz-Invocation-Type") or "RequestResponse"
        event = _event_bytes(body)
        func = _Function.of(fn)
        response_headers["X-Amz-Executed-Version"] = func.version
        if kind == "DryRun":
            return b""
        if kind == "Event":
            threading.Thread(target=self._run_async, args=(func, event), name=f"lambda-event-{func.name}",
                             daemon=True).start()
            return b""
        outcome = self.run(func, event)
        if outcome.error is not None:
            response_headers["X-Amz-Function-Error"] = "Unhandled"
        tail = _log_text(func, outcome).encode()[-_TAIL_BYTES:]
        response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()  # moto drops it unless Tail
        return outcome.payload

    def run(self, func: _Function, event: bytes) -> _Outcome:
        """One synchronous invocation: acquire a slot (or raise the 429), run, log, count."""
        second = int(time.time())
        reserved, reserved_total = _reservations(func)
        try:
            slot, running, account_running = self._limits.acquire(func.key, reserved, reserved_total)
        except TooManyRequestsException as exc:
            self._metrics.throttled(func.key, second)
            log.debug("lambda %s throttled (%s)", func.name, exc.reason)
            raise
        self._metrics.concurrency({func.key: running, (func.account_id, func.region, None): account_running}, second)
        request_id = str(uuid.uuid4())
        stream = _log_stream(func, request_id)
        try:
            code_dir = self.code.path(func)
            creds = role_credentials(func.role, session_name=func.name, region=func.region)
            outcome = _execute(func, code_dir, event, request_id, stream, creds)
        finally:
            self._limits.release(slot)
        self._metrics.finished(func.key, second, outcome.duration_ms, outcome.error is not None)
        self._write_logs(func, outcome, stream)
        return outcome

    def _run_async(self, func: _Function, event: bytes) -> None:
        """An ``Event`` invocation: retried while throttled, as Lambda's event queue does."""
        deadline, delay = time.monotonic() + _ASYNC_RETRY_S, 0.5
        while True:
            try:
                self.run(func, event)
                return
            except TooManyRequestsException:
                if time.monotonic() > deadline:
                    log.warning("lambda %s: dropped an Event invocation, throttled for %.0f s",
                                func.name, _ASYNC_RETRY_S)
                    return
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
            except Exception:
                log.exception("lambda %s: an Event invocation failed", func.name)
                return

    def _write_logs(self, func: _Function, outcome: _Outcome, stream: str) -> None:
        """CloudWatch Logs (one stream per invocation), if the execution role allows it, and the server log."""
        now_ms = int(time.time() * 1000)
        lines = [line[:_MAX_EVENT_CHARS] for line in _log_text(func, outcome).splitlines() if line]
        events = [{"timestamp": now_ms, "message": line} for line in lines]
        try:
            if not _may_log(func, stream):
                log.warning("lambda %s: its role %s may not write to %s; no CloudWatch Logs", func.name, func.role,
                            func.log_group)
                return
            with self._logs_lock:
                backend = logs_backends[func.account_id][func.region]
                backend.ensure_log_group(func.log_group)
                backend.create_log_stream(func.log_group, stream)
                backend.put_log_events(func.log_group, stream, events)
        except Exception:  # the invocation's answer matters more than its log
            log.exception("lambda %s: could not write CloudWatch Logs", func.name)
        status = "ok" if outcome.error is None else outcome.error.get("errorType", "error")
        output = outcome.output.strip()
        if output or outcome.error is not None:
            level = logging.INFO if outcome.error is None else logging.WARNING
            shown = output if len(output) <= _SERVER_LOG_CHARS else "..." + output[-_SERVER_LOG_CHARS:]
            log.log(level, "lambda %s %s: %s in %.1f ms; output:\n%s", func.name, outcome.request_id, status,
                    outcome.duration_ms, shown)
        else:
            log.debug("lambda %s %s: ok in %.1f ms", func.name, outcome.request_id, outcome.duration_ms)

    def _publish(self) -> None:
        while True:
            time.sleep(1.0)
            try:
                self._metrics.concurrency(self._limits.running(), int(time.time()))
                self._metrics.flush()
            except Exception:  # never let the publisher die
                log.exception("could not publish Lambda metrics")


def _may_log(func: _Function, stream: str) -> bool:
    """Lambda writes a function's logs with its execution role: ``logs:CreateLogStream`` and
    ``logs:PutLogEvents`` on the stream (AWSLambdaBasicExecutionRole grants them)."""
    from harness.local.iam import Decision, authorize

    principal = f"arn:aws:sts::{func.account_id}:assumed-role/{func.role.rsplit('/', 1)[-1]}/{func.name}"
    resource = f"arn:aws:logs:{func.region}:{func.account_id}:log-group:{func.log_group}:log-stream:{stream}"
    return all(
        authorize(principal, func.role, action, resource) is Decision.ALLOWED
        for action in ("logs:CreateLogStream", "logs:PutLogEvents")
    )


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, dict):  # a plain dict from moto's own callers
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


def _event_bytes(body: Any) -> bytes:
    data = body.encode() if isinstance(body, str) else bytes(body or b"")
    if not data.strip():
        return b"{}"
    try:
        json.loads(data)
    except ValueError as exc:
        raise LambdaClientError("InvalidRequestContentException", f"Could not parse request body into json: {exc}")
    return data


def _reservations(func: _Function) -> tuple[int | None, int]:
    """(this function's reserved concurrency, the sum of all reservations in its account/region).

    Reserved concurrency is set on the function, not on a version, so it is read from $LATEST.
    """
    backend = get_backend(func.account_id, func.region)
    for _ in range(5):
        try:
            functions = list(backend.list_functions())
            break
        except RuntimeError:  # moto iterates its dict of functions unguarded; one was added meanwhile
            continue
    else:
        functions = [backend.get_function(func.name)]
    reserved = None
    total = 0
    for fn in functions:
        value = fn.reserved_concurrency
        if value is None or value == "":
            continue
        total += int(value)
        if fn.function_name == func.name:
            reserved = int(value)
    return reserved, total


def _log_stream(func: _Function, request_id: str) -> str:
    """Lambda's stream name shape (``2024/05/01/[$LATEST]<hex>``); ours is one per invocation."""
    day = datetime.now(timezone.utc).strftime("%Y/%m/%d")
    return f"{day}/[{func.version}]{request_id.replace('-', '')}"


def _log_text(func: _Function, outcome: _Outcome) -> str:
    rid = outcome.request_id
    report = (
        f"REPORT RequestId: {rid}\tDuration: {outcome.duration_ms:.2f} ms\t"
        f"Billed Duration: {max(1, int(outcome.duration_ms + 0.999))} ms\tMemory Size: {func.memory} MB\t"
        f"Max Memory Used: {outcome.max_memory_mb} MB\tInit Duration: {outcome.init_ms:.2f} ms"
    )
    output = outcome.output if not outcome.output or outcome.output.endswith("\n") else outcome.output + "\n"
    return f"START RequestId: {rid} Version: {func.version}\n{output}END RequestId: {rid}\n{report}\n"


# --------------------------------------------------------------------------- install

_runtime: LambdaRuntime | None = None
_install_lock = threading.Lock()


def _invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    assert _runtime is not None
    return _runtime.invoke(self, body, request_headers, response_headers)


def install(*, concurrency: int | None = None, code_dir: Path | str | None = None) -> LambdaRuntime:
    """Make moto's Lambda run function code in this process (idempotent); returns the runtime.

    ``LambdaFunction.invoke`` (which every invocation path reaches) runs the handler, and the
    Docker-less backend stops echoing and calls it like the Docker one does.
    """
    global _runtime
    with _install_lock:
        if _runtime is None:
            _runtime = LambdaRuntime(concurrency=concurrency, code_dir=code_dir)
            LambdaFunction.invoke = _invoke  # type: ignore[method-assign]
            LambdaSimpleBackend.invoke = LambdaBackend.invoke  # type: ignore[method-assign]
            _serve_account_settings()
            _runtime.start()
        return _runtime


def _serve_account_settings() -> None:
    """GET /2016-08-19/account-settings/ (GetAccountSettings): the local account limit, and that
    limit less every reservation in the account and Region as ``UnreservedConcurrentExecutions``."""
    from moto.awslambda import urls
    from moto.awslambda.responses import LambdaResponse

    def get_account_settings(self: Any) -> tuple[int, dict[str, str], str]:
        functions = list(self.backend.list_functions())
        reserved = sum(int(fn.reserved_concurrency) for fn in functions if fn.reserved_concurrency not in (None, ""))
        limit = _runtime.concurrency if _runtime is not None else concurrency_default()
        return 200, {}, json.dumps({
            "AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
                             "ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": max(limit - reserved, 0)},
            "AccountUsage": {"TotalCodeSize": sum(int(fn.code_size or 0) for fn in functions), "FunctionCount": len(functions)},
        })  # fmt: skip

    LambdaResponse.get_account_settings = get_account_settings  # type: ignore[attr-defined]
    urls.url_paths.setdefault(r"{0}/(?P<api_version>[^/]+)/account-settings/?$", LambdaResponse.dispatch)
