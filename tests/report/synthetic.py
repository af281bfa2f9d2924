"""Synthetic runs for report tests and ``bench/bench_report.py``: a ResultSet built directly from
histogram windows (no per-request ``record()`` calls) and a CloudWatch frame shaped like the one
``harness.metrics`` returns.

The model: the plan's rate is split over weighted endpoints; when the planned rate exceeds
``vu_capacity`` the excess is dropped; above ``throttle_rate`` API Gateway answers 429 to the
excess; latency is lognormal and grows with load; ``server_error_rate`` of requests get 503.
Lambda starts throttling at ``lambda_limit`` (rps reaching it), some seconds after API Gateway.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.results import OUTCOMES, Histogram, ResultSet

START = 1764169200.4  # 2025-11-26 15:00:00.4 UTC
_POWERS = np.array([10**k for k in range(1, 19)], dtype=np.int64)


def buckets(us: np.ndarray) -> np.ndarray:
    """``harness.results.bucket`` vectorised."""
    us = np.maximum(us.astype(np.int64), 0)
    digits = np.searchsorted(_POWERS, us, side="right") + 1
    scale = np.where(us < 1000, 1, 10 ** np.maximum(digits - 3, 0))
    return np.where(us < 1000, us, (us + scale // 2) // scale * scale)


@dataclass
class Model:
    seconds: int = 120
    plan: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"start": 0.0, "end": 40.0, "rate_from": 100.0, "rate_to": 100.0, "label": "base"},
            {"start": 40.0, "end": 60.0, "rate_from": 400.0, "rate_to": 400.0, "label": "spike"},
            {"start": 60.0, "end": 120.0, "rate_from": 100.0, "rate_to": 100.0, "label": "after"},
        ]
    )
    endpoints: dict[str, tuple[str, str, int, int]] = field(
        default_factory=lambda: {
            "list items": ("GET", "/items", 5, 200),
            "get item": ("GET", "/items/{id}", 3, 200),
            "my profile": ("GET", "/users/{user}/profile", 1, 200),
            "create order": ("POST", "/orders", 1, 201),
        }
    )
    throttle_rate: float = 250.0
    lambda_limit: float = 240.0
    vu_capacity: float = 360.0
    server_error_rate: float = 0.002
    transport_rate: float = 0.0002
    median_ms: float = 18.0
    sigma: float = 0.45
    start: float = START
    seed: int = 7
    profile: str = "spike"
    scenario: str = "spike"
    status: str = "completed"

    def rate_at(self, t: np.ndarray) -> np.ndarray:
        out = np.zeros_like(t, dtype=float)
        for seg in self.plan:
            inside = (t >= seg["start"]) & (t < seg["end"])
            frac = (t - seg["start"]) / max(seg["end"] - seg["start"], 1e-9)
            out[inside] = seg["rate_from"] + (seg["rate_to"] - seg["rate_from"]) * frac[inside]
        return out


def synthetic_results(model: Model | None = None) -> ResultSet:
    """A ResultSet of ``model.seconds`` seconds built window by window."""
    m = model or Model()
    rng = np.random.default_rng(m.seed)
    first = int(m.start)
    offset = m.start - first
    names = list(m.endpoints)
    weights = np.array([m.endpoints[n][2] for n in names], dtype=float)
    weights /= weights.sum()
    results = ResultSet(run_id="run-synthetic")
    results.endpoints = {n: {"method": v[0], "path": v[1], "weight": v[2], "expect": [v[3]]} for n, v in m.endpoints.items()}
    results.plan = [dict(seg) for seg in m.plan]

    # planned requests in each Unix second (the plan starts ``offset`` into the first one)
    t = np.arange(m.seconds + 1, dtype=float)
    edges = np.concatenate(([0.0], t[1:] - offset, [float(m.seconds)]))
    mids = (edges[:-1] + edges[1:]) / 2
    planned = m.rate_at(mids) * (edges[1:] - edges[:-1])
    released = np.minimum(rng.poisson(np.minimum(planned, m.vu_capacity)), np.round(planned + 3 * np.sqrt(planned) + 1)).astype(np.int64)
    dropped = np.maximum(np.round(planned).astype(np.int64) - released, 0)
    for i in range(len(planned)):
        results.pacer[first + i].target = float(planned[i])
        results.pacer[first + i].released = int(released[i])
        results.pacer[first + i].dropped = int(dropped[i])

    statuses: Counter = Counter()
    for i, sent in enumerate(released):
        second = first + i
        if sent == 0:
            continue
        share = sent / max(m.throttle_rate, 1.0)
        throttled_total = rng.binomial(sent, max(0.0, 1.0 - m.throttle_rate / sent)) if sent > m.throttle_rate else 0
        per_endpoint = rng.multinomial(sent, weights)
        throttled = rng.multinomial(throttled_total, weights) if throttled_total else np.zeros(len(names), np.int64)
        throttled = np.minimum(throttled, per_endpoint)
        median = m.median_ms * (1.0 + 1.5 * max(0.0, share - 0.7) ** 2)
        for j, name in enumerate(names):
            answered = int(per_endpoint[j] - throttled[j])
            server = int(rng.binomial(answered, m.server_error_rate)) if answered else 0
            transport = int(rng.binomial(answered - server, m.transport_rate)) if answered - server else 0
            ok = answered - server - transport
            if transport:
                results.errors[(name, "ConnectionResetError: [Errno 104] Connection reset by peer")] += transport
            for outcome, n, med, status in (
                ("transport", transport, median * 5, 0),
                ("ok", ok, median * (1.6 if name == "create order" else 1.0), m.endpoints[name][3]),
                ("server", server, median * 3, 503),
                ("throttled", int(throttled[j]), 4.0, 429),
            ):
                if n <= 0:
                    continue
                us = np.maximum((rng.lognormal(np.log(med), m.sigma, n) * 1000).astype(np.int64), 200)
                keys, counts = np.unique(buckets(us), return_counts=True)
                h = Histogram()
                h.counts = dict(zip(keys.tolist(), counts.tolist()))
                h.count, h.sum, h.min, h.max = int(n), int(us.sum()), int(us.min()), int(us.max())
                results.windows[(name, outcome, second)] = h
                statuses[(name, status, second)] += n
    results.statuses = statuses
    duration = float(m.seconds) + 0.8
    results.meta = {
        "run_id": "run-synthetic",
        "scenario": m.scenario,
        "profile": m.profile,
        "target": {
            "base_url": "https://abc123.execute-api.eu-west-1.amazonaws.com",
            "user_pool_id": "eu-west-1_AbCdEf123",
            "client_id": "1example23456789",
            "region": "eu-west-1",
            "api_id": "abc123",
            "stage": "$default",
        },
        "started_at": m.start,
        "ended_at": m.start + duration,
        "duration": duration,
        "planned_duration": float(m.plan[-1]["end"]),
        "vus": int(m.vu_capacity),
        "users": 50,
        "workers": 1,
        "status": m.status,
        "error": None,
        "tool": "harness 0.1.0",
        "token_stats": {"logins": 50, "refreshes": 0, "login_failures": 0, "throttle_retries": 0},
        "generator": {"stalls": 12, "longest_stall_ms": 9.5, "max_lag_ms": 14.2},
    }
    results.scenario = {"name": m.scenario}
    return results


def synthetic_metrics(results: ResultSet, model: Model | None = None, *, period: int = 60, gap_at: int | None = 1) -> pd.DataFrame:
    """A CloudWatch frame consistent with ``results``: API Gateway counts what the client sent;
    Latency is the client's minus the network; Lambda throttles above ``lambda_limit``;
    period ``gap_at`` of each series is missing (NaN)."""
    m = model or Model()
    rows: list[dict[str, Any]] = []
    first = int(m.start) // period * period
    last = int(m.start) + m.seconds
    periods = list(range(first, last + 1, period))
    by_second: Counter = Counter()
    by_outcome: dict[str, Counter] = {"throttled": Counter(), "server": Counter()}
    for (_, outcome, sec), h in results.windows.items():
        if outcome == "transport":  # never reached API Gateway
            continue
        by_second[sec] += h.count
        if outcome in by_outcome:
            by_outcome[outcome][sec] += h.count
    resource_api, resource_fn, resource_pool = "abc123/$default", "orders-api", "eu-west-1_AbCdEf123"

    def add(layer: str, resource: str, metric: str, key: str, stat: str, start: int, value: float, scope: str = "series", span: int = period) -> None:
        rows.append(
            {
                "layer": layer,
                "resource": resource,
                "metric": metric,
                "key": key,
                "stat": stat,
                "scope": scope,
                "timestamp": pd.Timestamp(start, unit="s", tz="UTC"),
                "period": span,
                "value": value,
            }
        )

    for k, p in enumerate(periods):
        secs = range(p, p + period)
        count = sum(by_second[s] for s in secs)
        throttled = sum(by_outcome["throttled"][s] for s in secs)
        server = sum(by_outcome["server"][s] for s in secs)
        lambda_throttles = sum(max(0, by_second[s] - throttled_s - m.lambda_limit) for s in secs for throttled_s in [by_outcome["throttled"][s]])
        gap = gap_at is not None and k == gap_at
        nan = float("nan")
        ok = results.select(seconds=range(p, p + period))
        add("apigw", resource_api, "Count", "count", "Sum", p, nan if gap else count)
        add("apigw", resource_api, "4XXError", "4xx", "Sum", p, nan if gap else throttled)
        add("apigw", resource_api, "5XXError", "5xx", "Sum", p, nan if gap else server)
        for q in (0.50, 0.95, 0.99):
            client = ok.percentile(q)
            lat = nan if gap or client is None else client / 1000 - 7.5
            add("apigw", resource_api, "Latency", "latency", f"p{int(q * 100)}", p, lat)
            add("apigw", resource_api, "IntegrationLatency", "integration_latency", f"p{int(q * 100)}", p, lat - 2.5 if lat == lat else nan)
        add("lambda", resource_fn, "Invocations", "invocations", "Sum", p, nan if gap else count - throttled - lambda_throttles)
        add("lambda", resource_fn, "Errors", "errors", "Sum", p, nan if gap else server)
        add("lambda", resource_fn, "Throttles", "throttles", "Sum", p, nan if gap else lambda_throttles)
        add(
            "lambda",
            resource_fn,
            "ConcurrentExecutions",
            "concurrent_executions",
            "Maximum",
            p,
            nan if gap else max((by_second[s] for s in secs), default=0) * 0.02,
        )
        add("cognito", resource_pool, "SignInSuccesses", "sign_in_successes", "Sum", p, 50.0 if k == 0 else 0.0)
        add("cognito", resource_pool, "SignInThrottles", "sign_in_throttles", "Sum", p, 0.0)
        add("cognito", resource_pool, "TokenRefreshSuccesses", "token_refresh_successes", "Sum", p, 0.0)
        add("cognito", resource_pool, "TokenRefreshThrottles", "token_refresh_throttles", "Sum", p, 0.0)
    span = len(periods) * period
    total = results.select(outcomes=[o for o in OUTCOMES if o != "transport"])
    ok = results.select()
    add("apigw", resource_api, "Count", "count", "Sum", first, float(total.count), "run", span)
    add("apigw", resource_api, "4XXError", "4xx", "Sum", first, float(results.outcome_counts()["throttled"]), "run", span)
    for q in (0.50, 0.95, 0.99):
        add("apigw", resource_api, "Latency", "latency", f"p{int(q * 100)}", first, ok.percentile(q) / 1000 - 7.5, "run", span)
        add("apigw", resource_api, "IntegrationLatency", "integration_latency", f"p{int(q * 100)}", first, ok.percentile(q) / 1000 - 10.0, "run", span)
    frame = pd.DataFrame(rows)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame
