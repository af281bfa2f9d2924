"""Results: what a run measured, as mergeable histograms per endpoint, outcome and second.

The unit of storage is a *window*: one endpoint, one outcome class, one whole Unix second.
Each window holds a latency ``Histogram``; windows from many processes or workers merge by
adding counts, so percentiles of any slice (one endpoint, the whole run, many workers) are
computed from merged histograms, never averaged::

    results = ResultSet(run_id="r1")
    results.record("list items", "ok", 200, start_time=1764170000.2, response_time_ms=12.5)
    results.merge(other_worker_results)
    results.percentile(0.95)                # whole run, all endpoints, outcome "ok"

Client retries (a scenario's ``retry``) are counted apart, so that the windows keep meaning
*first attempts*, what a client without retries would have seen (error rates, gates and
percentiles keep their meaning), and a retried success never counts as a first-try success:

- ``retry_windows`` / ``retry_statuses``: the retry attempts (2nd, 3rd, ...), keyed like
  ``windows`` / ``statuses`` by the second each attempt started. First attempts plus retry
  attempts are every request the server saw.
- ``retried``: one entry per request that got a retryable answer, keyed by (endpoint, result,
  second of its first attempt), with the end-to-end latency (every attempt and backoff) in a
  histogram. ``result`` is one of ``RETRY_RESULTS``.

::

    results.record_retry("list items", "ok", 200, start_time=1764170000.4, response_time_ms=11.0)
    results.record_retried("list items", "ok_after_retry", start_time=1764170000.2, elapsed_ms=180.0)
    results.retry_summary()                 # per endpoint: retried, retry attempts, ok after retry, ...

Histogram precision: latencies are recorded in whole microseconds; values below 1 ms are
exact, larger values are rounded to 3 significant digits (relative error at most 0.5 %).
Sum, min and max are kept exactly. Percentiles use the nearest-rank definition.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["OUTCOMES", "RETRY_RESULTS", "Histogram", "ResultSet", "classify", "PRECISION"]

OUTCOMES = ("ok", "throttled", "auth", "server", "client", "transport")
"""Outcome classes: expected status, 429, 401/403, 5xx, any other status, no response."""

RETRY_RESULTS = ("ok_after_retry", "gave_up", "failed_after_retry", "stopped")
"""How a request that got a retryable answer ended: ok on a retry; still retryable after
``max_attempts``; a retry answered a status that is neither ok nor retried; the run ended
before its next attempt."""

PRECISION = "microseconds; exact below 1 ms, 3 significant digits above (relative error <= 0.5%)"
SCHEMA = "harness.results/1"


def classify(status: int, expected: Iterable[int]) -> str:
    """The outcome class of a response status (0 means no response: a transport error)."""
    if status in expected:
        return "ok"
    if status == 0:
        return "transport"
    if status == 429:
        return "throttled"
    if status in (401, 403):
        return "auth"
    if status >= 500:
        return "server"
    return "client"


def bucket(us: int) -> int:
    """The histogram bucket of a latency in microseconds."""
    if us < 1000:
        return us if us > 0 else 0
    scale = 10 ** (len(str(us)) - 3)
    return (us + scale // 2) // scale * scale


class Histogram:
    """A sparse latency histogram in microseconds with exact sum/min/max; merges exactly."""

    __slots__ = ("counts", "count", "sum", "min", "max")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.sum = 0
        self.min = 0
        self.max = 0

    def record(self, us: int, n: int = 1) -> None:
        key = bucket(us)
        self.counts[key] = self.counts.get(key, 0) + n
        if self.count == 0 or us < self.min:
            self.min = us
        if us > self.max:
            self.max = us
        self.count += n
        self.sum += us * n

    def merge(self, other: Histogram) -> Histogram:
        if other.count == 0:
            return self
        counts = self.counts
        for key, n in other.counts.items():
            counts[key] = counts.get(key, 0) + n
        self.min = other.min if self.count == 0 else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.count += other.count
        self.sum += other.sum
        return self

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile in microseconds (``q`` in 0..1); None when empty."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count - 1e-9))  # 0.07 * 100 is 7.000000000000001
        if rank >= self.count:
            return float(self.max)
        if rank == 1:
            return float(self.min)
        seen = 0
        for key in sorted(self.counts):
            seen += self.counts[key]
            if seen >= rank:
                # keep the exact extremes: bucketing must not push a percentile past them
                return float(min(max(key, self.min), self.max))
        return float(self.max)

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None

    def to_dict(self) -> dict[str, Any]:
        return {"h": sorted(self.counts.items()), "n": self.count, "sum": self.sum, "min": self.min, "max": self.max}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        hist = cls()
        hist.counts = {int(k): int(v) for k, v in data["h"]}
        hist.count, hist.sum, hist.min, hist.max = int(data["n"]), int(data["sum"]), int(data["min"]), int(data["max"])
        return hist

    @classmethod
    def merged(cls, hists: Iterable[Histogram]) -> Histogram:
        out = cls()
        for h in hists:
            out.merge(h)
        return out


@dataclass
class PacerWindow:
    """One second of the open model: planned, released and dropped iterations."""

    target: float = 0.0
    released: int = 0
    dropped: int = 0

    def merge(self, other: PacerWindow) -> None:
        self.target += other.target
        self.released += other.released
        self.dropped += other.dropped


@dataclass
class ResultSet:
    """Everything one run measured; mergeable across processes and workers."""

    run_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    scenario: dict[str, Any] = field(default_factory=dict)
    plan: list[dict[str, Any]] = field(default_factory=list)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (endpoint, outcome, second) -> Histogram
    windows: dict[tuple[str, str, int], Histogram] = field(default_factory=dict)
    # (endpoint, status, second) -> count
    statuses: Counter = field(default_factory=Counter)
    # second -> PacerWindow
    pacer: dict[int, PacerWindow] = field(default_factory=lambda: defaultdict(PacerWindow))
    errors: Counter = field(default_factory=Counter)
    # recovery time per burst and fault, and a summary (harness.faults.recovery.annotate)
    recovery: dict[str, Any] | None = None
    # retries (see the module docstring): attempts 2, 3, ... and how retried requests ended
    retry_windows: dict[tuple[str, str, int], Histogram] = field(default_factory=dict)
    retry_statuses: Counter = field(default_factory=Counter)
    # (endpoint, result, second of the first attempt) -> end-to-end latency Histogram
    retried: dict[tuple[str, str, int], Histogram] = field(default_factory=dict)

    # ---- recording ---------------------------------------------------------------------------

    def record(self, endpoint: str, outcome: str, status: int, *, start_time: float, response_time_ms: float) -> None:
        """Record one finished request (called from the load layer's request event)."""
        second = int(start_time)
        key = (endpoint, outcome, second)
        hist = self.windows.get(key)
        if hist is None:
            hist = self.windows[key] = Histogram()
        hist.record(int(response_time_ms * 1000 + 0.5))
        self.statuses[(endpoint, status, second)] += 1

    def record_retry(self, endpoint: str, outcome: str, status: int, *, start_time: float, response_time_ms: float) -> None:
        """Record one retry attempt (the 2nd, 3rd, ...): apart from the first attempts."""
        second = int(start_time)
        _add(self.retry_windows, (endpoint, outcome, second), response_time_ms)
        self.retry_statuses[(endpoint, status, second)] += 1

    def record_retried(self, endpoint: str, result: str, *, start_time: float, elapsed_ms: float) -> None:
        """Record how a request that got a retryable answer ended (``result``: one of
        ``RETRY_RESULTS``), with its end-to-end latency from its first attempt's start."""
        _add(self.retried, (endpoint, result, int(start_time)), elapsed_ms)

    def record_error(self, endpoint: str, message: str) -> None:
        """Count a transport error message (never holds a token: the load layer strips them)."""
        self.errors[(endpoint, message[:200])] += 1

    def record_pacer(self, second: int, *, target: float = 0.0, released: int = 0, dropped: int = 0) -> None:
        window = self.pacer[second]
        window.target += target
        window.released += released
        window.dropped += dropped

    def merge(self, other: ResultSet) -> ResultSet:
        """Add ``other``'s measurements to these (exact: histogram counts add up)."""
        for mine_all, theirs in ((self.windows, other.windows), (self.retry_windows, other.retry_windows), (self.retried, other.retried)):
            for key, hist in theirs.items():
                mine = mine_all.get(key)
                if mine is None:
                    mine_all[key] = Histogram().merge(hist)
                else:
                    mine.merge(hist)
        self.statuses.update(other.statuses)
        self.retry_statuses.update(other.retry_statuses)
        self.errors.update(other.errors)
        for second, window in other.pacer.items():
            self.pacer[second].merge(window)
        for name, info in other.endpoints.items():
            self.endpoints.setdefault(name, info)
        return self

    # ---- queries -----------------------------------------------------------------------------

    def select(self, *, endpoint: str | None = None, outcomes: Iterable[str] | None = ("ok",), seconds: range | None = None) -> Histogram:
        """One merged histogram for a slice of the run (None means all)."""
        wanted = set(outcomes) if outcomes is not None else None
        return Histogram.merged(
            h
            for (ep, oc, sec), h in self.windows.items()
            if (endpoint is None or ep == endpoint) and (wanted is None or oc in wanted) and (seconds is None or sec in seconds)
        )

    def percentile(self, q: float, **slice_: Any) -> float | None:
        """Percentile in milliseconds over a slice (see ``select``); None when empty."""
        value = self.select(**slice_).percentile(q)
        return None if value is None else value / 1000.0

    def outcome_counts(self, endpoint: str | None = None) -> Counter:
        counts: Counter = Counter({o: 0 for o in OUTCOMES})
        for (ep, oc, _), h in self.windows.items():
            if endpoint is None or ep == endpoint:
                counts[oc] += h.count
        return counts

    def status_counts(self, endpoint: str | None = None) -> Counter:
        counts: Counter = Counter()
        for (ep, status, _), n in self.statuses.items():
            if endpoint is None or ep == endpoint:
                counts[status] += n
        return counts

    @property
    def total(self) -> int:
        return sum(h.count for h in self.windows.values())

    def span(self) -> tuple[int, int] | None:
        """First and last second with any request or pacer activity (inclusive)."""
        seconds = [k[2] for k in self.windows] + [s for s, w in self.pacer.items() if w.released or w.dropped or w.target]
        return (min(seconds), max(seconds)) if seconds else None

    def duration(self) -> float:
        meta_duration = self.meta.get("duration")
        if meta_duration:
            return float(meta_duration)
        span = self.span()
        return float(span[1] - span[0] + 1) if span else 0.0

    def endpoint_names(self) -> list[str]:
        names = list(self.endpoints)
        for ep, _, _ in self.windows:
            if ep not in names:
                names.append(ep)
        return names

    def summary(self) -> list[dict[str, Any]]:
        """One row per endpoint plus ``Total``: count, rps, p50/p95/p99/max (ms, ok requests), outcomes."""
        duration = self.duration() or 1.0
        names: list[str | None] = [*self.endpoint_names(), None]  # None: the Total row
        # one pass over the windows: outcome counts and merged ok histograms per endpoint
        counts = {name: dict.fromkeys(OUTCOMES, 0) for name in names}
        ok = {name: Histogram() for name in names}
        for (ep, oc, _), h in self.windows.items():
            counts[ep][oc] += h.count
            counts[None][oc] += h.count
            if oc == "ok":
                ok[ep].merge(h)
        ok[None] = Histogram.merged(ok.values())
        rows = []
        for name in names:
            hist, total = ok[name], sum(counts[name].values())
            rows.append(
                {
                    "endpoint": name or "Total",
                    "requests": total,
                    "rps": total / duration,
                    "p50_ms": _ms(hist.percentile(0.50)),
                    "p95_ms": _ms(hist.percentile(0.95)),
                    "p99_ms": _ms(hist.percentile(0.99)),
                    "max_ms": _ms(float(hist.max) if hist.count else None),
                    **counts[name],
                }
            )
        return rows

    @property
    def has_retries(self) -> bool:
        """True when any request got a retryable answer (retry attempts or retried requests)."""
        return bool(self.retry_windows or self.retried)

    def retry_summary(self) -> list[dict[str, Any]]:
        """Per endpoint with retries, plus ``Total``: ``retried`` (requests that got a retryable
        answer), ``retry_attempts``, ``attempts`` (first attempts + retry attempts: what the
        server saw), each of ``RETRY_RESULTS``, the retry attempts by outcome class
        (``retry_outcomes``), and the end-to-end p50/p95/max (ms) of requests ok after a retry.
        Empty when the run had no retries."""
        if not self.has_retries:
            return []
        names = [n for n in self.endpoint_names() if any(k[0] == n for k in self.retried) or any(k[0] == n for k in self.retry_windows)]
        names += sorted({k[0] for k in (*self.retried, *self.retry_windows)} - set(names))
        first = self.outcome_counts  # first attempts per endpoint
        rows = []
        for name in [*names, None]:
            results = Counter({r: 0 for r in RETRY_RESULTS})
            ok_after = Histogram()
            for (ep, result, _), h in self.retried.items():
                if name is None or ep == name:
                    results[result] += h.count
                    if result == "ok_after_retry":
                        ok_after.merge(h)
            outcomes = Counter({o: 0 for o in OUTCOMES})
            for (ep, oc, _), h in self.retry_windows.items():
                if name is None or ep == name:
                    outcomes[oc] += h.count
            retry_attempts = sum(outcomes.values())
            first_attempts = sum(first(name).values())
            rows.append(
                {
                    "endpoint": name or "Total",
                    "retried": sum(results.values()),
                    "retry_attempts": retry_attempts,
                    "attempts": first_attempts + retry_attempts,
                    **{r: results[r] for r in RETRY_RESULTS},
                    "retry_outcomes": dict(outcomes),
                    "ok_after_retry_p50_ms": _ms(ok_after.percentile(0.50)),
                    "ok_after_retry_p95_ms": _ms(ok_after.percentile(0.95)),
                    "ok_after_retry_max_ms": _ms(float(ok_after.max) if ok_after.count else None),
                }
            )
        return rows

    def pacer_totals(self) -> PacerWindow:
        total = PacerWindow()
        for window in self.pacer.values():
            total.merge(window)
        return total

    # ---- files -------------------------------------------------------------------------------

    def to_dict(self, *, summary: bool = True) -> dict[str, Any]:
        """The results file's content. ``summary=False`` leaves out the summary block, which
        ``from_dict`` does not read (a worker's reports to the master)."""
        data: dict[str, Any] = {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "meta": self.meta,
            "histogram": {"unit": "us", "precision": PRECISION, "percentile": "nearest-rank"},
            "scenario": self.scenario,
            "plan": self.plan,
            "endpoints": self.endpoints,
        }
        if self.recovery is not None:
            data["recovery"] = self.recovery
        if summary:
            pacer = self.pacer_totals()
            data["summary"] = {
                "endpoints": self.summary(),
                "target": round(pacer.target, 3),
                "released": pacer.released,
                "dropped": pacer.dropped,
                "retries": self.retry_summary(),
            }
        data["windows"] = _window_rows(self.windows)
        data["statuses"] = _status_rows(self.statuses)
        data["pacer"] = [{"t": sec, "target": round(w.target, 6), "released": w.released, "dropped": w.dropped} for sec, w in sorted(self.pacer.items())]
        data["errors"] = [{"endpoint": ep, "error": msg, "count": n} for (ep, msg), n in self.errors.items()]
        data["retry_windows"] = _window_rows(self.retry_windows)
        data["retry_statuses"] = _status_rows(self.retry_statuses)
        data["retried"] = _window_rows(self.retried)  # "outcome" holds the result (RETRY_RESULTS)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResultSet:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a harness results file (schema {data.get('schema')!r}, expected {SCHEMA!r})")
        results = cls(
            run_id=data.get("run_id", ""),
            meta=data.get("meta", {}),
            scenario=data.get("scenario", {}),
            plan=data.get("plan", []),
            endpoints=data.get("endpoints", {}),
            recovery=data.get("recovery"),
        )
        # a file written before retries existed has none of the retry keys: no retries
        for name in ("windows", "retry_windows", "retried"):
            windows = getattr(results, name)
            for row in data.get(name, []):
                if isinstance(row, _Window):  # already built while parsing (see ``load``)
                    windows[row.key] = row.hist
                else:
                    windows[(row["endpoint"], row["outcome"], int(row["t"]))] = Histogram.from_dict(row)
        for name in ("statuses", "retry_statuses"):
            counter = getattr(results, name)
            for row in data.get(name, []):
                counter[(row["endpoint"], int(row["status"]), int(row["t"]))] += int(row["count"])
        for row in data.get("pacer", []):
            results.record_pacer(int(row["t"]), target=row["target"], released=row["released"], dropped=row["dropped"])
        for row in data.get("errors", []):
            results.errors[(row["endpoint"], row["error"])] += int(row["count"])
        return results

    def save(self, path: str | Path) -> Path:
        """Write JSON atomically (a crash mid-write never leaves half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                # dumps, not dump: json.dump streams through the pure-Python encoder (10x slower)
                fh.write(json.dumps(self.to_dict(), separators=(",", ":")))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def loads(cls, text: str | bytes) -> ResultSet:
        """Parse a results file's content (histograms built while parsing, as ``load`` does)."""
        return cls.from_dict(json.loads(text, object_hook=_window_hook))

    @classmethod
    def load(cls, path: str | Path) -> ResultSet:
        """Read a results file. Windows become histograms while the JSON is parsed, so a
        large file (an hour at 1,000 rps) never holds every window twice in memory."""
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh, object_hook=_window_hook))


class _Window:
    __slots__ = ("key", "hist")

    def __init__(self, key: tuple[str, str, int], hist: Histogram) -> None:
        self.key = key
        self.hist = hist


def _window_hook(obj: dict[str, Any]) -> Any:
    if "h" in obj and "outcome" in obj and "endpoint" in obj:
        return _Window((obj["endpoint"], obj["outcome"], int(obj["t"])), Histogram.from_dict(obj))
    return obj


def _add(windows: dict[tuple[str, str, int], Histogram], key: tuple[str, str, int], ms: float) -> None:
    """Record ``ms`` in the histogram of ``key`` (made when missing). ``record`` inlines the
    same for first attempts: it runs once per request."""
    hist = windows.get(key)
    if hist is None:
        hist = windows[key] = Histogram()
    hist.record(int(ms * 1000 + 0.5))


def _status_rows(statuses: Counter) -> list[dict[str, Any]]:
    return [
        {"t": sec, "endpoint": ep, "status": status, "count": n}
        for (ep, status, sec), n in sorted(statuses.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1]))
    ]


def _window_rows(windows: dict[tuple[str, str, int], Histogram]) -> list[dict[str, Any]]:
    return [
        {"t": sec, "endpoint": ep, "outcome": oc, **h.to_dict()} for (ep, oc, sec), h in sorted(windows.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1]))
    ]


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1000.0
