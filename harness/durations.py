"""Durations in scenario files: ``90``, ``"90s"``, ``"1m30s"``, ``"250ms"`` or ``"2h"``, in seconds.

A leaf module (it imports nothing of harness), so that every settings model can use it::

    parse_duration("1m30s")        # 90.0
    timeout: PositiveDuration = 30.0   # a pydantic field that reads "30s"
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

__all__ = ["parse_duration", "Duration", "PositiveDuration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"1m30s"``, ``"250ms"`` or ``"2h"``.

    >>> parse_duration("1m30s")
    90.0
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '30s', '5m', '250ms'")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a duration; write a finite number of seconds or a string like '30s'")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        pos, total = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if text and pos == len(text):
            return total
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise ValueError(f"{value!r} is not a duration; write seconds or a string like '30s', '5m', '250ms'")


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
