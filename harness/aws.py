"""One place that builds boto3 sessions and clients.

The same code talks to real AWS and to the local stack: locally only the endpoint differs,
and boto3 reads it from ``AWS_ENDPOINT_URL`` like any other setting.

    ctx = AwsContext(region="eu-west-1")
    cognito = ctx.client("cognito-idp")
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

__all__ = ["AwsContext"]

_DEFAULT_CONFIG = Config(
    retries={"max_attempts": 2, "mode": "standard"},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=50,
)


@dataclass
class AwsContext:
    """A boto3 session plus the settings every client shares.

    ``region``: argument > ``AWS_REGION``/``AWS_DEFAULT_REGION`` > the AWS profile's configured
    region (``AWS_PROFILE``, ``~/.aws/config``) > ``us-east-1``.
    ``endpoint_url``: argument > ``AWS_ENDPOINT_URL`` (boto3 reads it itself) > AWS's own.
    """

    region: str | None = None
    endpoint_url: str | None = None
    session: boto3.session.Session | None = None
    config: Config = field(default_factory=lambda: _DEFAULT_CONFIG)
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.region is None:
            self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if self.session is None:
            self.session = boto3.session.Session(region_name=self.region)
        if self.region is None:
            self.region = self.session.region_name or "us-east-1"

    def client(self, service: str) -> Any:
        """A cached client for ``service`` (``"cognito-idp"``, ``"cloudwatch"``, ...)."""
        if service not in self._clients:
            assert self.session is not None  # __post_init__ made one when none was passed
            kwargs: dict[str, Any] = {"region_name": self.region, "config": self.config}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._clients[service] = self.session.client(service, **kwargs)
        return self._clients[service]
