"""Settings of the local API Gateway emulator (an HTTP API with a Cognito JWT authorizer).

Plain data, shared by the local stack (which writes it) and the emulator (which reads it).
Everything under ``backend`` and ``throttle`` can also be changed while it runs, through the
admin endpoints. ``lambda_integration`` sends some or all routes to a Lambda function (proxy
integration, payload format 2.0) instead of the mock backend.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, TypeGuard

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Throttle", "Fault", "BackendConfig", "AuthorizerConfig", "MetricsConfig", "LambdaIntegration", "EmulatorConfig", "is_number"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Throttle(_Model):
    """A token bucket: ``rate`` tokens per second, at most ``burst`` in the bucket."""

    rate: float = Field(gt=0)
    burst: int = Field(ge=1)


class Fault(_Model):
    """A window in which the API misbehaves; it ends by itself at ``end``.

    ``start``/``end`` are Unix epoch seconds; ``id`` names it (to end it early). ``kind``:
    - ``latency``: add ``extra_ms`` to every response;
    - ``error``: answer ``status`` (default 500) to a share ``rate`` of requests;
    - ``outage``: answer ``status`` (default 503) to every request, or with ``drop`` close
      the connection without an answer;
    - ``throttle``: requests must also find a token in the fault's own bucket for their route
      (``throttle``: rate and burst, per route, full when first used), else 429: the limit is lowered.
    ``routes`` limits the fault to some route keys (``"GET /items"``); empty means all.
    """

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12], min_length=1)
    kind: Literal["latency", "error", "outage", "throttle"]
    start: float
    end: float
    extra_ms: float = Field(default=0.0, ge=0)
    rate: float = Field(default=1.0, ge=0, le=1)
    status: int | None = Field(default=None, ge=400, le=599)
    drop: bool = False
    throttle: Throttle | None = None
    routes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _throttle_given(self) -> Fault:
        if (self.kind == "throttle") != (self.throttle is not None):
            raise ValueError('throttle: give {rate, burst} for kind "throttle", and only for it')
        return self


class BackendConfig(_Model):
    """The mock integration behind the API: its latency distribution, error rate and faults.

    Latency is lognormal with median ``latency_ms`` and shape ``latency_sigma``
    (0 gives a fixed latency).
    """

    latency_ms: float = Field(default=2.0, ge=0)
    latency_sigma: float = Field(default=0.3, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_status: int = 500
    faults: list[Fault] = Field(default_factory=list)
    seed: int | None = None


class AuthorizerConfig(_Model):
    """A Cognito JWT authorizer, checked like API Gateway does.

    ``issuer`` defaults to ``https://cognito-idp.{region}.amazonaws.com/{user_pool_id}``;
    ``jwks_url`` is where the signing keys are fetched (moto serves them at
    ``<endpoint>/<pool>/.well-known/jwks.json``). ``audience`` lists accepted app client ids
    (checked against ``client_id`` for access tokens, ``aud`` for id tokens).
    ``route_scopes`` maps a route key to scopes of which the token must hold at least one.
    """

    user_pool_id: str
    region: str = "us-east-1"
    jwks_url: str
    issuer: str | None = None
    audience: list[str] = Field(default_factory=list)
    route_scopes: dict[str, list[str]] = Field(default_factory=dict)
    cache_seconds: float = 300.0

    def resolved_issuer(self) -> str:
        return self.issuer or f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


class MetricsConfig(_Model):
    """Where the emulator publishes ``AWS/ApiGateway`` metrics (HTTP API naming).

    ``endpoint_url`` None means boto3's own resolution (``AWS_ENDPOINT_URL``).
    """

    enabled: bool = True
    endpoint_url: str | None = None
    region: str = "us-east-1"
    interval: float = Field(default=1.0, gt=0)


class LambdaIntegration(_Model):
    """A Lambda proxy integration (payload format 2.0), invoked with boto3 ``Invoke``
    (``RequestResponse``) at ``endpoint_url`` (None: boto3's own resolution, ``AWS_ENDPOINT_URL``).

    ``routes`` lists the route keys sent to the function; empty means every route.
    ``timeout`` is the integration timeout in seconds (an HTTP API allows 0.05 to 30): past it
    the client gets 503 while the function may still run. ``max_concurrency`` bounds the
    invocations in flight (the threads that wait for Lambda); requests beyond it queue.
    """

    function_name: str = Field(min_length=1)
    routes: list[str] = Field(default_factory=list)
    timeout: float = Field(default=30.0, ge=0.05, le=30.0)
    max_concurrency: int = Field(default=64, ge=1, le=512)
    endpoint_url: str | None = None
    region: str = "us-east-1"


class EmulatorConfig(_Model):
    """Everything the emulator needs to start."""

    host: str = "127.0.0.1"
    port: int = 0
    api_id: str = "harnesslcl"
    stage: str = "$default"
    authorizer: AuthorizerConfig | None = None
    throttle: Throttle = Field(default_factory=lambda: Throttle(rate=10_000, burst=5_000))
    """The stage's default route throttling: applies to each route separately, as on AWS."""
    route_throttles: dict[str, Throttle] = Field(default_factory=dict)
    """Route-level limits: on their routes they replace the stage's default."""
    backend: BackendConfig = Field(default_factory=BackendConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    lambda_integration: LambdaIntegration | None = None


def is_number(value: Any) -> TypeGuard[float]:
    """A JSON number (``true`` is not one), for hand-checked fields such as a JWT's ``exp``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
