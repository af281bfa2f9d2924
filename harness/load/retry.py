"""Client retries of an endpoint (``retry`` in a scenario, or an endpoint's own): the settings,
with the backoff formula of ``jitter.py`` (``auth/backoff.py``'s too)::

    retry = Retry(on=[429, 503], max_attempts=3, base=0.1, cap=2.0)
    retry.backoff(1, random.Random(1))   # a draw in [0, 0.1]
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Tag, ValidationInfo, field_validator

from harness.durations import PositiveDuration
from harness.fields import Int, Model
from harness.jitter import FullJitter, Uniform

__all__ = ["Retry", "RetrySetting", "TRANSPORT", "MAX_RETRY_ATTEMPTS"]

MAX_RETRY_ATTEMPTS = 10
TRANSPORT = 0
"""``"transport"`` in ``retry.on``: no response at all (refused, reset, timed out), status 0."""


def _retry_statuses(value: Any) -> Any:
    # "transport" is easier to read than 0; both mean "no response"
    if isinstance(value, list):
        return [TRANSPORT if item == "transport" else item for item in value]
    return value


class Retry(Model):
    """Client retries of one endpoint: exponential backoff with full jitter (AWS's), at most
    ``max_attempts`` attempts in all (the first one included), on the statuses in ``on``
    (``"transport"`` or 0: no response at all). Retry ``n`` (the attempt ``n + 1``) first sleeps
    ``uniform(0, min(cap, base * 2 ** (n - 1)))`` seconds::

        retry = Retry(on=[429, 503], max_attempts=3, base=0.1, cap=2.0)
        retry.ceiling(1), retry.ceiling(2)   # 0.1, 0.2: the longest sleep before retry 1 and 2
        retry.backoff(2, random.Random(1))   # a draw in [0, 0.2]
    """

    on: Annotated[list[Int], BeforeValidator(_retry_statuses)]
    max_attempts: Int = 3
    base: PositiveDuration = 0.1
    cap: PositiveDuration = 2.0

    @field_validator("on")
    @classmethod
    def _on(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("lists no status; list the statuses to retry, e.g. on = [429, 503]")
        for status in value:
            if status == 401:
                raise ValueError("401 is never retried here: a 401 already refreshes the user's token and sends once more; remove 401 from retry.on")
            if status != TRANSPORT and not 400 <= status <= 599:
                raise ValueError(f'{status} is not a 4xx or 5xx status; retry only errors, e.g. on = [429, 503] ("transport": no response)')
        return sorted(set(value))

    @field_validator("max_attempts")
    @classmethod
    def _attempts(cls, value: int) -> int:
        if value < 2:
            raise ValueError("must be at least 2 (the first attempt counts); for one attempt use no retry: retry = false, or leave retry out")
        if value > MAX_RETRY_ATTEMPTS:
            raise ValueError(f"is {value}, over {MAX_RETRY_ATTEMPTS}: retries that many multiply the load; set max_attempts <= {MAX_RETRY_ATTEMPTS}")
        return value

    @field_validator("cap")
    @classmethod
    def _cap(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("base")
        if base is not None and value < base:
            raise ValueError(f"is below base ({base:g} s); set cap >= base")
        if value > 60:
            raise ValueError(f"is {value:g} s; a backoff longer than a minute holds a virtual user for nothing; set cap <= 60s")
        return value

    @property
    def policy(self) -> FullJitter:
        """The same backoff as harness's own AWS calls (``auth/backoff.py``): one formula."""
        return FullJitter(base=self.base, cap=self.cap)

    def ceiling(self, retry: int) -> float:
        """The longest sleep before retry ``retry`` (1: before the second attempt)."""
        return self.policy.bound(retry - 1)

    def backoff(self, retry: int, rng: Uniform) -> float:
        """Full jitter: a uniform draw in [0, ``ceiling(retry)``] seconds."""
        return self.policy.delay(retry - 1, rng=rng)

    def describe(self) -> str:
        """``on 429, 503 · 3 attempts · 100 ms..2 s``"""
        statuses = ", ".join("transport" if s == TRANSPORT else str(s) for s in self.on)
        return f"on {statuses} · {self.max_attempts} attempts · backoff {_short(self.base)}..{_short(self.cap)}"


def _short(seconds: float) -> str:
    return f"{seconds * 1000:g} ms" if seconds < 1 else f"{seconds:g} s"


def _retry_setting(value: Any) -> Any:
    if value is True:
        raise ValueError("true is not a retry policy; write a table like { on = [429, 503], max_attempts = 3 }, or false for none")
    if value is not None and value is not False and not isinstance(value, (dict, Retry)):
        raise ValueError('write a table like { on = [429, 503], max_attempts = 3, base = "100ms", cap = "2s" }, or false for none')
    return value


RetrySetting = Annotated[
    Annotated[Retry, Tag("policy")] | Annotated[Literal[False], Tag("off")],
    Discriminator(lambda v: "off" if v is False else "policy"),
    BeforeValidator(_retry_setting),
]
"""A retry policy, or ``false`` for none."""
