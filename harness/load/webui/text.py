"""How the web UI's tables write times and numbers."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["clock_text", "number", "percent", "utc"]


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def clock_text(ts: datetime | float) -> str:
    if not isinstance(ts, datetime):
        ts = utc(ts)
    return ts.astimezone(UTC).strftime("%H:%M:%S UTC")


def number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def percent(part: float, whole: float) -> str:
    return f"{part / whole * 100:.1f} %" if whole > 0 else "-"
