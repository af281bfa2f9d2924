"""The run second by second: requests by outcome, client percentiles, and the pacer's view.

timeline = Timeline.of(results)
timeline.frame.loc[timeline.frame["throttled"] > 0, "elapsed"].min()   # first 429, s since start
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.results import OUTCOMES, ResultSet

from .quantiles import FlatHistograms

__all__ = ["Timeline", "Mark", "QUANTILES", "run_origin"]

QUANTILES = (0.50, 0.95, 0.99)
MAX_SPAN = 14 * 24 * 3600  # seconds: longer means a broken timestamp, not a long run
PERCENTILE_COLUMNS = ("p50_ms", "p95_ms", "p99_ms")


def run_origin(results: ResultSet) -> float:
    """The Unix time the run's plan started (``meta.started_at``), else the best estimate.

    Without ``started_at``, the first second the pacer planned anything is used, refined by
    how much of that second was planned (a plan starting at x.7 plans 30 % of its first second).
    """
    started = results.meta.get("started_at")
    if isinstance(started, (int, float)) and started > 0:
        return float(started)
    planned = sorted(s for s, w in results.pacer.items() if w.target > 0)
    if planned:
        first = planned[0]
        rate = results.plan[0].get("rate_from", 0.0) if results.plan else 0.0
        share = results.pacer[first].target / rate if rate > 0 else 1.0
        return first + 1.0 - min(max(share, 0.0), 1.0)
    span = results.span()
    return float(span[0]) if span else 0.0


@dataclass(frozen=True)
class Mark:
    """A burst or a fault on the run's time axis (seconds since ``origin``): what the charts shade."""

    name: str
    kind: str  # "burst" or the fault's kind
    source: str  # "plan" (a burst or spike) or "fault" (its actual window)
    start: float
    end: float


def _marks(results: ResultSet, origin: float) -> tuple[tuple[Mark, ...], float | None]:
    from harness.faults.recovery import events

    marks = tuple(Mark(e.name, e.kind, e.source, e.start - origin, e.end - origin) for e in events(results))
    abort = results.meta.get("abort") or {}
    at = abort.get("at")
    return marks, (float(at) - origin if isinstance(at, (int, float)) else None)


@dataclass(frozen=True)
class Timeline:
    """One row per Unix second from the first to the last second with any activity.

    ``frame`` columns: ``elapsed`` (seconds since ``origin``), one count column per outcome
    class, ``requests``, ``p50_ms``/``p95_ms``/``p99_ms`` (client latency of ok requests,
    merged across endpoints; NaN when none), ``target``, ``released``, ``dropped``.
    """

    frame: pd.DataFrame
    origin: float
    marks: tuple[Mark, ...] = ()  # bursts and faults, shaded on the charts
    abort: float | None = None  # when an abort_on rule stopped the run (s since origin)

    @classmethod
    def of(cls, results: ResultSet, *, flat_ok: FlatHistograms | None = None) -> Timeline:
        origin = run_origin(results)
        marks, abort = _marks(results, origin)
        span = results.span()
        if span is None:
            columns = ["elapsed", *OUTCOMES, "requests", *PERCENTILE_COLUMNS, "target", "released", "dropped"]
            return cls(frame=pd.DataFrame(columns=columns, dtype=float), origin=origin, marks=marks, abort=abort)
        first, last = span
        n = last - first + 1
        if n > MAX_SPAN:
            raise ValueError(
                f"the results span {n:,} seconds ({first} .. {last}); a window or pacer second has a wrong "
                "timestamp (a worker's clock?), so no timeline can be drawn"
            )
        index = pd.RangeIndex(first, last + 1, name="second")
        data: dict[str, np.ndarray] = {"elapsed": np.arange(first, last + 1, dtype=float) - origin}

        counts = np.zeros((len(OUTCOMES), n), dtype=np.int64)
        slot = {o: i for i, o in enumerate(OUTCOMES)}
        for (_, outcome, second), hist in results.windows.items():
            counts[slot.get(outcome, slot["client"]), second - first] += hist.count
        for i, outcome in enumerate(OUTCOMES):
            data[outcome] = counts[i]
        data["requests"] = counts.sum(axis=0)

        flat = flat_ok if flat_ok is not None else FlatHistograms.of(results, outcomes=("ok",))
        pct = flat.percentiles(flat.seconds - first, n, QUANTILES) / 1000.0
        for j, column in enumerate(PERCENTILE_COLUMNS):
            data[column] = pct[:, j]

        pacer = np.zeros((3, n))
        for second, window in results.pacer.items():
            if first <= second <= last:
                pacer[:, second - first] += (window.target, window.released, window.dropped)
        data["target"], data["released"], data["dropped"] = pacer[0], pacer[1].astype(np.int64), pacer[2].astype(np.int64)
        return cls(frame=pd.DataFrame(data, index=index), origin=origin, marks=marks, abort=abort)

    @property
    def empty(self) -> bool:
        return self.frame.empty

    @property
    def has_pacer(self) -> bool:
        return bool(not self.frame.empty and (self.frame["target"].sum() > 0 or self.frame["released"].sum() > 0 or self.frame["dropped"].sum() > 0))

    def first(self, column: str) -> tuple[float, int] | None:
        """(the first Unix second where ``column`` > 0, the column's total over the run), or None."""
        if self.frame.empty:
            return None
        hits = self.frame.index[self.frame[column].to_numpy() > 0]
        if len(hits) == 0:
            return None
        return float(hits[0]), int(self.frame[column].sum())

    def elapsed(self, unix: float) -> float:
        return unix - self.origin
