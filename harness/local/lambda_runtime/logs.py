"""A function's log: CloudWatch Logs ``/aws/lambda/<name>`` (START/END/REPORT lines as on Lambda,
one stream per invocation, written with the execution role's permission), the server log (its
tail) and the last 4 KB for ``LogType=Tail``."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from moto.logs.models import logs_backends

from harness.local.lambda_runtime.function import Function
from harness.local.lambda_runtime.process import Outcome
from harness.local.lambda_runtime.role import may_log

__all__ = ["LogWriter", "log_stream", "log_tail", "log_text"]

TAIL_BYTES = 4096  # x-amz-log-result
MAX_EVENT_CHARS = 256 * 1024  # CloudWatch Logs event limit
SERVER_LOG_CHARS = 2000

log = logging.getLogger("harness.local.lambda_runtime")


def log_stream(func: Function, request_id: str) -> str:
    """Lambda's stream name shape (``2024/05/01/[$LATEST]<hex>``); ours is one per invocation."""
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    return f"{day}/[{func.version}]{request_id.replace('-', '')}"


def log_text(func: Function, outcome: Outcome) -> str:
    rid = outcome.request_id
    report = (
        f"REPORT RequestId: {rid}\tDuration: {outcome.duration_ms:.2f} ms\t"
        f"Billed Duration: {max(1, int(outcome.duration_ms + 0.999))} ms\tMemory Size: {func.memory} MB\t"
        f"Max Memory Used: {outcome.max_memory_mb} MB\tInit Duration: {outcome.init_ms:.2f} ms"
    )
    output = outcome.output if not outcome.output or outcome.output.endswith("\n") else outcome.output + "\n"
    return f"START RequestId: {rid} Version: {func.version}\n{output}END RequestId: {rid}\n{report}\n"


def log_tail(func: Function, outcome: Outcome) -> bytes:
    """The log's last 4 KB, as ``x-amz-log-result`` carries them (base64-encoded)."""
    return log_text(func, outcome).encode()[-TAIL_BYTES:]


class LogWriter:
    """Writes each invocation's log to moto's CloudWatch Logs and the server log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # moto's Logs backend is not thread-safe

    def write(self, func: Function, outcome: Outcome, stream: str) -> None:
        """CloudWatch Logs (one stream per invocation), if the execution role allows it, and the server log."""
        now_ms = int(time.time() * 1000)
        lines = [line[:MAX_EVENT_CHARS] for line in log_text(func, outcome).splitlines() if line]
        events = [{"timestamp": now_ms, "message": line} for line in lines]
        try:
            if not may_log(func, stream):
                log.warning("lambda %s: its role %s may not write to %s; no CloudWatch Logs", func.name, func.role, func.log_group)
                return
            with self._lock:
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
            shown = output if len(output) <= SERVER_LOG_CHARS else "..." + output[-SERVER_LOG_CHARS:]
            log.log(level, "lambda %s %s: %s in %.1f ms; output:\n%s", func.name, outcome.request_id, status, outcome.duration_ms, shown)
        else:
            log.debug("lambda %s %s: ok in %.1f ms", func.name, outcome.request_id, outcome.duration_ms)
