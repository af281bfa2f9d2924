"""A local API Gateway emulator: an HTTP API stage with a Cognito JWT authorizer and throttling.

It answers like the real thing where a load test can tell: 404/429/401/403 bodies, token-bucket
throttling per stage and route, JWT checks against the user pool's JWKS, a mock backend with
latency, errors and fault windows (or a Lambda proxy integration), and ``AWS/ApiGateway``
metrics in CloudWatch.

From code::

    from harness.local.apigw import Emulator, EmulatorConfig
    async with Emulator(EmulatorConfig(port=0)) as emulator:
        print(emulator.url)

From the command line::

    python -m harness.local.apigw --config-file emulator.json [--host H] [--port P]
"""

from typing import TYPE_CHECKING, Any

from .config import AuthorizerConfig, BackendConfig, EmulatorConfig, Fault, LambdaIntegration, MetricsConfig, Throttle
from .routes import NOT_FOUND_KEY, ROUTE_KEYS

if TYPE_CHECKING:
    from .server import Emulator, serve


def __getattr__(name: str) -> Any:
    # The server (aiohttp, PyJWT: a third of a second) is imported when it is asked for: the
    # processes that only configure or start the emulator (``harness run --local``) never need it.
    if name in ("Emulator", "serve"):
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Emulator",
    "serve",
    "EmulatorConfig",
    "AuthorizerConfig",
    "BackendConfig",
    "Fault",
    "LambdaIntegration",
    "MetricsConfig",
    "Throttle",
    "ROUTE_KEYS",
    "NOT_FOUND_KEY",
]
