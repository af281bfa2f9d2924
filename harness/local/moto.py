"""A moto server in its own process, with our patches applied.

As a program it patches moto (CloudWatch percentiles and compact storage, a Lambda runtime
without Docker, CloudFormation fixes for the fan-out stack, a Distributed Map that fails past its tolerated
failure as on AWS, IAM enforced for assumed roles, CPU saved where moto repeats work, plus any
``--patch module:function``), configures it so Step Functions really execute state machines
and Lambda runs without Docker, and serves moto's werkzeug app (threaded) on one port::

    python -m harness.local.moto --host 127.0.0.1 --port 5000

It also answers routes of ours: ``GET /_harness/health`` (patches and moto config, used
for readiness), ``GET /_harness/cloudwatch/storage`` (what CloudWatch stores),
``GET /_harness/iam/calls`` (the calls of assumed roles checked by ``harness.local.iam``) and
``/_harness/faults/cognito`` (GET, POST, DELETE: windows in which Cognito sign-in is throttled;
see ``harness.local.cognito_faults``). Sign-ins publish Cognito's ``AWS/Cognito`` metrics
(``harness.local.cognito_metrics``).

From Python, ``MotoServer`` picks a free port, starts that program with ``sys.executable``,
waits until it answers, and stops it on exit; its log goes to a file, not the terminal::

    with MotoServer() as moto:
        boto3.client("cognito-idp", endpoint_url=moto.url, region_name="us-east-1")

The process helpers (``start_on_free_port``, ``wait_until_ready``, ``stop_pid``...) are shared
with ``harness.local.stack``, which starts the API Gateway emulator the same way;
``free_port`` and ``exit_with_parent`` are in ``harness.processes``.
"""

from __future__ import annotations

import argparse
import faulthandler
import functools
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from harness.errors import LocalStackError
from harness.processes import exit_with_parent, free_port

__all__ = [
    "MOTO_CONFIG",
    "MotoServer",
    "http_get_json",
    "http_ok",
    "log_tail",
    "pid_alive",
    "start_on_free_port",
    "start_process",
    "stop_pid",
    "stop_process",
    "wait_until_ready",
]

# What /moto-api/config is set to: state machines really run; Lambda never asks for Docker.
MOTO_CONFIG: dict[str, Any] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
# Patches applied in the server process before it serves (``module:function``). One that ends
# ``@module`` is applied when moto first imports that module: moto's CloudFormation and its
# Step Functions interpreter import EC2's tables of instance types and zones, over half of a
# server's start-up CPU, which a stack that never deploys a template or runs a state machine
# (``harness run --local``) never needs.
STEP_FUNCTIONS_INTERPRETER = "moto.stepfunctions.parser.models"
DEFAULT_PATCHES: tuple[str, ...] = (
    "harness.local.cloudwatch:install",
    "harness.local.lambda_runtime:install",
    "harness.local.cloudformation:install@moto.cloudformation.models",
    "harness.local.cognito_faults:install",
    "harness.local.cognito_metrics:install",
    f"harness.local.distributed_map:install@{STEP_FUNCTIONS_INTERPRETER}",
    f"harness.local.stop_execution:install@{STEP_FUNCTIONS_INTERPRETER}",
    "harness.local.iam:install",
    f"harness.local.iam:install_state_machines@{STEP_FUNCTIONS_INTERPRETER}",
    "harness.local.speedups:install",
    "harness.local.speedups:install_yaml@moto.cloudformation.models",
)
_MODULE = "harness.local.moto"


# --------------------------------------------------------------------------- process helpers


def log_tail(path: Path, lines: int = 5, width: int = 600) -> str:
    """The last non-empty ``lines`` of a log file on one line (for error messages)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    joined = " | ".join(tail) or "(log is empty)"
    return joined[-width:]


def start_process(args: Sequence[str], *, log_path: Path, env: dict[str, str] | None = None, detach: bool = False) -> subprocess.Popen[bytes]:
    """Start ``args`` with stdout and stderr appended to ``log_path``, in a session of its own:
    the terminal's Ctrl-C reaches only the caller, which stops it when it is done with it (a
    run's metrics are still pulled from moto after an interrupted load). ``detach`` says it is
    meant to outlive the caller (``local up``); otherwise the caller stops it, and servers
    started with ``--exit-with-parent`` also exit if the caller dies.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - the child keeps its own copy
    try:
        return subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        log.close()


def http_get_json(url: str, timeout: float = 2.0) -> Any:
    """GET ``url`` and decode its JSON body; raises ``OSError`` on any failure."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # our own 127.0.0.1 URLs
        if resp.status != 200:
            raise OSError(f"HTTP {resp.status}")
        return json.loads(resp.read() or b"null")


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # our own 127.0.0.1 URLs
            return resp.status == 200
    except (OSError, ValueError):
        return False


def wait_until_ready(
    name: str,
    proc: subprocess.Popen[bytes],
    check: Callable[[], bool],
    *,
    timeout: float,
    log_path: Path,
) -> None:
    """Poll ``check`` until it is true; fail fast if ``proc`` exits, or after ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        code = proc.poll()
        if code is not None:
            raise LocalStackError(f"{name} exited with code {code} while starting; log {log_path}: {log_tail(log_path)}")
        try:
            if check():
                return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise LocalStackError(f"{name} did not become ready within {timeout:g}s; log {log_path}: {log_tail(log_path)}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def start_on_free_port(
    name: str,
    host: str,
    port: int | None,
    launch: Callable[[int], subprocess.Popen[bytes]],
    ready: Callable[[int], bool],
    *,
    timeout: float,
    log_path: Path,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server with ``launch(port)`` and wait until ``ready(port)``: on ``port``, or on a
    free one when it is None. A free port can be taken by another process before the server
    binds it; that clash ("already in use" in its log) is retried on a new port, twice."""
    attempts = 1 if port else 3
    for attempt in range(attempts):
        chosen = port or free_port(host)
        proc = launch(chosen)
        try:
            wait_until_ready(f"{name} on {host}:{chosen}", proc, functools.partial(ready, chosen), timeout=timeout, log_path=log_path)
        except LocalStackError:
            stop_process(proc)
            clash = "already in use" in log_tail(log_path, lines=20, width=10_000).lower()
            if clash and attempt + 1 < attempts:
                continue
            raise
        return proc, chosen
    raise AssertionError("unreachable")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Terminate ``proc``, then kill it if it has not exited within ``timeout``; reap it."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        pass
    try:  # no /proc (macOS)
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.decode(errors="replace").strip() or None


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie child is reaped and counts as gone)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child: fine
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def stop_pid(pid: int, *, expect: str, timeout: float = 5.0) -> bool:
    """Stop process ``pid`` (SIGTERM, then SIGKILL) if its command line contains ``expect``.

    The check guards against a reused pid. Returns True if the process is gone afterwards.
    """
    if not pid_alive(pid):
        return True
    cmdline = _cmdline(pid)
    if cmdline is None or expect not in cmdline:
        return not pid_alive(pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return True
            time.sleep(0.05)
    return not pid_alive(pid)


# --------------------------------------------------------------------------- MotoServer


class MotoServer:
    """A moto server subprocess on 127.0.0.1, ready when ``start()`` returns.

    ``log_path`` defaults to a fresh temporary directory; ``detach`` lets it outlive this
    process (then stop it with ``stop_pid(pid, expect="harness.local.moto")``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: Path | str | None = None,
        start_timeout: float = 30.0,
        patches: Sequence[str] = (),
        detach: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkdtemp(prefix="harness-moto-")) / "moto.log"
        self.start_timeout = start_timeout
        self.patches = tuple(patches)
        self.detach = detach
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise LocalStackError("the moto server has not been started; call start() or use it in a with block")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> MotoServer:
        """Start the server and wait until it answers (retries once or twice on a port clash)."""
        if self.process is not None:
            return self

        def launch(port: int) -> subprocess.Popen[bytes]:
            args = [sys.executable, "-m", _MODULE, "--host", self.host, "--port", str(port)]
            for patch in self.patches:
                args += ["--patch", patch]
            if not self.detach:
                args += ["--exit-with-parent", str(os.getpid())]
            env = {**os.environ, **_server_env(port)}
            return start_process(args, log_path=self.log_path, env=env, detach=self.detach)

        self.process, self.port = start_on_free_port(
            "moto server",
            self.host,
            self.port,
            launch,
            lambda port: _is_ready(f"http://{self.host}:{port}"),
            timeout=self.start_timeout,
            log_path=self.log_path,
        )
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate (then kill) the server; safe to call twice."""
        if self.process is not None:
            stop_process(self.process, timeout)
            self.process = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"MotoServer(url={self.url if self.port else None!r}, pid={self.pid})"


def _server_env(port: int) -> dict[str, str]:
    """Environment of the server process: its own port, dummy credentials, unbuffered logs."""
    return {
        "MOTO_PORT": str(port),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "PYTHONUNBUFFERED": "1",
    }


def _is_ready(url: str) -> bool:
    health = http_get_json(f"{url}/_harness/health", timeout=1.0)
    return bool(health.get("ok")) and health.get("config", {}).get("stepfunctions") == MOTO_CONFIG["stepfunctions"]


# --------------------------------------------------------------------------- the server program


def _apply_patches(specs: Sequence[str]) -> list[str]:
    """Call each ``module:function`` now, or, for ``module:function@trigger``, once moto has
    imported ``trigger`` (at once if it already has)."""
    import wrapt

    applied = []
    for spec in specs:
        target, _, trigger = spec.partition("@")
        module_name, _, func_name = target.partition(":")

        def apply(_imported: Any = None, module_name: str = module_name, func_name: str = func_name) -> None:
            getattr(importlib.import_module(module_name), func_name or "install")()

        if trigger:
            wrapt.register_post_import_hook(apply, trigger)
        else:
            apply()
        applied.append(spec)
    return applied


def _with_harness_routes(app: Callable[..., Any], patches: list[str]) -> Callable[..., Any]:
    """Wrap moto's WSGI app so ``/_harness/...`` is answered here and the rest goes to moto."""
    from moto.core.config import default_user_config

    from harness.local import cognito_faults, iam
    from harness.local.cloudwatch import storage_stats

    statuses = {200: "200 OK", 201: "201 Created", 400: "400 Bad Request", 404: "404 Not Found", 405: "405 Method Not Allowed"}

    def routes(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/_harness/"):
            return app(environ, start_response)
        body: Any
        if path == cognito_faults.PATH or path.startswith(cognito_faults.PATH + "/"):
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            raw = environ["wsgi.input"].read(length) if length > 0 else b""
            code, body = cognito_faults.handle(environ.get("REQUEST_METHOD", "GET"), path, raw)
            status = statuses.get(code, f"{code} Error")
        elif path == "/_harness/health":
            config = {k: default_user_config.get(k) for k in ("stepfunctions", "lambda")}
            body = {"ok": True, "pid": os.getpid(), "patches": patches, "config": config}
            status = "200 OK"
        elif path == "/_harness/cloudwatch/storage":
            body, status = storage_stats(), "200 OK"
        elif path == "/_harness/iam/calls":
            body, status = iam.calls(), "200 OK"
        else:
            body, status = {"message": f"no route {path}"}, "404 Not Found"
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    return routes


def main(argv: Sequence[str] | None = None) -> None:
    """Run the patched moto server until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m harness.local.moto", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--patch", action="append", default=[], help="extra module:function to call first (module:function@module: once moto imports that module)"
    )
    parser.add_argument("--exit-with-parent", type=int, default=None, metavar="PID")
    parser.add_argument("--log-requests", action="store_true", help="log every request (noisy)")
    args = parser.parse_args(argv)

    # moto's Step Functions interpreter calls other services at localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(args.port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.log_requests else logging.WARNING)

    from moto.moto_api._internal.models import moto_api_backend
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    patches = _apply_patches([*DEFAULT_PATCHES, *args.patch])
    moto_api_backend.set_config(MOTO_CONFIG)  # what POST /moto-api/config would do
    if args.exit_with_parent:
        exit_with_parent(args.exit_with_parent)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: every thread's stack to the log

    app = DomainDispatcherApplication(create_backend_app)
    logging.getLogger(_MODULE).info("moto on http://%s:%d, patches %s", args.host, args.port, patches)
    run_simple(
        args.host,
        args.port,
        _with_harness_routes(app, patches),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
