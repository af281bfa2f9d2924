"""Numbers as text, the same way in the HTML report and the Markdown summary.

ms(12.345), ms(1234.5), count(1234567), pct(0.123), signed_pct(12.5)
# ('12.3 ms', '1,234 ms', '1,234,567', '0.12 %', '+12.5 %')
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

__all__ = ["elapsed", "clock", "ms", "count", "pct", "rate", "signed", "signed_pct", "value", "is_missing", "FILTERS"]

DASH = "–"


def is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _present(x: float | None) -> float | None:
    """``x`` as a float, or None when it is missing (None or NaN): ``if (x := _present(x)) is None``."""
    return None if x is None or is_missing(x) else float(x)


def elapsed(seconds: float | None) -> str:
    """Seconds since the start as ``m:ss`` (``h:mm:ss`` past an hour): ``75.2`` -> ``"1:15"``;
    negative values (before the plan started) keep their sign."""
    if (seconds := _present(seconds)) is None:
        return DASH
    s = int(round(abs(float(seconds))))
    sign = "-" if seconds < 0 and s else ""
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{sec:02d}" if h else f"{sign}{m}:{sec:02d}"


def clock(unix: float | None) -> str:
    """A Unix time as ``HH:MM:SS`` UTC."""
    if (unix := _present(unix)) is None:
        return DASH
    return datetime.fromtimestamp(float(unix), tz=UTC).strftime("%H:%M:%S")


def _ms_number(x: float) -> str:
    if abs(x) < 10:
        return f"{x:,.2f}"
    if abs(x) < 100:
        return f"{x:,.1f}"
    return f"{x:,.0f}"


def ms(x: float | None, unit: bool = True) -> str:
    if (x := _present(x)) is None:
        return DASH
    return _ms_number(float(x)) + (" ms" if unit else "")


def count(x: float | None) -> str:
    return DASH if (x := _present(x)) is None else f"{x:,.0f}"


def pct(x: float | None) -> str:
    if (x := _present(x)) is None:
        return DASH
    x = float(x)
    if x == 0:
        return "0 %"
    return f"{x:.3f} %" if abs(x) < 0.1 else f"{x:.2f} %" if abs(x) < 10 else f"{x:.1f} %"


def rate(x: float | None) -> str:
    if (x := _present(x)) is None:
        return DASH
    x = float(x)
    return f"{x:,.2f}" if abs(x) < 10 else f"{x:,.1f}" if abs(x) < 1000 else f"{x:,.0f}"


def signed(x: float | None, kind: str = "") -> str:
    """A change with its sign, formatted like the metric it belongs to."""
    if (x := _present(x)) is None:
        return DASH
    x = float(x)
    sign = "+" if x > 0 else "−" if x < 0 else "±"
    magnitude = abs(x)
    if kind == "ms":
        return sign + _ms_number(magnitude) + " ms"
    if kind == "pp":
        return sign + f"{magnitude:.2f} pp"
    if kind == "rps":
        return sign + rate(magnitude)
    return sign + f"{magnitude:,.0f}"


def signed_pct(x: float | None) -> str:
    if (x := _present(x)) is None:
        return DASH
    x = float(x)
    sign = "+" if x > 0 else "−" if x < 0 else "±"
    return f"{sign}{abs(x):.1f} %"


def value(x: float | None, unit: str = "") -> str:
    """A gate's actual or threshold value with its unit (``ms``, ``%``, ``rps``, ...)."""
    if (x := _present(x)) is None:
        return DASH
    if unit == "ms":
        return ms(x)
    if unit in ("%", "percent"):
        return pct(x)
    number = f"{float(x):,.3f}".rstrip("0").rstrip(".")
    return f"{number} {unit}".strip()


FILTERS = {"elapsed": elapsed, "clock": clock, "ms": ms, "count": count, "pct": pct, "rate": rate, "signed": signed, "signed_pct": signed_pct, "value": value}
