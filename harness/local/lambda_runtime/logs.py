"""A function's log: CloudWatch Logs ``/aws/lambda/<name>`` (START/END/REPORT lines as on Lambda,
one stream per execution environment, written with the execution role's permission), the server log (its
tail) and the last 4 KB for ``LogType=Tail``."""

from __future__ import annotations

import logging
import threading
import time

from moto.logs.exceptions import ResourceAlreadyExistsException
from moto.logs.models import logs_backends

from harness.local.lambda_runtime.function import Function
from harness.local.lambda_runtime.process import Outcome
from harness.local.lambda_runtime.role import may_log

__all__ = ["LogWriter", "log_tail", "log_text"]

TAIL_BYTES = 4096  # x-amz-log-result
MAX_EVENT_CHARS = 256 * 1024  # CloudWatch Logs event limit
SERVER_LOG_CHARS = 2000

log = logging.getLogger("harness.local.lambda_runtime")


def log_text(func: Function, outcome: Outcome) -> str:
    rid = outcome.request_id
    report = (
        f"REPORT RequestId: {rid}\tDuration: {outcome.duration_ms:.2f} ms\t"
        f"Billed Duration: {max(1, int(outcome.duration_ms + 0.999))} ms\tMemory Size: {func.memory} MB\t"
        f"Max Memory Used: {outcome.max_memory_mb} MB"
    )
    if outcome.cold:  # as Lambda: only the invocation that initialised its environment
        report += f"\tInit Duration: {outcome.init_ms:.2f} ms"
    output = outcome.output if not outcome.output or outcome.output.endswith("\n") else outcome.output + "\n"
    return f"START RequestId: {rid} Version: {func.version}\n{output}END RequestId: {rid}\n{report}\n"


def log_tail(func: Function, outcome: Outcome) -> bytes:
    """The log's last 4 KB, as ``x-amz-log-result`` carries them (base64-encoded)."""
    return log_text(func, outcome).encode()[-TAIL_BYTES:]


class LogWriter:
    """Writes each invocation's log to moto's CloudWatch Logs and the server log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # moto's Logs backend is not thread-safe

    def write(self, func: Function, outcome: Outcome) -> None:
        """CloudWatch Logs (the environment's stream), if the execution role allows it, and the server log."""
        stream = outcome.log_stream
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
                try:
                    backend.create_log_stream(func.log_group, stream)
                except ResourceAlreadyExistsException:  # the environment's earlier invocations made it
                    pass
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
