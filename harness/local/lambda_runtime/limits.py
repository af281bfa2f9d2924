"""Concurrency as Lambda counts it: reserved concurrency per function and the account limit
shared by the functions without a reservation; a throttle is HTTP 429 with Lambda's ``Reason``."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.utils import get_backend

from harness.errors import LocalStackError
from harness.local.lambda_runtime.function import FnKey, Function

__all__ = [
    "ACCOUNT_LIMIT",
    "CONCURRENCY_ENV",
    "RESERVED_LIMIT",
    "Limits",
    "Slot",
    "TooManyRequestsException",
    "concurrency_default",
    "reservations",
]

CONCURRENCY_ENV = "HARNESS_LOCAL_LAMBDA_CONCURRENCY"
RESERVED_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT = "ConcurrentInvocationLimitExceeded"


class TooManyRequestsException(LambdaClientError):
    """HTTP 429 as Lambda answers a throttled invocation; boto3 raises ClientError with this code."""

    code = 429

    def __init__(self, reason: str) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")
        self.reason = reason
        self.description = json.dumps({"Reason": reason, "Type": "User", "message": "Rate Exceeded."})


def concurrency_default() -> int:
    """``HARNESS_LOCAL_LAMBDA_CONCURRENCY`` when set, else 1000 (Lambda's default account limit)."""
    raw = os.environ.get(CONCURRENCY_ENV, "").strip()
    if not raw:
        return 1000
    if not raw.isdigit():
        raise LocalStackError(f"{CONCURRENCY_ENV}={raw!r} is not a whole number; set it to the account limit, e.g. 1000")
    return int(raw)


def reservations(func: Function) -> tuple[int | None, int]:
    """(this function's reserved concurrency, the sum of all reservations in its account/region).

    Reserved concurrency is set on the function, not on a version, so it is read from $LATEST.
    """
    backend = get_backend(func.account_id, func.region)
    for _ in range(5):
        try:
            functions = list(backend.list_functions())
            break
        except RuntimeError:  # moto iterates its dict of functions unguarded; one was added meanwhile
            continue
    else:
        functions = [backend.get_function(func.name)]
    reserved = None
    total = 0
    for fn in functions:
        value = fn.reserved_concurrency
        if value is None or value == "":
            continue
        total += int(value)
        if fn.function_name == func.name:
            reserved = int(value)
    return reserved, total


@dataclass
class Slot:
    """One running invocation, as counted by ``Limits``."""

    key: FnKey
    unreserved: bool


class Limits:
    """Running invocations per function and account; throttles as Lambda does."""

    def __init__(self, account_limit: int) -> None:
        self.account_limit = account_limit
        self._lock = threading.Lock()
        self._running: dict[FnKey, int] = {}
        self._unreserved: dict[tuple[str, str], int] = {}

    def acquire(self, key: FnKey, reserved: int | None, reserved_total: int) -> tuple[Slot, int, int]:
        """A slot, the function's and the account's running count with it; or raise the 429."""
        account = (key[0], key[1])
        with self._lock:
            running = self._running.get(key, 0)
            if reserved is not None:
                if running >= reserved:
                    raise TooManyRequestsException(RESERVED_LIMIT)
            else:
                unreserved = self._unreserved.get(account, 0)
                if unreserved >= self.account_limit - reserved_total:
                    raise TooManyRequestsException(ACCOUNT_LIMIT)
                self._unreserved[account] = unreserved + 1
            self._running[key] = running + 1
            return Slot(key, reserved is None), running + 1, self._account_running(account)

    def release(self, slot: Slot) -> None:
        with self._lock:
            self._running[slot.key] -= 1
            if not self._running[slot.key]:
                del self._running[slot.key]
            if slot.unreserved:
                self._unreserved[(slot.key[0], slot.key[1])] -= 1

    def running(self) -> dict[FnKey, int]:
        """Running counts per function and per account (function name None)."""
        with self._lock:
            out: dict[FnKey, int] = dict(self._running)
            for (account, region, _), n in self._running.items():
                out[(account, region, None)] = out.get((account, region, None), 0) + n
            return out

    def _account_running(self, account: tuple[str, str]) -> int:
        return sum(n for (a, r, _), n in self._running.items() if (a, r) == account)
