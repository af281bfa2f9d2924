"""A run's progress while it runs: measured cheaply in the load process, shown by the CLI.

The load process (Locust's, or a worker's) keeps a ``ProgressTracker`` and writes a small JSON
snapshot once a second (``write_progress``); the ``harness`` process reads it (``read_progress``)
and shows it with ``LiveProgress``: a live line with a bar on a terminal, a plain line every
10 s otherwise (CI logs)::

    tracker = ProgressTracker(plan=plan, planned_duration=60, profile="steady")
    write_progress(run_dir / "progress.json", tracker.snapshot(results, started_at=t0, now=time.time()))

    with LiveProgress(console=Console(stderr=True), total=60) as progress:
        progress.update(read_progress(run_dir / "progress.json"), elapsed=12.0)

A snapshot is plain data: ``elapsed``, ``total`` (seconds), ``phase`` (``preparing``,
``running``, ``draining``, ``done``), ``planned_rps``/``achieved_rps`` (over the last few
whole seconds), ``requests``, ``p95_ms`` (ok requests so far), ``errors`` (count by outcome
class), ``planned``/``dropped`` (iterations), ``planned_total`` and ``status``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.results import OUTCOMES, Histogram, ResultSet

__all__ = ["ProgressTracker", "LiveProgress", "write_progress", "read_progress", "progress_line", "rates_text", "combine_snapshots", "PROGRESS_FILE"]

PROGRESS_FILE = "progress.json"
RATE_WINDOW = 5  # seconds the planned and achieved rates are averaged over
SETTLE = 5  # seconds after which a second's windows are folded into the running totals


class ProgressTracker:
    """Progress of one run from its ``ResultSet``, at a cost that does not grow with the run.

    Seconds older than ``SETTLE`` are folded once into running totals (a response arriving
    later than that is left out of the progress, never out of the results); only the last
    few seconds are looked at again. ``lag`` is how many seconds the results trail the clock
    (a master hears from its workers every 3 s).
    """

    def __init__(self, *, plan: Any = None, planned_duration: float, profile: str = "", planned_total: int | None = None, lag: int = 1) -> None:
        self.plan = plan
        self.planned_duration = float(planned_duration)
        self.profile = profile
        self.planned_total = planned_total if planned_total is not None else (plan.total if plan is not None and plan.segments else None)
        self.lag = max(1, int(lag))
        self._folded_until: int | None = None  # every second below this is in the totals
        self._ok = Histogram()
        self._counts = dict.fromkeys(OUTCOMES, 0)
        self._target = 0.0
        self._dropped = 0

    def _second(self, results: ResultSet, second: int, ok: Histogram, counts: dict[str, int]) -> tuple[float, int]:
        for endpoint in results.endpoint_names():
            for outcome in OUTCOMES:
                hist = results.windows.get((endpoint, outcome, second))
                if hist is not None:
                    counts[outcome] += hist.count
                    if outcome == "ok":
                        ok.merge(hist)
        window = results.pacer.get(second)
        return (window.target, window.dropped) if window is not None else (0.0, 0)

    def snapshot(
        self, results: ResultSet, *, started_at: float | None, now: float | None = None, status: str = "running", phase: str | None = None
    ) -> dict[str, Any]:
        """The progress at ``now`` as a JSON-ready dict (see the module)."""
        now = time.time() if now is None else now
        if started_at is None or now < started_at:
            return {"t": now, "elapsed": 0.0, "total": self.planned_duration, "phase": phase or "preparing", "status": status, "profile": self.profile}
        current = int(now)
        if self._folded_until is None:
            self._folded_until = int(started_at) - 1
        settled = current - max(SETTLE, self.lag + RATE_WINDOW)  # the rate window stays unfolded
        while self._folded_until < settled:
            target, dropped = self._second(results, self._folded_until, self._ok, self._counts)
            self._target += target
            self._dropped += dropped
            self._folded_until += 1
        ok, counts = Histogram().merge(self._ok), dict(self._counts)
        target, dropped = self._target, self._dropped
        recent: dict[int, int] = {}
        for second in range(self._folded_until, current + 1):
            before = sum(counts.values())
            t, d = self._second(results, second, ok, counts)
            target, dropped = target + t, dropped + d
            recent[second] = sum(counts.values()) - before
        elapsed = now - started_at
        last = current - self.lag  # the last whole second the results are complete for
        seconds = [s for s in range(last - RATE_WINDOW + 1, last + 1) if s >= int(started_at)]
        # the time those seconds cover while the plan ran: the run's first and last seconds are
        # partial (a start at x.4 plans and sends 60 % of its first second), never counted whole
        span = (min(seconds[-1] + 1, started_at + self.planned_duration) - max(seconds[0], started_at)) if seconds else 0.0
        achieved = sum(recent.get(s, 0) for s in seconds) / span if span > 0 else None
        p95 = ok.percentile(0.95)
        return {
            "t": now,
            "elapsed": elapsed,
            "total": self.planned_duration,
            "phase": phase or ("running" if elapsed < self.planned_duration else "draining"),
            "status": status,
            "profile": self.profile,
            "planned_rps": self._planned_rps(started_at, seconds, span),
            "achieved_rps": achieved,
            "requests": sum(counts.values()),
            "p95_ms": None if p95 is None else p95 / 1000.0,
            "errors": {o: n for o, n in counts.items() if o != "ok" and n},
            "planned": target,
            "dropped": dropped,
            "planned_total": self.planned_total,
        }

    def _planned_rps(self, started_at: float, seconds: list[int], span: float) -> float | None:
        if self.plan is None or not self.plan.segments or span <= 0:
            return None
        start = max(seconds[0] - started_at, 0.0)
        return (self.plan.count_until(start + span) - self.plan.count_until(start)) / span


def write_progress(path: str | os.PathLike[str], snapshot: dict[str, Any]) -> None:
    """Write ``snapshot`` atomically (a reader never sees half a file)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".progress-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(snapshot, separators=(",", ":")))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def combine_snapshots(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """One snapshot of a run from its shards' (a fan-out run's workers each write one): rates,
    requests, errors, planned and dropped add up; the p95 is the slowest shard's (an upper
    bound of the whole run's); elapsed and total are the longest."""
    started = [s for s in snapshots if s.get("phase") not in (None, "preparing")]
    if not started:
        return {"phase": "preparing"} if snapshots else {}

    def total(key: str) -> float | None:
        values = [s[key] for s in started if s.get(key) is not None]
        return sum(values) if values else None

    errors: dict[str, int] = {}
    for snap in started:
        for name, count in (snap.get("errors") or {}).items():
            errors[name] = errors.get(name, 0) + int(count)
    p95 = [s["p95_ms"] for s in started if s.get("p95_ms") is not None]
    return {
        "elapsed": max(float(s.get("elapsed") or 0.0) for s in started),
        "total": max(float(s.get("total") or 0.0) for s in started),
        "phase": "running" if any(s.get("phase") == "running" for s in started) else started[0].get("phase"),
        "profile": started[0].get("profile", ""),
        "planned_rps": total("planned_rps"),
        "achieved_rps": total("achieved_rps"),
        "requests": int(total("requests") or 0),
        "p95_ms": max(p95) if p95 else None,
        "p95_bound": len(p95) > 1,  # the slowest shard's: at least the whole run's p95, not it
        "errors": errors,
        "planned": total("planned") or 0.0,
        "dropped": int(total("dropped") or 0),
    }


def read_progress(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The last snapshot, or None when there is none (yet)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ---- showing it -----------------------------------------------------------------------------------

_ERROR_NAMES = {"throttled": "429", "auth": "401/403", "server": "5xx", "client": "other", "transport": "no answer"}


def _clock(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _rate(value: Any) -> str:
    return "–" if value is None else f"{value:,.0f}" if value >= 10 else f"{value:,.1f}"


def progress_line(
    snapshot: dict[str, Any] | None, *, elapsed: float | None = None, total: float | None = None, preparing: str = "signing in the virtual users"
) -> str:
    """One plain line: ``0:20 / 1:00 (33%) · planned 300 rps, achieved 297 rps · p95 45.1 ms · errors: 429 12 · dropped 0``;
    before the load, ``0:02 preparing: <preparing>`` (a run without ``[auth]`` signs nobody in)."""
    snap = snapshot or {}
    total = snap.get("total") or total or 0.0
    elapsed = snap.get("elapsed") if snap.get("phase") not in (None, "preparing") else elapsed
    elapsed = float(elapsed or 0.0)
    phase = snap.get("phase", "preparing")
    if phase == "preparing":
        return f"{_clock(elapsed)} preparing: {preparing}"
    share = min(int(elapsed) / total, 1.0) if total else 0.0  # of the whole seconds shown, as the clock
    parts = [f"{_clock(elapsed)} / {_clock(total)} ({share:.0%})" + (" draining" if phase == "draining" else "")]
    rates, p95 = rates_text(snap)
    parts += [*rates, f"{snap.get('requests', 0):,} requests", p95]
    errors = snap.get("errors") or {}
    parts.append("errors: " + (", ".join(f"{_ERROR_NAMES.get(k, k)} {v:,}" for k, v in errors.items()) if errors else "none"))
    if snap.get("planned"):
        parts.append(f"dropped {snap.get('dropped', 0):,}")
    return " · ".join(parts)


def rates_text(snapshot: dict[str, Any]) -> tuple[list[str], str]:
    """The planned and achieved rates (none before they are known) and the p95, as
    ``progress_line`` shows them: ``(["planned 300 rps, achieved 297 rps"], "p95 45.1 ms")``."""
    rates = []
    if snapshot.get("planned_rps") is not None or snapshot.get("achieved_rps") is not None:
        rates.append(f"planned {_rate(snapshot.get('planned_rps'))} rps, achieved {_rate(snapshot.get('achieved_rps'))} rps")
    p95 = snapshot.get("p95_ms")
    # several shards' p95s give no exact p95 of the run (percentiles are merged from histograms,
    # never combined): the slowest is said as the bound it is
    return rates, "p95 –" if p95 is None else f"p95 {'≤ ' if snapshot.get('p95_bound') else ''}{p95:,.1f} ms"


class LiveProgress:
    """A run's progress on ``console``: a live bar and line on a terminal, refreshed as
    snapshots come; otherwise a plain line every ``interval`` seconds (and none when nothing
    changed). ``update`` takes a snapshot (or None, with ``elapsed``, before the first one)."""

    def __init__(self, *, console: Any, total: float, interval: float = 10.0, label: str = "running", preparing: str = "signing in the virtual users") -> None:
        self.console = console
        self.preparing = preparing
        self.total = float(total)
        self.interval = interval
        self.label = label
        self.live: Any = None
        self._last_plain = -math.inf
        self._last_text = ""
        self._snapshot: dict[str, Any] | None = None
        self._elapsed = 0.0

    def __enter__(self) -> LiveProgress:
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
            self.live = None
        if self._snapshot is not None:  # the last state stays on screen, once
            text = progress_line(self._snapshot, elapsed=self._elapsed, total=self.total, preparing=self.preparing)
            if text != self._last_text:
                self.console.print(text, highlight=False, soft_wrap=True)

    def update(self, snapshot: dict[str, Any] | None = None, *, elapsed: float | None = None) -> None:
        if snapshot is not None:
            self._snapshot = snapshot
        if elapsed is not None:
            self._elapsed = elapsed
        if self.live is not None:
            self.live.update(self._render())
            return
        now = time.monotonic()
        if now - self._last_plain >= self.interval:
            text = progress_line(self._snapshot, elapsed=self._elapsed, total=self.total, preparing=self.preparing)
            if text != self._last_text:
                self.console.print(text, highlight=False, soft_wrap=True)
                self._last_text = text
            self._last_plain = now

    def poll(self, path: str | os.PathLike[str], *, elapsed: float) -> None:
        """``update`` from the snapshot file at ``path`` (the load process writes it)."""
        self.update(read_progress(path), elapsed=elapsed)

    def _render(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        snap = self._snapshot or {}
        total = snap.get("total") or self.total
        elapsed = snap.get("elapsed") if snap.get("phase") not in (None, "preparing") else self._elapsed
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=30)
        grid.add_column()
        bar = ProgressBar(total=max(total, 1e-9), completed=min(float(elapsed or 0.0), total), width=30)
        grid.add_row(bar, progress_line(self._snapshot, elapsed=self._elapsed, total=self.total, preparing=self.preparing))
        return grid
