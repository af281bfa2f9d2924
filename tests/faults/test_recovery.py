"""Recovery time on synthetic results: known event ends, known latencies and outcomes per second."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.faults.recovery import Settings, annotate, measure
from harness.results import Histogram, ResultSet

T0 = 1764169200.4  # the pacer's t0: not on a second boundary, as in real runs


def build(
    seconds: int,
    second: Callable[[int], tuple[float, int, dict[str, int]]],
    *,
    plan: list[dict] | None = None,
    faults: list[dict] | None = None,
) -> ResultSet:
    """``second(i)`` -> (ok latency ms, ok count, {outcome: count}) for elapsed second i."""
    results = ResultSet(run_id="r", plan=plan or [{"start": 0.0, "end": float(seconds), "rate_from": 50, "rate_to": 50, "label": "steady"}])
    results.meta = {"started_at": T0, "ended_at": T0 + seconds, "duration": float(seconds)}
    if faults is not None:
        results.meta["faults"] = faults
    first = int(T0)
    for i in range(seconds + 1):
        ms, ok, others = second(i)
        if ok:
            hist = Histogram()
            hist.record(int(ms * 1000), ok)
            results.windows[("list items", "ok", first + i)] = hist
        for outcome, n in others.items():
            if n:
                hist = Histogram()
                hist.record(3000, n)
                results.windows[("list items", outcome, first + i)] = hist
    return results


def fault(name: str, kind: str, start: float, end: float | None, **extra: object) -> dict:
    return {
        "name": name, "kind": kind, "at": start, "duration": (end or start) - start,
        "started_at": None if extra.get("never") else T0 + start,
        "ended_at": None if end is None else T0 + end,
        "ended_by": "schedule", "error": None, "params": {},
    }  # fmt: skip


def test_latency_fault_recovers_within_a_second_of_its_end() -> None:
    # 20 ms normally; 300 ms while the fault is on, from 30.0 s to 50.0 s after t0 (epoch .4)
    def second(i: int) -> tuple[float, int, dict[str, int]]:
        on = 30 <= i + int(T0) - T0 < 50 or 30 <= i + 1 + int(T0) - T0 - 1e-9 < 50.6
        return (300.0 if on else 20.0), 50, {}

    results = build(80, second, faults=[fault("slow", "latency", 30.0, 50.0)])
    rec = measure(results)
    event = rec["events"][0]
    assert event["name"] == "slow" and event["kind"] == "latency" and event["status"] == "recovered"
    assert event["baseline"]["p95_ms"] == pytest.approx(20.0, rel=0.01)
    assert event["peak"]["p95_ms"] == pytest.approx(300.0, rel=0.01)
    assert 0 <= event["recovery_time"] <= 1.0
    assert abs(event["end"] + event["recovery_time"] - 50.0) <= 1.0
    assert rec["summary"] == {
        "events": 1, "recovered": 1, "not_recovered": [], "no_baseline": [],
        "median_recovery_time": event["recovery_time"], "max_recovery_time": event["recovery_time"],
    }  # fmt: skip


def test_slow_recovery_is_measured_from_the_fault_end() -> None:
    # the backend stays slow 7 s after the fault ended (a cold cache, say)
    def second(i: int) -> tuple[float, int, dict[str, int]]:
        return (400.0 if 21 <= i < 37 else 25.0), 40, {}

    results = build(60, second, faults=[fault("cold", "latency", 20.6, 30.0)])
    event = measure(results)["events"][0]
    # the first good second starts at epoch int(T0) + 37 = T0 + 36.6
    assert event["recovered_at"] == pytest.approx(36.6)
    assert event["recovery_time"] == 7.0  # 6.6 s, exact only to a second: whole seconds


def test_outage_counts_errors_and_recovers() -> None:
    def second(i: int) -> tuple[float, int, dict[str, int]]:
        if 15 <= i < 25:
            return 0.0, 0, {"server": 50}
        if 25 <= i < 27:
            return 20.0, 40, {"server": 10}
        return 20.0, 50, {"server": 0}

    results = build(50, second, faults=[fault("down", "outage", 14.6, 24.6)])
    event = measure(results)["events"][0]
    assert event["baseline"]["error_rate"] == 0
    assert event["peak"]["error_rate"] == 100.0
    assert event["peak"]["p95_ms"] == pytest.approx(20.0, rel=0.01)  # the 2 ok-ish seconds after it
    assert event["recovered_at"] == pytest.approx(27 - 0.4)
    assert event["recovery_time"] == pytest.approx(2.0)
    assert event["throttled_for"] == 0 and event["throttled"] is None


def test_burst_throttled_duration_and_its_idle_baseline() -> None:
    plan = [
        {"start": 0.0, "end": 20.0, "rate_from": 20, "rate_to": 20, "label": "idle 1"},
        {"start": 20.0, "end": 25.0, "rate_from": 300, "rate_to": 300, "label": "burst 1"},
        {"start": 25.0, "end": 45.0, "rate_from": 20, "rate_to": 20, "label": "recovery"},
    ]

    def second(i: int) -> tuple[float, int, dict[str, int]]:
        if 20 <= i < 25:  # elapsed 19.6 .. 24.6: the burst, 429s for the excess
            return 40.0, 250, {"throttled": 50}
        if 25 <= i < 28:  # the bucket refills: still some 429s
            return 30.0, 18, {"throttled": 2}
        return 15.0, 20, {}

    results = build(45, second, plan=plan)
    rec = measure(results)
    (event,) = rec["events"]
    assert (event["name"], event["kind"], event["source"]) == ("burst 1", "burst", "plan")
    assert event["baseline"]["seconds"] == 10 and event["baseline"]["to"] <= 20.0
    assert event["throttled"] == {"first": pytest.approx(19.6), "last": pytest.approx(27.6)}
    assert event["throttled_for"] == 8.0
    assert event["recovered_at"] == pytest.approx(27.6)
    assert event["recovery_time"] == 3.0  # 2.6 s, in whole seconds


def test_never_recovered_says_so_and_max_is_never() -> None:
    def second(i: int) -> tuple[float, int, dict[str, int]]:
        return (20.0, 50, {}) if i < 30 else (20.0, 30, {"server": 20})

    results = build(45, second, faults=[fault("broken", "errors", 30.0, 35.0)])
    rec = measure(results)
    event = rec["events"][0]
    assert event["status"] == "not recovered" and event["recovered"] is False and event["recovery_time"] is None
    assert event["note"] == "not recovered within the run (10 s observed after it)"
    assert rec["summary"]["max_recovery_time"] == "never"
    assert rec["summary"]["not_recovered"] == ["broken"]
    assert rec["summary"]["median_recovery_time"] is None


def test_no_baseline_when_nothing_ran_before() -> None:
    def second(i: int) -> tuple[float, int, dict[str, int]]:
        return (20.0, 50, {}) if i >= 5 else (0.0, 0, {})

    results = build(40, second, faults=[fault("early", "latency", 6.0, 10.0), fault("never", "latency", 20.0, 25.0, never=True)])
    rec = measure(results)
    assert [e["name"] for e in rec["events"]] == ["early"]  # a fault that never started is no event
    event = rec["events"][0]
    assert event["status"] == "no baseline" and event["baseline"] is None and event["recovered"] is None
    assert event["note"].startswith("no baseline: 1 s with traffic before it")
    assert rec["summary"]["no_baseline"] == ["early"]


def test_a_burst_with_an_idle_base_rate_of_zero_has_no_baseline() -> None:
    plan = [
        {"start": 0.0, "end": 10.0, "rate_from": 0, "rate_to": 0, "label": "idle 1"},
        {"start": 10.0, "end": 15.0, "rate_from": 100, "rate_to": 100, "label": "burst 1"},
        {"start": 15.0, "end": 25.0, "rate_from": 0, "rate_to": 0, "label": "recovery"},
    ]
    results = build(25, lambda i: (20.0, 100, {}) if 10 <= i < 15 else (0.0, 0, {}), plan=plan)
    assert measure(results)["events"][0]["status"] == "no baseline"


def test_sparse_seconds_are_merged_not_counted_as_recovered() -> None:
    # 2 rps: every second alone is too sparse to judge; bins of 3 seconds hold 6 requests
    def second(i: int) -> tuple[float, int, dict[str, int]]:
        if 20 <= i < 30:
            return 500.0, 2, {}
        if 30 <= i < 34:  # right after the fault: one slow request a second
            return 500.0, 1, {}
        return 10.0, 2, {}

    results = build(60, second, faults=[fault("slow", "latency", 19.6, 29.6)])
    event = measure(results)["events"][0]
    assert event["status"] == "recovered"
    assert event["recovered_at"] >= 34 - 0.4  # never inside the slow stretch


def test_a_lone_good_second_does_not_count_when_hold_fails() -> None:
    def second(i: int) -> tuple[float, int, dict[str, int]]:
        if 20 <= i < 40 and i != 32:
            return 400.0, 50, {}
        return 20.0, 50, {}

    results = build(60, second, faults=[fault("flaky", "latency", 19.6, 30.0)])
    event = measure(results, Settings(hold=3))["events"][0]
    assert event["recovered_at"] == pytest.approx(39.6)


def test_tolerance_and_floor() -> None:
    # a 2 ms baseline: 6 ms is within 2 x 1.5 + 5 ms, 9 ms is not
    def second(i: int) -> tuple[float, int, dict[str, int]]:
        if 20 <= i < 30:
            return 50.0, 50, {}
        return (6.0 if i < 35 else 2.0) if i >= 30 else 2.0, 50, {}

    results = build(50, second, faults=[fault("f", "latency", 19.6, 29.6)])  # ends on a second boundary
    assert measure(results)["events"][0]["recovery_time"] == 0.0
    strict = measure(results, Settings(tolerance=0))["events"][0]  # 2 + 5 ms still admits 6 ms
    assert strict["recovery_time"] == 0.0
    slower = build(50, lambda i: (9.0, 50, {}) if 30 <= i < 35 else second(i), faults=[fault("f", "latency", 19.6, 29.6)])
    assert measure(slower, Settings(tolerance=0))["events"][0]["recovery_time"] == 5.0


def test_annotate_stores_it_in_results_json() -> None:
    results = build(30, lambda i: (20.0, 10, {}), faults=[fault("f", "latency", 12.0, 15.0)])
    annotate(results)
    again = ResultSet.from_dict(results.to_dict())
    assert again.recovery == results.recovery
    assert again.recovery["summary"]["events"] == 1
    assert results.to_dict()["recovery"]["settings"] == {"tolerance": 50.0, "error_tolerance": 1.0, "hold": 3.0, "baseline": 10.0, "min_requests": 5}


def test_settings_come_from_the_scenario_echo() -> None:
    results = build(30, lambda i: (20.0, 10, {}))
    results.scenario = {"recovery": {"tolerance": "20%", "error_tolerance": "0.5%", "hold": 5.0, "baseline": 8.0, "min_requests": 3}}
    assert measure(results)["settings"] == {"tolerance": 20.0, "error_tolerance": 0.5, "hold": 5.0, "baseline": 8.0, "min_requests": 3}
    assert measure(results)["events"] == []


def test_a_burst_without_baseline_has_its_peak_in_its_own_window_not_the_next_bursts() -> None:
    # burst 1 sends nothing (the workers were late) and has no baseline; burst 2 is slow
    plan = [
        {"start": 0.0, "end": 2.0, "rate_from": 0, "rate_to": 0, "label": "idle 1"},
        {"start": 2.0, "end": 5.0, "rate_from": 100, "rate_to": 100, "label": "burst 1"},
        {"start": 5.0, "end": 20.0, "rate_from": 20, "rate_to": 20, "label": "idle 2"},
        {"start": 20.0, "end": 23.0, "rate_from": 100, "rate_to": 100, "label": "burst 2"},
        {"start": 23.0, "end": 35.0, "rate_from": 20, "rate_to": 20, "label": "idle 3"},
    ]

    def second(i: int) -> tuple[float, int, dict[str, int]]:
        if i < 6:
            return 0.0, 0, {}
        return (51.9 if 21 <= i < 24 else 12.0), 20, {}

    first, second_burst = measure(build(35, second, plan=plan))["events"]
    assert first["status"] == "no baseline" and second_burst["peak"]["p95_ms"] == pytest.approx(51.9, rel=0.01)
    assert first["peak"]["p95_ms"] == pytest.approx(12.0, rel=0.01)  # its own seconds, up to burst 2: never burst 2's 51.9
    assert first["peak"]["above_baseline"] is None and second_burst["peak"]["above_baseline"] is True


def test_a_peak_that_did_not_rise_above_the_baseline_says_so() -> None:
    # the fault changed nothing the client saw: its worst second is below the baseline's p95
    def second(i: int) -> tuple[float, int, dict[str, int]]:
        return (31.4 if i < 20 else 30.0), 50, {}

    event = measure(build(40, second, faults=[fault("harmless", "latency", 20.0, 25.0)]))["events"][0]
    assert event["peak"]["p95_ms"] < event["baseline"]["p95_ms"] and event["peak"]["above_baseline"] is False
    assert event["status"] == "recovered" and event["recovery_time"] == 0.0


def test_a_recovery_time_is_one_whole_second_figure_in_the_table_the_summary_and_the_gate_line() -> None:
    from harness.gates import evaluate
    from harness.report.tables import recovery_rows, recovery_summary

    def second(i: int) -> tuple[float, int, dict[str, int]]:
        return (400.0 if 21 <= i < 37 else 25.0), 40, {}

    results = build(60, second, faults=[fault("cold", "latency", 20.6, 30.0)])
    annotate(results)
    (row,) = recovery_rows(results.recovery)
    assert row["recovery"] == "7 s"
    summary = recovery_summary(results.recovery)
    assert summary == "Recovery: 1 event, 1 recovered; median recovery time 7 s; worst 7 s. Recovery times are in whole seconds, exact to a second."
    (line,) = evaluate(["max_recovery_time < 10s"], results=results).summary_lines()
    assert line == "PASS max_recovery_time < 10s: 7 s (limit 10 s); worst: cold, of 1 events"
    (median,) = evaluate(["recovery_time < 10s"], results=results).summary_lines()
    assert median.endswith("(worst 7 s)")


def test_the_recovery_table_says_when_the_worst_second_was_no_worse_than_the_baseline() -> None:
    from harness.report.tables import recovery_rows

    def second(i: int) -> tuple[float, int, dict[str, int]]:
        return (31.4 if i < 20 else 30.0), 50, {}

    (row,) = recovery_rows(measure(build(40, second, faults=[fault("harmless", "latency", 20.0, 25.0)])))
    assert row["peak"] == "no rise above the baseline (worst second 30.0 ms / 0.00%)"


def test_the_report_says_a_throttle_faults_limit_is_per_route() -> None:
    from harness.report.tables import recovery_rows

    rows = recovery_rows({"events": [
        {"name": "lower", "kind": "stage_throttle", "status": "recovered", "start": 1, "end": 2, "recovery_time": 1.0},
        {"name": "local", "kind": "throttle", "status": "recovered", "start": 3, "end": 4, "recovery_time": 1.0},
        {"name": "slow", "kind": "latency", "status": "recovered", "start": 5, "end": 6, "recovery_time": 1.0},
    ]})  # fmt: skip
    assert [r["kind"] for r in rows] == ["stage_throttle (limit per route)", "throttle (limit per route)", "latency"]
