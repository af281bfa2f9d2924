"""Recovery time: how long after each burst and each fault the client view came back to the
steady baseline before it, and how long throttling lasted. Pure functions over a ``ResultSet``::

    recovery = measure(results, Settings(tolerance="50%", error_tolerance="1%", hold=3, baseline=10))
    recovery["summary"]        # {"events": 4, "recovered": 4, "median_recovery_time": 2.0, ...}
    annotate(results)          # the same, stored as ``results.recovery`` (written to results.json)

**Events.** The plan's ``burst N`` and ``spike`` segments (kind ``burst``), and every entry of
``results.meta["faults"]`` that actually started (its recorded ``started_at``/``ended_at``, not
the planned ones; a fault still on when the run ended ends with the run).

**Baseline.** The whole seconds just before the event (``baseline`` seconds, default 10), with
no other event in them; for a burst only its preceding idle segment. Its p95 comes from the
merged histogram of the ``ok`` requests of those seconds, its error rate is the share of
requests that were not ``ok`` and its throttle rate the share answered 429. Fewer than 3
seconds with traffic, fewer than ``min_requests`` requests or no ``ok`` request: *no
baseline*, said so, never guessed.

**Recovered.** The client view is judged from the whole second in which the event ended, in
*bins*: a bin is one second, or, when a second holds fewer than ``min_requests`` requests,
that second merged with the following ones until they do (so a nearly empty second never
counts as recovered by accident, and a low-rate run is still judged). A bin is good when its
p95 <= baseline p95 x (1 + tolerance) + 5 ms, its error rate <= baseline + error_tolerance
(percentage points) and its 429 share <= baseline's + error_tolerance. The event recovered at
the start of the first good bin from which good bins continue for ``hold`` seconds (default 3).
**Recovery time** = that instant - the event's end, at least 0, rounded to whole seconds:
windows are whole seconds, so it is exact only to a second (the true instant lies in the second
before it: the last bad second may have turned good midway), and a fraction would claim more.
The run ending before that: not recovered, with how many seconds were observed after the event.

**Peak.** The worst second (of at least ``min_requests`` requests) of the event's own window,
from its start up to its recovery, or when it did not recover (or has no baseline), up to the
next event's start or the run's end; never into the next event, whose seconds are its own.
``above_baseline`` says whether it is a peak at all: False when neither its p95 nor its error
rate rose above the baseline's (the event changed nothing the client saw).

**Throttled for.** From the first to the last whole second between the event's start and its
recovery (or the run's end) with more 429s than the baseline's share; 0 when none.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.faults.config import RecoverySettings
from harness.results import Histogram, ResultSet

__all__ = ["Settings", "measure", "annotate", "events", "FLOOR_MS", "MIN_BASELINE_SECONDS"]

FLOOR_MS = 5.0
"""Absolute slack added to the p95 limit, so a 2 ms baseline is not hopeless."""
MIN_BASELINE_SECONDS = 3
"""A baseline needs at least this many seconds with traffic."""
BURST_LABELS = ("burst", "spike")


Settings = RecoverySettings
"""How recovery is judged: the scenario's ``[recovery]`` table (``faults/config.py``);
percentages in percent (``tolerance="50%"`` is +50 %)."""


@dataclass(frozen=True)
class Event:
    name: str
    kind: str  # "burst" or a fault kind
    source: str  # "plan" or "fault"
    start: float  # epoch seconds
    end: float
    baseline_seconds: tuple[float, float]  # epoch range the baseline may come from


# ---- events -----------------------------------------------------------------------------------


def events(results: ResultSet) -> list[Event]:
    """The bursts of the plan and the faults that started, in order of start."""
    t0 = results.meta.get("started_at")
    if t0 is None:
        return []
    t0 = float(t0)
    run_end = float(results.meta.get("ended_at") or t0 + results.duration())
    found: list[Event] = []
    previous_start = 0.0  # a burst's baseline: the segment before it (its idle interval)
    plan = sorted(results.plan, key=lambda s: float(s.get("start", 0)))
    for seg in plan:
        label = str(seg.get("label", ""))
        start, end = t0 + float(seg["start"]), t0 + float(seg["end"])
        if label.startswith(BURST_LABELS) and start < run_end:
            found.append(Event(label, "burst", "plan", start, end, (t0 + previous_start, start)))
        previous_start = float(seg["start"])
    for i, fault in enumerate(results.meta.get("faults") or []):
        started = fault.get("started_at")
        if started is None:
            continue
        ended = fault.get("ended_at")
        ended = run_end if ended is None else float(ended)
        found.append(
            Event(
                str(fault.get("name") or f"fault {i + 1}"),
                str(fault.get("kind") or "fault"),
                "fault",
                float(started),
                max(ended, float(started)),
                (t0, float(started)),
            )
        )
    return sorted(found, key=lambda e: (e.start, e.name))


# ---- per-second view --------------------------------------------------------------------------


class _Seconds:
    """Every second's merged ok histogram, request count, non-ok and 429 counts (all endpoints)."""

    def __init__(self, results: ResultSet) -> None:
        self.ok: dict[int, Histogram] = {}
        self.total: dict[int, int] = {}
        self.errors: dict[int, int] = {}
        self.throttled: dict[int, int] = {}
        for (_, outcome, sec), hist in results.windows.items():
            self.total[sec] = self.total.get(sec, 0) + hist.count
            if outcome == "ok":
                self.ok.setdefault(sec, Histogram()).merge(hist)
            else:
                self.errors[sec] = self.errors.get(sec, 0) + hist.count
                if outcome == "throttled":
                    self.throttled[sec] = self.throttled.get(sec, 0) + hist.count

    def view(self, seconds: Iterable[int]) -> dict[str, Any]:
        seconds = list(seconds)
        hist = Histogram.merged(self.ok[s] for s in seconds if s in self.ok)
        total = sum(self.total.get(s, 0) for s in seconds)
        errors = sum(self.errors.get(s, 0) for s in seconds)
        throttled = sum(self.throttled.get(s, 0) for s in seconds)
        p95 = hist.percentile(0.95)
        return {
            "p95_ms": None if p95 is None else p95 / 1000.0,
            "error_rate": errors / total * 100.0 if total else None,
            "throttle_rate": throttled / total * 100.0 if total else None,
            "requests": total,
        }


# ---- measuring ----------------------------------------------------------------------------------


def measure(results: ResultSet, settings: Settings | None = None) -> dict[str, Any]:
    """Every event's baseline, peak, throttling and recovery, and a summary (see the module docstring)."""
    settings = settings or Settings.from_dict(results.scenario.get("recovery"))
    found = events(results)
    t0 = float(results.meta.get("started_at") or 0.0)
    span = results.span()
    last_second = span[1] if span else int(t0)
    if results.meta.get("ended_at"):
        last_second = min(last_second, math.ceil(float(results.meta["ended_at"])) - 1)
    seconds = _Seconds(results)
    run_end = float(results.meta.get("ended_at") or last_second + 1)
    rows = [_event(event, found, seconds, settings, t0, last_second, run_end) for event in found]
    return {"settings": settings.as_numbers(), "resolution_s": 1, "events": rows, "summary": summarize(rows)}


def annotate(results: ResultSet, settings: Settings | None = None) -> ResultSet:
    """Store ``measure(results)`` as ``results.recovery`` (written to results.json); the one
    place where finished results get it (a run, the Locust master, the fan-out's merge)."""
    results.recovery = measure(results, settings)
    return results


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Events, recovered, not recovered, without baseline; median and max recovery time
    (``max`` is ``"never"`` when an event did not recover; the median is over recovered ones)."""
    times = [r["recovery_time"] for r in rows if r["status"] == "recovered"]
    unrecovered = [r["name"] for r in rows if r["status"] == "not recovered"]
    no_baseline = [r["name"] for r in rows if r["status"] == "no baseline"]
    return {
        "events": len(rows),
        "recovered": len(times),
        "not_recovered": unrecovered,
        "no_baseline": no_baseline,
        "median_recovery_time": round(statistics.median(times), 3) if times else None,
        "max_recovery_time": "never" if unrecovered else (round(max(times), 3) if times else None),
    }


def _event(event: Event, found: list[Event], seconds: _Seconds, settings: Settings, t0: float, last_second: int, run_end: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": event.name,
        "kind": event.kind,
        "source": event.source,
        "start": round(event.start - t0, 3),
        "end": round(event.end - t0, 3),
        "started_at": event.start,
        "ended_at": event.end,
    }
    baseline = _baseline(event, found, seconds, settings, t0)
    row["baseline"] = baseline if "problem" not in baseline else None
    first, end_second = math.floor(event.start), math.floor(event.end)
    recovered_at: int | None = None
    observed = max(0.0, run_end - event.end)
    if row["baseline"] is not None:
        recovered_at = _recovered(row["baseline"], seconds, settings, end_second, last_second)
    stop = recovered_at if recovered_at is not None else last_second + 1
    following = [math.floor(e.start) for e in found if e.start > event.start]  # the next event's seconds are its own
    peak_stop = min(stop, *following) if following else stop
    row["peak"] = _peak(seconds, range(first, max(peak_stop, end_second + 1)), settings, row["baseline"])
    throttle_base = (row["baseline"] or {}).get("throttle_rate") or 0.0
    throttled = [s for s in range(first, stop) if seconds.throttled.get(s, 0) and seconds.throttled[s] / seconds.total[s] * 100.0 > throttle_base]
    row["throttled_for"] = float(throttled[-1] - throttled[0] + 1) if throttled else 0.0
    row["throttled"] = {"first": throttled[0] - t0, "last": throttled[-1] + 1 - t0} if throttled else None
    if row["baseline"] is None:
        row.update(status="no baseline", recovered=None, recovered_at=None, recovery_time=None, note=f"no baseline: {baseline['problem']}")
    elif recovered_at is None:
        row.update(
            status="not recovered",
            recovered=False,
            recovered_at=None,
            recovery_time=None,
            note=f"not recovered within the run ({observed:.0f} s observed after it)",
        )
    else:
        time_ = float(math.floor(max(0.0, recovered_at - event.end) + 0.5))  # whole seconds: exact only to a second
        row.update(status="recovered", recovered=True, recovered_at=round(recovered_at - t0, 3), recovery_time=round(time_, 3), note="")
    return row


def _baseline(event: Event, found: list[Event], seconds: _Seconds, settings: Settings, t0: float) -> dict[str, Any]:
    """The last ``settings.baseline`` whole seconds before the event inside its allowed range
    (a burst: its idle segment; a fault: the run so far), skipping seconds of other events."""
    lo, hi = event.baseline_seconds
    busy = [(e.start, e.end) for e in found if e is not event]
    candidates: list[int] = []
    s = min(math.floor(event.start), math.floor(hi)) - 1
    while s >= math.ceil(lo) and len(candidates) < settings.baseline:
        if not any(a < s + 1 and s < b for a, b in busy):
            candidates.append(s)
        s -= 1
    with_traffic = [s for s in candidates if seconds.total.get(s, 0)]
    view = seconds.view(with_traffic)
    if len(with_traffic) < MIN_BASELINE_SECONDS:
        return {"problem": f"{len(with_traffic)} s with traffic before it (at least {MIN_BASELINE_SECONDS} needed)"}
    if view["p95_ms"] is None:
        return {"problem": f"no ok request in the {len(with_traffic)} s before it"}
    if view["requests"] < settings.min_requests:
        return {"problem": f"only {view['requests']} requests in the {len(with_traffic)} s before it"}
    return {
        **{k: _round(v) for k, v in view.items()},
        "seconds": len(with_traffic),
        "from": round(min(with_traffic) - t0, 3),
        "to": round(max(with_traffic) + 1 - t0, 3),
    }


def _recovered(baseline: dict[str, Any], seconds: _Seconds, settings: Settings, first: int, last: int) -> int | None:
    """The first second from which good bins hold for ``settings.hold`` seconds; None if never."""
    p95_limit = baseline["p95_ms"] * (1 + settings.tolerance / 100.0) + FLOOR_MS
    error_limit = baseline["error_rate"] + settings.error_tolerance
    throttle_limit = baseline["throttle_rate"] + settings.error_tolerance
    hold = max(1, math.ceil(settings.hold))
    candidate: int | None = None
    s = first
    while s <= last:
        bin_end, count = s, seconds.total.get(s, 0)
        while count < settings.min_requests and bin_end < last:
            bin_end += 1
            count += seconds.total.get(bin_end, 0)
        if count < settings.min_requests:
            return None  # the run ended before a judgeable bin
        view = seconds.view(range(s, bin_end + 1))
        good = (
            (view["p95_ms"] is not None and view["p95_ms"] <= p95_limit)
            and view["error_rate"] <= error_limit + 1e-9
            and view["throttle_rate"] <= throttle_limit + 1e-9
        )
        if good:
            candidate = s if candidate is None else candidate
            if bin_end + 1 - candidate >= hold:
                return candidate
        else:
            candidate = None
        s = bin_end + 1
    return None


def _peak(seconds: _Seconds, span: range, settings: Settings, baseline: dict[str, Any] | None) -> dict[str, Any]:
    """The worst second (of at least ``min_requests`` requests) of ``span``, and whether it rose
    above the ``baseline`` (None without one): see the module docstring."""
    p95s, errors = [], []
    for s in span:
        if seconds.total.get(s, 0) >= settings.min_requests:
            view = seconds.view([s])
            if view["p95_ms"] is not None:
                p95s.append(view["p95_ms"])
            errors.append(view["error_rate"])
    peak = {"p95_ms": _round(max(p95s)) if p95s else None, "error_rate": _round(max(errors)) if errors else None}
    above = None
    if baseline is not None and (p95s or errors):
        above = bool((p95s and max(p95s) > baseline["p95_ms"]) or (errors and max(errors) > baseline["error_rate"]))
    return {**peak, "above_baseline": above}


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value
