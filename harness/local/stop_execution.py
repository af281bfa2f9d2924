"""StopExecution in moto's Step Functions as it is on AWS: the execution is ABORTED at once.

On AWS (Step Functions API reference, StopExecution; developer guide, "Distributed Map
state"), StopExecution ends a Standard execution at once: DescribeExecution answers
``ABORTED`` with the ``error`` and ``cause`` given and the stop date, the Distributed Map's
child executions are stopped, and a Lambda invocation already running goes on to its end (its
result is dropped). moto drops the error and cause, and its execution stays ``RUNNING`` until
its program has wound down, that is until every Lambda call of a running Map child has
returned: minutes, for a load test's workers. A worker that watches its execution would never
see it stopped, and the CLI would wait.

``install()`` (one of ``harness.local.moto.DEFAULT_PATCHES``) makes the execution ``ABORTED``,
with its error, cause and stop date, the moment StopExecution is called; its program is then
stopped as moto stops it (the running Lambda calls go on in the local Lambda runtime), and
its later end does not change what DescribeExecution says.
"""

from __future__ import annotations

import datetime
from typing import Any

__all__ = ["install"]


def install() -> None:
    """Patch moto's StopExecution (idempotent)."""
    from moto.stepfunctions import models, responses
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend import execution as parser_execution

    if getattr(parser_execution.Execution, "_harness_stop_patched", False):
        return

    def backend_stop_execution(self: Any, execution_arn: str, error: str | None = None, cause: str | None = None) -> Any:
        self._validate_execution_arn(execution_arn)
        state_machine = self._get_state_machine_for_execution(execution_arn)
        execution = next((x for x in state_machine.executions if x.execution_arn == execution_arn), None)
        if execution is None:
            return state_machine.stop_execution(execution_arn)  # moto's own ExecutionDoesNotExist
        execution.stop(stop_date=datetime.datetime.now(tz=datetime.UTC), error=error, cause=cause)
        return execution

    models.StepFunctionBackend.stop_execution = backend_stop_execution

    def response_stop_execution(self: Any) -> Any:
        from moto.core.responses import ActionResult

        execution = self.stepfunction_backend.stop_execution(self._get_param("executionArn"), error=self._get_param("error"), cause=self._get_param("cause"))
        return ActionResult({"stopDate": execution.stop_date})

    responses.StepFunctionResponse.stop_execution = response_stop_execution

    original_stop = parser_execution.Execution.stop

    def stop(self: Any, stop_date: datetime.datetime, error: str | None, cause: str | None) -> None:
        if self.exec_status == ExecutionStatus.RUNNING:  # AWS: ABORTED now, whatever is still running
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date
            self.error = error
            self.cause = cause
        original_stop(self, stop_date=stop_date, error=error, cause=cause)

    parser_execution.Execution.stop = stop

    communication = parser_execution.BaseExecutionWorkerCommunication
    original_reflect = communication._reflect_execution_status

    def reflect(self: Any) -> None:
        if self.execution.exec_status == ExecutionStatus.ABORTED:
            return  # stopped by StopExecution: its status, date, error and cause stay
        original_reflect(self)

    communication._reflect_execution_status = reflect
    setattr(parser_execution.Execution, "_harness_stop_patched", True)  # noqa: B010 - moto declares no such attribute
