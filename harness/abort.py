"""Auto-stop: conditions that end a run as soon as they hold, so that a test never keeps
hammering a target that is already broken.

A scenario lists them as ``abort_on``; each is a client-side gate expression that describes the
*breach*, held over a window of whole seconds (``over 10s``; 10 s when left out)::

    abort_on = ["error_rate > 20% over 10s", "p95 > 2s over 30s", "throttled_rate > 50%"]

The load process checks them once a second on the last ``window`` whole seconds of its results
(never on a single noisy second, never before a whole window has run). The first that holds ends
the run with status ``aborted``: the results are written, the rule and the value that broke it
are named in ``results.json`` (``meta.abort``), and ``harness run`` exits 1::

    rules = parse_abort_rules(["error_rate > 20% over 10s"])
    hit = breached(rules, results, now=time.time(), started_at=t0)   # (rule, value) or None

Server-side metrics (``server.*``, ``lambda.*``...) reach CloudWatch minutes late and regression
gates need a finished baseline comparison, so neither can stop a run: they are refused when the
scenario is loaded.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.errors import ScenarioError
from harness.gates import RECOVERY_METRICS, Gate, GateError, measure_client
from harness.results import ResultSet

__all__ = ["AbortRule", "DEFAULT_WINDOW", "parse_abort_rules", "breached"]

DEFAULT_WINDOW = 10.0
"""Seconds an abort condition must hold over when its text names no window."""

_OVER = re.compile(r"^(?P<gate>.*?)\s+over\s+(?P<window>\S+)\s*$", re.IGNORECASE)
_EXAMPLE = 'abort_on = ["error_rate > 20% over 10s"]'


@dataclass(frozen=True)
class AbortRule:
    """One ``abort_on`` entry: the breach (a gate that holds when the run must stop) and its window."""

    text: str
    gate: Gate
    window: float

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: Any) -> AbortRule:
        """Parse one entry; raises ``ScenarioError`` with the problem and an example."""
        from harness.durations import parse_duration

        if not isinstance(text, str) or not text.strip():
            raise ScenarioError(f"{text!r}: an abort condition is a string like {_EXAMPLE}")
        text = text.strip()
        window = DEFAULT_WINDOW
        gate_text = text
        if match := _OVER.match(text):
            gate_text = match.group("gate")
            try:
                window = float(parse_duration(match.group("window")))
            except (ValueError, TypeError):
                raise ScenarioError(f"{text!r}: 'over {match.group('window')}' is not a duration; write e.g. 'over 10s' or 'over 1m'") from None
            if window < 1:
                raise ScenarioError(f"{text!r}: the window must be at least 1 s (whole seconds are checked); write e.g. 'over 5s'")
        try:
            gate = Gate.parse(gate_text)
        except GateError as exc:
            raise ScenarioError(f"{text!r}: {exc}") from None
        if gate.regression:
            raise ScenarioError(f"{text!r}: a regression needs the whole run and a baseline, so it cannot stop a run; use an absolute limit like {_EXAMPLE}")
        if gate.metric in RECOVERY_METRICS:
            raise ScenarioError(
                f"{text!r}: a recovery time is known only after its event has ended and held, so it cannot stop a run; "
                'put it in gates instead (gates = ["max_recovery_time < 1m"])'
            )
        if "." in gate.metric:
            raise ScenarioError(
                f"{text!r}: {gate.name} comes from CloudWatch, minutes after the fact, so it cannot stop a run; "
                "use a client-side metric (p95, error_rate, throttled_rate, server_error_rate, dropped_rate)"
            )
        return cls(text=text, gate=gate, window=window)


def parse_abort_rules(texts: Iterable[Any]) -> list[AbortRule]:
    """Every entry of ``abort_on``; the error names the entry (``abort_on.1``)."""
    rules = []
    for i, text in enumerate(texts):
        try:
            rules.append(AbortRule.parse(text))
        except ScenarioError as exc:
            raise ScenarioError(str(exc), field=f"abort_on.{i}") from None
    return rules


def breached(rules: Iterable[AbortRule], results: ResultSet, *, now: float, started_at: float) -> tuple[AbortRule, float] | None:
    """The first rule that holds over its last ``window`` whole seconds before ``now``, with the
    value it measured; None while every rule holds back (or a window has not run yet, or holds no
    requests)."""
    current = int(now)
    for rule in rules:
        first = current - int(rule.window)
        if first < started_at:  # not a whole window of the run yet
            continue
        value = measure_client(rule.gate, window_of(results, range(first, current)))
        if value is not None and rule.gate.compare(value):
            return rule, value
    return None


def window_of(results: ResultSet, seconds: range) -> ResultSet:
    """The part of ``results`` in ``seconds`` (epoch seconds), as a ResultSet of that length."""
    inside = set(seconds)
    return ResultSet(
        run_id=results.run_id,
        endpoints=results.endpoints,
        windows={key: hist for key, hist in list(results.windows.items()) if key[2] in inside},
        statuses=Counter({key: n for key, n in list(results.statuses.items()) if key[2] in inside}),
        pacer={sec: w for sec, w in list(results.pacer.items()) if sec in inside},
        meta={"duration": float(len(seconds))},
    )
