"""The faults part of a scenario: each ``[[faults]]`` kind's settings, and ``[recovery]``, how
recovery time is judged. Plain data; ``kinds.py`` applies the faults, ``recovery.py`` measures::

    fault = LatencyFault(kind="latency", at=10, duration=5, latency="200ms")
    fault.label, fault.end          # ("latency at 10s", 15.0)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_serializer

from harness.durations import Duration, PositiveDuration
from harness.fields import Float, Int, Model, Percent, Share

__all__ = [
    "FaultSpec", "FAULT_KINDS", "LOCAL_FAULT_KINDS", "RecoverySettings", "same_setting", "LatencyFault", "ErrorsFault",
    "OutageFault", "ThrottleFault", "CognitoThrottleFault", "LambdaConcurrencyFault", "FisFault", "StageThrottleFault",
]  # fmt: skip


class _FaultBase(Model):
    """What every fault has: when it starts (``at``, from the first planned request) and for
    how long. ``name`` labels it in results and reports (default: ``"<kind> at <at>s"``)."""

    name: str | None = Field(default=None, min_length=1)
    at: Duration = Field(ge=0)
    duration: PositiveDuration

    @property
    def label(self) -> str:
        return self.name or f"{self.kind} at {self.at:g}s"  # type: ignore[attr-defined]

    @property
    def end(self) -> float:
        return self.at + self.duration

    def params(self) -> dict[str, Any]:
        """The kind's own parameters, for results files and the plan."""
        return self.model_dump(mode="json", exclude={"name", "at", "duration", "kind"}, exclude_none=True)


class LatencyFault(_FaultBase):
    """Local: the emulator adds ``latency`` to every answer (of ``route`` only, when given)."""

    kind: Literal["latency"]
    latency: PositiveDuration
    route: str | None = None


class ErrorsFault(_FaultBase):
    """Local: a ``share`` of requests (of ``route``) are answered ``status``."""

    kind: Literal["errors"]
    share: Share = 1.0
    status: Int = Field(default=500, ge=400, le=599)
    route: str | None = None


class OutageFault(_FaultBase):
    """Local: every request (of ``route``) is answered ``status`` (``mode = "status"``) or its
    connection is closed without an answer (``mode = "drop"``)."""

    kind: Literal["outage"]
    mode: Literal["status", "drop"] = "status"
    status: Int = Field(default=503, ge=400, le=599)
    route: str | None = None


class ThrottleFault(_FaultBase):
    """Local: the stage's (or ``route``'s) token bucket is lowered to ``rate`` and ``burst``."""

    kind: Literal["throttle"]
    rate: Float = Field(gt=0)
    burst: Int = Field(ge=1)
    route: str | None = None


class CognitoThrottleFault(_FaultBase):
    """Local: Cognito answers sign-in and refresh calls with TooManyRequestsException."""

    kind: Literal["cognito_throttle"]


class LambdaConcurrencyFault(_FaultBase):
    """Local and AWS: ``function``'s reserved concurrency is set to ``reserved`` (PutFunctionConcurrency),
    then put back as it was. ``function`` defaults to the only one in ``target.lambda_functions``
    (locally: the local stack's backend function)."""

    kind: Literal["lambda_concurrency"]
    reserved: Int = Field(ge=0)
    function: str | None = Field(default=None, min_length=1)


class FisFault(_FaultBase):
    """AWS: starts an AWS FIS experiment from ``template`` (an experiment template id, ``EXT...``)
    and stops it at the end of the window."""

    kind: Literal["fis"]
    template: str = Field(min_length=1)


class StageThrottleFault(_FaultBase):
    """AWS: lowers an API Gateway stage's default throttling to ``rate`` and ``burst``
    (UpdateStage), then puts back exactly what was there. ``api_id`` and ``stage`` default to
    the target's (an ``execute-api`` URL names both)."""

    kind: Literal["stage_throttle"]
    rate: Float = Field(gt=0)
    burst: Int = Field(ge=0)
    api_id: str | None = Field(default=None, min_length=1)
    stage: str | None = Field(default=None, min_length=1)


FaultSpec = Annotated[
    LatencyFault | ErrorsFault | OutageFault | ThrottleFault | CognitoThrottleFault | LambdaConcurrencyFault | FisFault | StageThrottleFault,
    Field(discriminator="kind"),
]
FAULT_KINDS: dict[str, type[_FaultBase]] = {
    "latency": LatencyFault,
    "errors": ErrorsFault,
    "outage": OutageFault,
    "throttle": ThrottleFault,
    "cognito_throttle": CognitoThrottleFault,
    "lambda_concurrency": LambdaConcurrencyFault,
    "fis": FisFault,
    "stage_throttle": StageThrottleFault,
}
LOCAL_FAULT_KINDS = frozenset({"latency", "errors", "outage", "throttle", "cognito_throttle"})
"""Kinds applied through the local stack (the emulator's admin API, moto): local targets only."""


class RecoverySettings(Model):
    """How recovery time is judged (``harness.faults.recovery``): a second is back to normal when
    its p95 is within ``tolerance`` of the baseline's (+5 ms) and its error rate within
    ``error_tolerance`` (percentage points), held for ``hold``; the baseline is the ``baseline``
    seconds before the event. ``min_requests``: fewer in a second, and it is judged merged with
    the next ones."""

    tolerance: Percent = 50.0
    error_tolerance: Percent = 1.0
    hold: Duration = Field(default=3.0, ge=1, le=600)
    baseline: Duration = Field(default=10.0, ge=3, le=3600)
    min_requests: Int = Field(default=5, ge=1)

    @field_serializer("tolerance", "error_tolerance")
    def _as_percent(self, value: float) -> str:
        return f"{value:g}%"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RecoverySettings:
        """From a scenario's ``recovery`` table as echoed into results (``"50%"``); defaults for none."""
        return cls.model_validate(data) if data else cls()

    def as_numbers(self) -> dict[str, float]:
        """The settings as plain numbers (``tolerance`` 50.0, not ``"50%"``), for recovery's output."""
        return {name: getattr(self, name) for name in type(self).model_fields}


def same_setting(a: Any, b: Any) -> bool:
    """Two faults that set the same thing and put it back (stage throttling, a function's
    reserved concurrency, the emulator's throttle of one route)."""
    if a.kind != b.kind:
        return False
    if a.kind == "stage_throttle":
        return (a.api_id, a.stage) == (b.api_id, b.stage)
    if a.kind == "lambda_concurrency":
        return a.function == b.function
    return False
