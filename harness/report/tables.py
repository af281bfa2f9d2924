"""Tables: the numbers a reader looks up, as pandas frames and plain rows for the templates.

endpoint_table(results)       # one row per endpoint plus "Total": rps, p50/p95/p99/max, outcomes
run_facts(results)            # [("Scenario", "burst"), ("Target", "https://..."), ...]
retry_rows(results)           # per endpoint with a retry policy or retries: how retried requests ended
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from harness.gates.verdict import RunStatus
from harness.results import OUTCOMES, RETRY_RESULTS, ResultSet
from harness.scenario import Retry

from .formatting import elapsed as fmt_elapsed
from .quantiles import FlatHistograms
from .server import ServerMetrics
from .timeline import QUANTILES

__all__ = [
    "endpoint_table",
    "endpoint_rows",
    "run_facts",
    "status_table",
    "error_rows",
    "server_rows",
    "reconcile",
    "recovery_of",
    "recovery_rows",
    "recovery_summary",
    "retry_rows",
]

ENDPOINT_COLUMNS = ["endpoint", "method", "path", "requests", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", *OUTCOMES, "error_rate"]


def endpoint_table(results: ResultSet, *, flat_ok: FlatHistograms | None = None) -> pd.DataFrame:
    """One row per endpoint and a last ``Total`` row.

    Latencies (ms) are of ok requests, from merged histograms; ``rps`` is requests over the
    run's duration; ``error_rate`` is the percentage of requests that were not ok.
    """
    names = results.endpoint_names()
    flat = flat_ok if flat_ok is not None else FlatHistograms.of(results, outcomes=("ok",), endpoints=names)
    names = list(flat.endpoints)  # windows may name endpoints the scenario did not list
    n = len(names)
    per_endpoint = flat.percentiles(flat.endpoint, n, QUANTILES)
    total = flat.percentiles(np.zeros(len(flat), dtype=np.int64), 1, QUANTILES)
    maxima = np.concatenate([flat.maxima(flat.endpoint, n), flat.maxima(np.zeros(len(flat), dtype=np.int64), 1)])
    ok_count = np.concatenate([flat.totals(flat.endpoint, n), [int(flat.count.sum())]])
    ok_sum = np.concatenate([np.bincount(flat.endpoint, weights=flat.sum, minlength=n), [float(flat.sum.sum())]])
    pct = np.vstack([per_endpoint, total]) / 1000.0

    outcomes: dict[str, Counter] = {name: Counter() for name in names}
    for (endpoint, outcome, _), hist in results.windows.items():
        outcomes.setdefault(endpoint, Counter())[outcome] += hist.count
    duration = results.duration() or 1.0
    rows = []
    for i, name in enumerate([*names, None]):
        counts = outcomes[name] if name is not None else sum(outcomes.values(), Counter())
        requests = sum(counts.values())
        info = results.endpoints.get(name, {}) if name is not None else {}
        rows.append(
            {
                "endpoint": name if name is not None else "Total",
                "method": info.get("method", ""),
                "path": info.get("path", ""),
                "requests": requests,
                "rps": requests / duration,
                "p50_ms": pct[i, 0],
                "p95_ms": pct[i, 1],
                "p99_ms": pct[i, 2],
                "max_ms": maxima[i] / 1000.0,
                "mean_ms": ok_sum[i] / ok_count[i] / 1000.0 if ok_count[i] else np.nan,
                **{o: counts.get(o, 0) for o in OUTCOMES},
                "error_rate": 100.0 * (requests - counts.get("ok", 0)) / requests if requests else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=ENDPOINT_COLUMNS)


def endpoint_rows(results: ResultSet, **kwargs: Any) -> list[dict[str, Any]]:
    """``endpoint_table`` as plain dicts (NaN becomes None)."""
    return [{k: _clean(v) for k, v in row.items()} for row in endpoint_table(results, **kwargs).to_dict("records")]


def run_facts(results: ResultSet) -> list[tuple[str, str]]:
    """What was run, against what, for how long, and how it ended: (label, text) pairs."""
    meta = results.meta
    target = meta.get("target") or {}
    facts = [
        ("Scenario", str(meta.get("scenario") or results.scenario.get("name") or "–")),
        ("Target", str(target.get("base_url") or "–")),
    ]
    if target.get("api_id") or target.get("stage"):
        facts.append(("API / stage", f"{target.get('api_id') or '–'} / {target.get('stage') or '–'}"))
    if target.get("region"):
        facts.append(("Region", str(target["region"])))
    facts += [
        ("Load profile", str(meta.get("profile") or "–")),
        ("Duration", _duration(results)),
        ("Started (UTC)", _utc(meta.get("started_at"))),
        ("Ended (UTC)", _utc(meta.get("ended_at"))),
        ("Status", str(meta.get("status") or "unknown")),
        ("Virtual users", _int(meta.get("vus"))),
        ("Test users (Cognito)", _int(meta.get("users"))),
        ("Workers", _int(meta.get("workers"))),
    ]
    shards = meta.get("shards") or []
    if shards:  # a distributed run (harness fanout): how each worker's shard ended
        facts.append(("Shards", shard_summary(meta)))
    pacer = results.pacer_totals()
    if pacer.target or pacer.released or pacer.dropped:
        late = late_starts(meta)
        dropped = f"{pacer.target:,.0f} / {pacer.released:,} / {pacer.dropped:,}" + (f" ({late[1]})" if late else "")
        facts.append(("Iterations planned / released / dropped", dropped))
    generator = meta.get("generator") or {}
    if generator:
        stalls = f"{generator.get('stalls', 0):,} stalls (longest {generator.get('longest_stall_ms', 0):g} ms)"
        facts.append(("Load generator", f"{stalls}, worst release lag {generator.get('max_lag_ms', 0):g} ms"))
    tokens = meta.get("token_stats") or {}
    if tokens:
        facts.append(
            (
                "Cognito token calls",
                f"{tokens.get('logins', 0):,} sign-ins, {tokens.get('refreshes', 0):,} refreshes, "
                f"{tokens.get('login_failures', 0):,} failures, {tokens.get('throttle_retries', 0):,} throttle retries",
            )
        )
    if meta.get("probe"):
        facts.append(("Sustainable rate (probe)", probe_line(meta["probe"])))
    facts += [("Run id", str(meta.get("run_id") or results.run_id or "–")), ("Tool", str(meta.get("tool") or "harness"))]
    return facts


def probe_line(probe: dict[str, Any]) -> str:
    """A probe's answer in one line: ``100 rps; knee at 120 rps (throttle_rate < 1%: 6.4%)``."""
    from harness.gates import format_amount

    knee = next((s for s in probe.get("steps", []) if not s.get("held")), None)
    sustainable = probe.get("sustainable_rate")
    head = f"{format_amount(sustainable, 'rps')}" if sustainable is not None else "none: even the first step breached"
    if knee is not None:
        return f"{head}; knee at {format_amount(knee['rate'], 'rps')} ({'; '.join(knee['breached'])})"
    if probe.get("top_held"):
        return f"{head}; the ramp's top held (no knee below it)"
    return f"{head}; no knee before the run ended"


def probe_rows(probe: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per judged step, for the report's probe table."""
    return [
        {
            "step": s["step"], "rate": s["rate"], "achieved_rate": s["achieved_rate"], "p95_ms": s["p95_ms"],
            "error_rate": s["error_rate"], "throttled_rate": s["throttled_rate"], "requests": s["requests"],
            "held": s["held"], "breached": "; ".join(s["breached"]),
            "knee": s["rate"] == probe.get("knee_rate") and not s["held"],
        }
        for s in probe.get("steps", [])
    ]  # fmt: skip


def shard_summary(meta: dict[str, Any]) -> str:
    """A distributed run's shards in one line: how many completed, which failed and why, and
    the latest start (a worker that started late skipped releases rather than shift its plan)."""
    shards = meta.get("shards") or []
    completed = sum(1 for s in shards if s.get("status") == RunStatus.COMPLETED)
    text = f"{completed:,} of {len(shards):,} completed"
    stopped = sum(1 for s in shards if s.get("status") == RunStatus.INTERRUPTED)
    if stopped:
        text += f"; {stopped:,} stopped early"
    failed = meta.get("failed_shards") or []
    if failed:
        named = "; ".join(f"shard {f['index']} (segment {f['segment']}): {f.get('reason') or 'failed'}" for f in failed[:5])
        text += f"; {len(failed):,} failed: {named}" + (f"; and {len(failed) - 5:,} more" if len(failed) > 5 else "")
    late = [s for s in shards if (s.get("late_start_ms") or 0) > 0]
    if late:
        worst = max(late, key=lambda s: s["late_start_ms"])
        skipped = sum(int(s.get("skipped") or 0) for s in shards)
        text += f"; {len(late):,} started late (at most {worst['late_start_ms']:,.0f} ms, shard {worst['index']}), {skipped:,} releases skipped"
    return text


def late_starts(meta: dict[str, Any]) -> tuple[int, str] | None:
    """(iterations skipped, one sentence) when fan-out workers were ready only after the run's
    start instant and skipped what fell due before (counted as dropped), else None::

        (412, "412 of them were skipped by 3 workers that started late (up to 13.2 s): raise fanout.start_lead")
    """
    shards = meta.get("shards") or []
    skipped = int((meta.get("generator") or {}).get("skipped") or sum(int(s.get("skipped") or 0) for s in shards))
    if skipped <= 0:
        return None
    late = [s for s in shards if int(s.get("skipped") or 0) > 0]
    worst_ms = max((float(s.get("late_start_ms") or 0) for s in late), default=float((meta.get("generator") or {}).get("late_start_ms") or 0))
    workers = f"{len(late):,} worker{'s' if len(late) != 1 else ''}" if late else "workers"
    return skipped, f"{skipped:,} of them were skipped by {workers} that started late (up to {worst_ms / 1000:,.1f} s): raise fanout.start_lead"


def retry_policies(results: ResultSet) -> dict[str, str]:
    """Each endpoint's retry policy as the scenario echo gives it, described in a few words
    (endpoints without one are left out): an endpoint's own replaces the scenario's."""
    scenario = results.scenario or {}
    default = scenario.get("retry")
    policies = {}
    for endpoint in scenario.get("endpoints") or []:
        own = endpoint.get("retry")
        policy = own if own is not None else default
        if isinstance(policy, dict):
            try:
                policies[str(endpoint.get("name"))] = Retry.model_validate(policy).describe()
            except ValueError:
                policies[str(endpoint.get("name"))] = "retries"
    return policies


def retry_rows(results: ResultSet) -> list[dict[str, Any]]:
    """One row per endpoint that had a retry policy or retries, then ``Total``: the policy,
    requests retried, retry attempts, attempts in all (what the server saw), how the retried
    requests ended (``harness.results.RETRY_RESULTS``) and the end-to-end latency of those ok
    after a retry. Empty when the run had no retries and its scenario asked for none."""
    policies = retry_policies(results)
    if not policies and not results.has_retries:
        return []
    summary = {row["endpoint"]: row for row in results.retry_summary()}
    first = {name: sum(results.outcome_counts(name).values()) for name in policies}
    rows = []
    for name in [*policies, *(n for n in summary if n not in policies and n != "Total")]:
        rows.append({**(summary.get(name) or _no_retries(name, first.get(name, 0))), "policy": policies.get(name, "–")})
    rows.append({**(summary.get("Total") or _no_retries("Total", results.total)), "policy": ""})
    return [{k: v for k, v in row.items() if k != "retry_outcomes"} for row in rows]


def _no_retries(name: str, attempts: int) -> dict[str, Any]:
    """A retry row of an endpoint whose policy never had to retry."""
    empty = {"retried": 0, "retry_attempts": 0, **dict.fromkeys(RETRY_RESULTS, 0)}
    return {"endpoint": name, **empty, "attempts": attempts, "ok_after_retry_p50_ms": None, "ok_after_retry_p95_ms": None, "ok_after_retry_max_ms": None}


def status_table(results: ResultSet) -> pd.DataFrame:
    """Responses by HTTP status (rows) and endpoint (columns), with a Total column; 0 = no response."""
    counts: Counter = Counter()
    for (endpoint, status, _), n in results.statuses.items():
        counts[(status, endpoint)] += n
    if not counts:
        return pd.DataFrame()
    frame = pd.Series(counts).unstack(fill_value=0).sort_index()
    names = [n for n in results.endpoint_names() if n in frame.columns]
    frame = frame[names + [c for c in frame.columns if c not in names]]
    frame["Total"] = frame.sum(axis=1)
    frame.index.name = "status"
    return frame.astype(int)


def error_rows(results: ResultSet, limit: int = 10) -> list[dict[str, Any]]:
    """The most frequent transport errors (no response at all), most frequent first."""
    rows = [{"endpoint": ep, "error": msg, "count": n} for (ep, msg), n in results.errors.items()]
    rows.sort(key=lambda r: -r["count"])
    return rows[:limit]


#: (label, layer, key, stat, unit)
SERVER_FACTS: tuple[tuple[str, str, str, str, str], ...] = (
    ("API Gateway requests (Count)", "apigw", "count", "Sum", ""),
    ("API Gateway 4xx", "apigw", "4xx", "Sum", ""),
    ("API Gateway 5XXError", "apigw", "5xx", "Sum", ""),
    ("API Gateway Latency p50 / p95 / p99", "apigw", "latency", "p50/p95/p99", "ms"),
    ("API Gateway IntegrationLatency p50 / p95 / p99", "apigw", "integration_latency", "p50/p95/p99", "ms"),
    ("Lambda Invocations", "lambda", "invocations", "Sum", ""),
    ("Lambda Errors", "lambda", "errors", "Sum", ""),
    ("Lambda Throttles", "lambda", "throttles", "Sum", ""),
    ("Lambda ConcurrentExecutions (max)", "lambda", "concurrent_executions", "Maximum", ""),
    ("Lambda Duration (average)", "lambda", "duration", "Average", "ms"),
    ("Cognito SignInSuccesses", "cognito", "sign_in_successes", "Sum", ""),
    ("Cognito SignInThrottles", "cognito", "sign_in_throttles", "Sum", ""),
    ("Cognito TokenRefreshSuccesses", "cognito", "token_refresh_successes", "Sum", ""),
    ("Cognito TokenRefreshThrottles", "cognito", "token_refresh_throttles", "Sum", ""),
    ("Step Functions ExecutionThrottled", "states", "execution_throttled", "Sum", ""),
    ("Step Functions ExecutionsFailed", "states", "executions_failed", "Sum", ""),
)


def server_rows(server: ServerMetrics) -> list[tuple[str, str]]:
    """Whole-run CloudWatch values as (label, text); metrics without data are left out."""
    rows = []
    for label, layer, key, stat, unit in SERVER_FACTS:
        found = [server.run(layer, key, s) for s in stat.split("/")]
        # a percentile or average of several resources does not combine (the gates refuse it too):
        # one row per resource, named, instead of one number that is none of theirs
        resources = sorted({r for f in found for r, _ in f.per_resource})
        if resources:
            for resource in resources:
                values = [server.run_value(layer, key, s, resource=resource) for s in stat.split("/")]
                rows.append((f"{label} ({resource})", _server_text(values, unit)))
            continue
        values = [f.value for f in found]
        if all(v is None for v in values):
            continue
        rows.append((label, _server_text(values, unit)))
    return rows


def _server_text(values: list[float | None], unit: str) -> str:
    if unit == "ms":
        return " / ".join("–" if v is None else f"{v:,.1f}" for v in values) + " ms"
    return " / ".join("–" if v is None else f"{v:,.0f}" for v in values)


def reconcile(results: ResultSet, server: ServerMetrics) -> dict[str, Any] | None:
    """Client requests against API Gateway's Count (they should match; the gap is reported).
    Retry attempts count: the server saw them too."""
    counted = server.run_value("apigw", "count", "Sum")
    if counted is None:
        return None
    sent = sum(h.count for (_, outcome, _), h in [*results.windows.items(), *results.retry_windows.items()] if outcome != "transport")
    gap = counted - sent
    return {"client": sent, "server": counted, "gap": gap, "gap_pct": 100.0 * gap / sent if sent else None}


def recovery_of(results: ResultSet) -> dict[str, Any]:
    """The run's recovery block (``results.json``'s ``recovery``), computed when it is absent."""
    if results.recovery is not None:
        return results.recovery
    from harness.faults.recovery import measure

    return measure(results)


PER_ROUTE_KINDS = frozenset({"throttle", "stage_throttle"})
"""Fault kinds whose limit applies to each route (REST: each method) separately, as a stage's
default throttling does on API Gateway: the report says so beside the kind."""


def recovery_rows(recovery: dict[str, Any]) -> list[dict[str, str]]:
    """One row per burst and fault: event, kind, window, baseline and peak p95 / error rate,
    throttled for, recovery time (or "not recovered", "no baseline"), as display text."""
    rows = []
    for e in recovery.get("events") or []:
        base, peak = e.get("baseline") or {}, e.get("peak") or {}
        if e.get("status") == "recovered":
            outcome = _seconds(e["recovery_time"])
        else:
            outcome = str(e.get("status") or "–")
        worst = f"{_ms(peak.get('p95_ms'))} / {_pct(peak.get('error_rate'))}"
        if peak.get("above_baseline") is False:  # the worst second was no worse than the baseline: not a peak
            worst = f"no rise above the baseline (worst second {worst})"
        rows.append(
            {
                "event": str(e.get("name")),
                "kind": str(e.get("kind")) + (" (limit per route)" if e.get("kind") in PER_ROUTE_KINDS else ""),
                "status": str(e.get("status")),
                "window": f"{fmt_elapsed(float(e['start']))}–{fmt_elapsed(float(e['end']))}",
                "baseline": f"{_ms(base.get('p95_ms'))} / {_pct(base.get('error_rate'))}" if base else "none",
                "peak": worst,
                "throttled": f"{e['throttled_for']:.0f} s" if e.get("throttled_for") else "–",
                "recovery": outcome,
                "note": str(e.get("note") or ""),
            }
        )
    return rows


def recovery_summary(recovery: dict[str, Any]) -> str:
    """One sentence: events, recovered, median and worst recovery time."""
    s = recovery.get("summary") or {}
    n = int(s.get("events") or 0)
    if not n:
        return "No bursts or faults in this run: nothing to recover from."
    parts = [f"{n} event{'s' if n != 1 else ''}, {s.get('recovered', 0)} recovered"]
    if s.get("median_recovery_time") is not None:
        parts.append(f"median recovery time {_seconds(s['median_recovery_time'])}")
    worst = s.get("max_recovery_time")
    if worst == "never":
        parts.append("worst: never (not recovered: " + ", ".join(s.get("not_recovered") or []) + ")")
    elif worst is not None:
        parts.append(f"worst {_seconds(worst)}")
    if s.get("no_baseline"):
        parts.append("no baseline for " + ", ".join(s["no_baseline"]))
    timed = s.get("median_recovery_time") is not None
    return "Recovery: " + "; ".join(parts) + "." + (" Recovery times are in whole seconds, exact to a second." if timed else "")


def _seconds(value: Any) -> str:
    """A recovery time as measured: whole seconds (a median of two may end in .5)."""
    return f"{float(value):g} s"


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value:,.1f} ms"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}%"


def _clean(value: Any) -> Any:
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _utc(value: Any) -> str:
    if not isinstance(value, (int, float)) or value <= 0:
        return "–"
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _int(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "–"


def _duration(results: ResultSet) -> str:
    seconds = results.duration()
    planned = results.meta.get("planned_duration")
    text = f"{fmt_elapsed(seconds)} ({seconds:,.1f} s)"
    if isinstance(planned, (int, float)) and planned and abs(planned - seconds) > 0.5:
        text += f", planned {fmt_elapsed(planned)}"
    return text
