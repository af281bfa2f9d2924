"""What every settings model shares: the strict base model and the number types of scenario files.

A leaf module, like ``durations``: the scenario and each feature's settings (``faults/config.py``,
``fanout/config.py``, ``local_settings.py``, ``load/retry.py``) build on it::

    class Settings(Model):
        rate: Rate = 10.0          # a number >= 0, never ``true``
        share: Share = 0.5         # 0.5 or "50%"
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = ["Model", "not_bool", "Float", "Int", "Rate", "Share", "Percent"]


class Model(BaseModel):
    """A settings table: unknown keys refused, frozen, fields by name or alias."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def not_bool(value: Any) -> Any:
    # pydantic's lax mode reads ``rate = true`` as 1.0; a scenario never means that
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


Float = Annotated[float, BeforeValidator(not_bool)]
Int = Annotated[int, BeforeValidator(not_bool)]
Rate = Annotated[float, BeforeValidator(not_bool), Field(ge=0)]


def _share(value: Any) -> Any:
    """A share from ``0.3`` or ``"30%"``."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            percent = float(value.strip()[:-1])
        except ValueError:
            raise ValueError(f'{value!r} is not a share; write 0.3 or "30%"') from None
        if not 0 <= percent <= 100:  # said in the unit it was written in, not as a fraction
            raise ValueError("must be between 0% and 100%")
        return percent / 100.0
    return not_bool(value)


Share = Annotated[float, BeforeValidator(_share), Field(ge=0, le=1)]


def _percent(value: Any) -> float:
    """A share written with %: ``"50%"``; 0 may go without (a bare 50 could mean 50 % or 5000 %)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            number = float(value.strip()[:-1])
        except ValueError:
            number = math.nan
        if math.isfinite(number) and number >= 0:
            return number
    elif not isinstance(value, bool) and isinstance(value, (int, float)) and value == 0:
        return 0.0
    raise ValueError(f'{value!r} is not a percentage; write it with %, like "50%"')


Percent = Annotated[float, BeforeValidator(_percent)]
