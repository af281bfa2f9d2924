"""Measurement: what a run measured, for each gate, in the gate's unit.

``evaluate`` checks gates against a ``ResultSet`` (client side: merged histograms, outcome
counts, the pacer, recovery times), the CloudWatch frame (server side, read through
``harness.metrics.RunValues``) and a baseline run, and returns a ``Verdict``; a gate without
data fails, and its reason says why::

    verdict = evaluate(["p95 < 300ms", "server.5xx_rate < 1%"], results=results, metrics=frame)
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.results import ResultSet

from .grammar import _RATE_OUTCOMES, LATENCY, RECOVERY, Gate, _number, format_amount
from .verdict import GateResult, Verdict

if TYPE_CHECKING:  # pandas only where CloudWatch rows are read: a fan-out worker has no pandas
    import pandas as pd

    from harness.metrics import RunValues

__all__ = ["evaluate", "measure_client"]


class _NoValue(Exception):
    """The gate cannot be evaluated; the message is the reason."""


@dataclass
class _Value:
    value: float  # in the gate's unit
    note: str = ""


def evaluate(
    gates: Iterable[Gate | str],
    *,
    results: ResultSet,
    metrics: pd.DataFrame | None = None,
    baseline: ResultSet | None = None,
) -> Verdict:
    """Check every gate against the run; strings are parsed first.

    Latencies come from the run's merged histograms (never averages of per-second values) and use
    "ok" requests unless the gate selects other outcomes. Server-side gates read the whole-run
    (``scope == "run"``) rows of ``harness.metrics``' frame. A gate without data fails.
    """
    server = _ServerMetrics(metrics)
    out = []
    for gate in gates:
        if isinstance(gate, str):
            gate = Gate.parse(gate)
        try:
            found = _measure(gate, results, server, baseline)
        except _NoValue as exc:
            out.append(GateResult(gate, False, None, gate.threshold, gate.unit, str(exc)))
            continue
        out.append(GateResult(gate, gate.compare(found.value), found.value, gate.threshold, gate.unit, found.note))
    return Verdict(tuple(out))


def measure_client(gate: Gate, results: ResultSet) -> float | None:
    """A client-side gate's value on ``results`` in its unit, or None when they hold no data for
    it (the live checks of ``harness.abort`` use this on a window of the run)."""
    try:
        return _client(gate, results, "").value
    except _NoValue:
        return None


def _measure(gate: Gate, results: ResultSet, server: _ServerMetrics, baseline: ResultSet | None) -> _Value:
    if gate.metric.startswith(("server.", "lambda.", "cognito.", "states.")):
        return server.measure(gate)
    if gate.kind == RECOVERY:
        return _recovery(gate, results)
    if not gate.regression:
        return _client(gate, results, "")
    if baseline is None:
        raise _NoValue("no baseline run was given to compare with (pass the baseline results file)")
    current = _client(gate, results, "")
    before = _client(gate, baseline, "the baseline run: ")
    if gate.kind == LATENCY:
        if before.value == 0:
            if current.value == 0:
                return _Value(0.0, "0 ms in both runs")
            raise _NoValue(f"the baseline {gate.aggregation} is 0 ms, so a relative change is undefined")
        change = (current.value - before.value) / before.value * 100.0
        return _Value(change, f"{format_amount(current.value, 'ms')} vs baseline {format_amount(before.value, 'ms')}")
    return _Value(current.value - before.value, f"{format_amount(current.value, '%')} vs baseline {format_amount(before.value, '%')}")


def _client(gate: Gate, results: ResultSet, which: str) -> _Value:
    """A client-side value of ``results`` in the gate's unit (ms, %, rps, count)."""
    endpoint = gate.endpoint
    where = f" for endpoint {endpoint!r}" if endpoint is not None else ""
    if endpoint is not None and endpoint not in results.endpoint_names():
        known = ", ".join(repr(n) for n in results.endpoint_names()) or "none"
        raise _NoValue(f"{which}endpoint {endpoint!r} is not in the run (endpoints: {known})")
    if gate.metric == "latency":
        hist = results.select(endpoint=endpoint, outcomes=gate.outcomes)
        if hist.count == 0:
            slice_ = "requests" if gate.outcomes is None else f"{'/'.join(gate.outcomes)} requests"
            total = sum(results.outcome_counts(endpoint).values())
            raise _NoValue(f"{which}no {slice_}{where} ({total:,} requests in all)")
        agg = gate.aggregation
        if gate.quantile is not None:
            us = hist.percentile(gate.quantile)
        else:
            us = {"avg": hist.mean, "min": float(hist.min), "max": float(hist.max)}[str(agg)]
        assert us is not None
        return _Value(us / 1000.0)
    if gate.metric in ("dropped_rate", "achieved_rate"):
        pacer = results.pacer_totals()
        if pacer.target <= 0:
            raise _NoValue(f"{which}the run planned no iterations (pacer target is 0); {gate.metric} needs an open-model run")
        part = pacer.dropped if gate.metric == "dropped_rate" else pacer.released
        verb = "dropped" if gate.metric == "dropped_rate" else "released"
        return _Value(part / pacer.target * 100.0, f"{part:,} of {pacer.target:,.0f} planned iterations {verb}")
    counts = results.outcome_counts(endpoint)
    total = sum(counts.values())
    if gate.metric == "requests":
        return _Value(float(total))
    if gate.metric == "rps":
        duration = results.duration()
        if duration <= 0:
            raise _NoValue(f"{which}the run has no duration, so no rate")
        return _Value(total / duration, f"{total:,} requests in {_number(duration)} s")
    # rates
    if total == 0:
        raise _NoValue(f"{which}no requests{where}")
    outcome = _RATE_OUTCOMES[gate.metric]
    part = total - counts["ok"] if outcome is None else counts[outcome]
    return _Value(part / total * 100.0, f"{part:,} of {total:,} requests {_RATE_SENTENCES[outcome]}")


def _recovery(gate: Gate, results: ResultSet) -> _Value:
    """The median (``recovery_time``) or worst (``max_recovery_time``) recovery time in seconds."""
    from harness.faults.recovery import measure

    recovery = results.recovery if results.recovery is not None else measure(results)
    rows = recovery.get("events") or []
    if not rows:
        raise _NoValue("the run had no burst or fault to recover from")
    lost = [r for r in rows if r.get("status") == "not recovered"]
    if lost:
        named = "; ".join(f"{r['name']}: {r.get('note') or 'not recovered'}" for r in lost[:3])
        raise _NoValue(f"{len(lost)} of {len(rows)} events not recovered ({named})")
    blind = [r for r in rows if r.get("status") != "recovered"]
    if blind:
        named = "; ".join(f"{r['name']}: {r.get('note') or 'no baseline'}" for r in blind[:3])
        raise _NoValue(f"{len(blind)} of {len(rows)} events cannot be judged ({named})")
    times = sorted(float(r["recovery_time"]) for r in rows)
    if gate.metric == "max_recovery_time":
        worst = max(rows, key=lambda r: float(r["recovery_time"]))
        return _Value(times[-1], f"worst: {worst['name']}, of {len(rows)} events")
    return _Value(float(statistics.median(times)), f"median of {len(rows)} events (worst {_number(times[-1])} s)")


#: how a rate gate's reason ends: "12 of 6,808 requests got a server error (HTTP 5xx)"
_RATE_SENTENCES: dict[str | None, str] = {
    None: "did not get an expected status",
    "throttled": "were throttled (HTTP 429)",
    "auth": "were refused by auth (HTTP 401/403)",
    "server": "got a server error (HTTP 5xx)",
    "client": "got another unexpected status (not 429, 401/403 or 5xx)",
    "transport": "got no response (transport errors)",
}


# ---- server side: whole-run values through harness.metrics.RunValues ---------------------------


class _ServerMetrics:
    """Server-side gates read the whole-run rows of ``harness.metrics``' frame through
    ``RunValues``, the reader the report and the web UI use too: sums add up across resources,
    max/min combine, and a percentile or average reported by several resources needs
    ``{resource="..."}``. Only the percentiles ``harness.metrics`` asked CloudWatch for exist
    (p50, p95, p99 by default); any other fails as missing."""

    def __init__(self, frame: pd.DataFrame | None) -> None:
        self.frame = frame
        self._values: RunValues | None = None

    @property
    def values(self) -> RunValues:
        if self.frame is None:  # no pandas needed to say so (a fan-out worker has none)
            raise _NoValue("no CloudWatch metrics were given (collect them for the run's time window)")
        if self._values is None:  # pandas only once a server-side gate is read
            from harness.metrics import RunValues

            self._values = RunValues(self.frame)
        return self._values

    @property
    def problem(self) -> str:
        return self.values.problem

    @property
    def rows(self) -> pd.DataFrame | None:
        return self.values.rows

    def value(self, layer: str, key: str, stat: str, resource: str | None = None) -> tuple[float, str]:
        """One whole-run value and a note (resources without data); raises ``_NoValue``."""
        found = self.values.get(layer, key, stat, resource=resource)
        if found.value is None:
            raise _NoValue(found.problem)
        return found.value, found.note

    def measure(self, gate: Gate) -> _Value:
        metric, resource = gate.metric, gate.resource
        if metric in ("server.latency", "server.integration_latency"):
            value, note = self.value("apigw", metric.split(".", 1)[1], str(gate.aggregation), resource)
            return _Value(value, note)
        if metric in ("server.count", "server.4xx", "server.5xx"):
            value, note = self.value("apigw", metric.split(".", 1)[1], "sum", resource)
            return _Value(value, note)
        if metric in ("server.4xx_rate", "server.5xx_rate"):
            key = metric.split(".", 1)[1].removesuffix("_rate")
            errors, note = self.value("apigw", key, "sum", resource)
            count, _ = self.value("apigw", "count", "sum", resource)
            if count <= 0:
                raise _NoValue("API Gateway counted no requests (Count Sum is 0)")
            return _Value(errors / count * 100.0, f"{_number(errors)} of {_number(count)} requests" + (f"; {note}" if note else ""))
        layer, key = metric.split(".", 1)
        if layer == "cognito" and key == "throttles" and gate.aggregation is None:
            return self.cognito_throttles(resource)
        if layer == "cognito" and key.endswith("_throttles") and gate.aggregation in (None, "sum"):
            value, note = self.cognito_throttle_key(key, resource)
            return _Value(value, note)
        value, note = self.value(layer, key, gate.aggregation or "sum", resource)
        return _Value(value, note)

    def cognito_throttle_key(self, key: str, resource: str | None) -> tuple[float, str]:
        """One Cognito ``*_throttles`` Sum. Cognito publishes a throttles datum only for a request
        it throttled ("When a user authentication request is throttled, a count of 1 is
        published", AWS docs, "User pool metrics in CloudWatch"), while its ``*_successes``
        metric has a datum (1 or 0) for every attempt: with attempts and no throttles datum, the
        run had no throttled request (0); with neither, Cognito saw nothing and there is no data."""
        try:
            return self.value("cognito", key, "sum", resource)
        except _NoValue:
            successes = key.removesuffix("_throttles") + "_successes"
            try:
                self.value("cognito", successes, "sum", resource)
            except _NoValue:
                raise _NoValue(f"CloudWatch returned no data for cognito {key} nor {successes}") from None
            return 0.0, f"no {key} datum while {successes} has data: none throttled"

    def cognito_throttles(self, resource: str | None) -> _Value:
        """Every Cognito ``*throttles`` key (sign-in, token refresh, sign-up, ...) summed."""
        if self.rows is None:
            raise _NoValue(self.problem)
        keys = sorted(k for k in set(self.rows.loc[self.rows["layer"] == "cognito", "key"]) if k.endswith("throttles"))
        if not keys:
            raise _NoValue("the metrics have no whole-run cognito *throttles keys (sign_in_throttles, token_refresh_throttles)")
        total, found, missing = 0.0, [], []
        for key in keys:
            try:
                value, _ = self.cognito_throttle_key(key, resource)
            except _NoValue:
                missing.append(key)
                continue
            total += value
            found.append(key)
        if not found:
            raise _NoValue(f"CloudWatch returned no data for cognito {', '.join(keys)}")
        note = f"{' + '.join(found)}" + (f"; no data for {', '.join(missing)}" if missing else "")
        return _Value(total, note)
