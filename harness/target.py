"""The scenario's target made concrete: ``local`` names resolved to the running local stack.

    target = resolve_target(scenario)
    target.base_url, target.user_pool_id, target.client_id

On AWS nothing changes. When anything is ``local``, the local stack's info is read
(``HARNESS_LOCAL_INFO`` or the state file of ``harness local up``) and, unless boto3 is
already pointed somewhere, this process's environment is pointed at it, exactly as
``harness run --local`` does.
"""

from __future__ import annotations

import os
from typing import Any

from harness.scenario import LOCAL, Scenario

__all__ = ["ResolvedTarget", "resolve_pool", "resolve_target"]


class ResolvedTarget:
    """The scenario's target with ``local`` names replaced by the local stack's values."""

    def __init__(self, *, base_url: str, user_pool_id: str | None, client_id: str | None, region: str, api_id: str | None, stage: str | None) -> None:
        self.base_url = base_url
        self.user_pool_id = user_pool_id
        self.client_id = client_id
        self.region = region
        self.api_id = api_id
        self.stage = stage

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def resolve_target(scenario: Scenario) -> ResolvedTarget:
    """Resolve ``local`` in the target and auth to the running local stack (see the module)."""
    auth, target = scenario.auth, scenario.target
    uses_local = target.base_url == LOCAL or (auth is not None and LOCAL in (auth.user_pool_id, auth.client_id))
    info = _local_info() if uses_local else None
    region = (auth.region if auth and auth.region else None) or (info.region if info else None) or os.environ.get("AWS_REGION") or "us-east-1"
    return ResolvedTarget(
        base_url=info.api_url if target.base_url == LOCAL and info else target.base_url,
        user_pool_id=(info.user_pool_id if auth and auth.user_pool_id == LOCAL and info else (auth.user_pool_id if auth else None)),
        client_id=(info.client_id if auth and auth.client_id == LOCAL and info else (auth.client_id if auth else None)),
        region=region,
        api_id=target.api_id or (info.api_id if info and target.base_url == LOCAL else None),
        stage=target.stage or (info.stage if info and target.base_url == LOCAL else None),
    )


def resolve_pool(pool: str, region: str | None) -> tuple[str, str | None]:
    """A user pool id and region for ``harness users``: ``local`` is the local stack's pool."""
    if pool == LOCAL:
        info = _local_info()
        return info.user_pool_id, region or info.region
    return pool, region


def _local_info() -> Any:
    """The running local stack's info, with this process's environment pointed at it (unless
    boto3 already points somewhere). The one place the core looks at the local stack."""
    from harness.local.stack import load_local_info

    info = load_local_info()
    for key, value in info.env(jwks=False).items():
        os.environ.setdefault(key, value)
    return info
