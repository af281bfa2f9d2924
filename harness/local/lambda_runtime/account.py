"""``GetAccountSettings``, which moto does not serve: the local account limit, and that limit less
every reservation in the account and Region as ``UnreservedConcurrentExecutions`` (``harness
fanout`` asks it before a run)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["serve_account_settings"]


def serve_account_settings(limit: Callable[[], int]) -> None:
    """Route GET /2016-08-19/account-settings/ in moto's Lambda; ``limit()`` gives the account limit."""
    from moto.awslambda import urls
    from moto.awslambda.responses import LambdaResponse

    def get_account_settings(self: Any) -> tuple[int, dict[str, str], str]:
        functions = list(self.backend.list_functions())
        reserved = sum(int(fn.reserved_concurrency) for fn in functions if fn.reserved_concurrency not in (None, ""))
        account_limit = limit()
        return 200, {}, json.dumps({
            "AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
                             "ConcurrentExecutions": account_limit,
                             "UnreservedConcurrentExecutions": max(account_limit - reserved, 0)},
            "AccountUsage": {"TotalCodeSize": sum(int(fn.code_size or 0) for fn in functions), "FunctionCount": len(functions)},
        })  # fmt: skip

    LambdaResponse.get_account_settings = get_account_settings  # type: ignore[attr-defined]
    urls.url_paths.setdefault(r"{0}/(?P<api_version>[^/]+)/account-settings/?$", LambdaResponse.dispatch)
