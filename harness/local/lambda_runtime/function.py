"""What an invocation needs of a moto ``LambdaFunction``, read once (it may change meanwhile)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaFunction

__all__ = ["FnKey", "Function"]

FnKey = tuple[str, str, str | None]
"""(account, region, function name); name None: the whole account."""


@dataclass(frozen=True, kw_only=True)
class Function:
    """A deployed function as one invocation sees it: ``Function.of(moto_function)``."""

    account_id: str
    region: str
    name: str
    arn: str
    role: str
    version: str
    handler: str
    runtime: str
    variables: Mapping[str, str]
    timeout: float
    memory: int
    code: bytes
    sha: str

    @classmethod
    def of(cls, fn: LambdaFunction) -> Function:
        code = getattr(fn, "code_bytes", b"") or b""
        if not code:
            raise InvalidParameterValueException(
                f"The local Lambda runtime runs zip packages only and {fn.function_name} has no code zip; deploy it with ZipFile or S3Bucket/S3Key"
            )
        return cls(
            account_id=fn.account_id,
            region=fn.region,
            name=fn.function_name,
            arn=fn.function_arn,
            role=str(fn.role or ""),
            version=str(fn.version),
            handler=fn.handler or "",
            runtime=fn.run_time or "python3",
            variables={str(k): str(v) for k, v in (fn.environment_vars or {}).items()},
            timeout=float(fn.timeout or 3),
            memory=int(fn.memory_size or 128),
            code=code,
            sha=getattr(fn, "code_digest", "") or hashlib.sha256(code).hexdigest(),
        )

    @property
    def key(self) -> FnKey:
        return (self.account_id, self.region, self.name)

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"

    def log_stream(self, environment_id: str) -> str:
        """Lambda's stream name shape (``2024/05/01/[$LATEST]<hex>``): one per execution environment."""
        return f"{datetime.now(UTC):%Y/%m/%d}/[{self.version}]{environment_id}"
