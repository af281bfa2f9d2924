"""The ``[local]`` table of a scenario: how the local stack's API Gateway emulator and its
backend behave (ignored on AWS)::

    LocalSettings(throttle_rate=50, throttle_burst=10, integration="lambda")

Beside ``harness/local/``, not in it: the fan-out Lambdas load scenarios, and their code zip
leaves the local stack (``harness/local/``) out (``fanout/package.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from harness.fields import Float, Int, Model

__all__ = ["LocalSettings"]


class LocalSettings(Model):
    """How the local stack's API Gateway emulator behaves for this scenario (ignored on AWS):
    stage throttling (token bucket) and the mock backend's latency and errors.

    ``integration = "lambda"`` sends every route to a Lambda function deployed into the local
    stack (``harness-local-backend``) instead of the mock backend, so Lambda's concurrency can be
    the bottleneck: ``lambda_reserved_concurrency`` (none by default: the account's 1,000),
    ``lambda_latency_ms`` (the function sleeps that long per invocation) and ``lambda_timeout``
    (the function's timeout, seconds). Its AWS/Lambda metrics are pulled into the report.
    """

    throttle_rate: float | None = Field(default=None, gt=0)
    throttle_burst: int | None = Field(default=None, ge=1)
    latency_ms: float = Field(default=2.0, ge=0)
    latency_sigma: float = Field(default=0.3, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    integration: Literal["mock", "lambda"] = "mock"
    lambda_reserved_concurrency: Int | None = Field(default=None, ge=0)
    lambda_latency_ms: Float | None = Field(default=None, ge=0)
    lambda_timeout: Int | None = Field(default=None, ge=1, le=900)

    @model_validator(mode="after")
    def _pair(self) -> LocalSettings:
        if (self.throttle_rate is None) != (self.throttle_burst is None):
            raise ValueError("set both throttle_rate and throttle_burst, or neither")
        lambda_fields = [name for name in ("lambda_reserved_concurrency", "lambda_latency_ms", "lambda_timeout") if getattr(self, name) is not None]
        if lambda_fields and self.integration != "lambda":
            raise ValueError(f'{", ".join(lambda_fields)} need integration = "lambda"')
        if self.lambda_latency_ms and self.lambda_latency_ms >= (self.lambda_timeout or 10) * 1000:
            raise ValueError(
                f"lambda_latency_ms {self.lambda_latency_ms:g} must be below lambda_timeout ({self.lambda_timeout or 10} s), or every invocation times out"
            )
        return self
