"""The moto hook: ``install()`` makes moto's Lambda run function code through one
``LambdaRuntime`` in this process, and serves ``GetAccountSettings`` from its limit."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda_simple.models import LambdaSimpleBackend

from harness.local.lambda_runtime.account import serve_account_settings
from harness.local.lambda_runtime.limits import concurrency_default
from harness.local.lambda_runtime.runtime import LambdaRuntime

__all__ = ["install"]

_runtime: LambdaRuntime | None = None
_install_lock = threading.Lock()


def _invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    assert _runtime is not None
    return _runtime.invoke(self, body, request_headers, response_headers)


def _account_limit() -> int:
    return _runtime.concurrency if _runtime is not None else concurrency_default()


def install(*, concurrency: int | None = None, code_dir: Path | str | None = None) -> LambdaRuntime:
    """Make moto's Lambda run function code in this process (idempotent); returns the runtime.

    ``LambdaFunction.invoke`` (which every invocation path reaches) runs the handler, and the
    Docker-less backend stops echoing and calls it like the Docker one does.
    """
    global _runtime
    with _install_lock:
        if _runtime is None:
            _runtime = LambdaRuntime(concurrency=concurrency, code_dir=code_dir)
            LambdaFunction.invoke = _invoke
            LambdaSimpleBackend.invoke = LambdaBackend.invoke
            serve_account_settings(_account_limit)
            _runtime.start()
        return _runtime
