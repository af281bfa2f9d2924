"""Live progress: the load process's snapshots, and how the CLI shows them (a live line on a
terminal, a plain line every 10 s otherwise)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from harness.plan import build_plan
from harness.progress import LiveProgress, ProgressTracker, progress_line, read_progress, write_progress
from harness.results import ResultSet
from harness.scenario import Steady

T0 = 1_700_000_000.0


def run_so_far(seconds: int, *, rate: int = 10, throttled_every: int = 5) -> ResultSet:
    """``seconds`` whole seconds at ``rate`` rps from T0: every ``throttled_every``-th request is a
    429, the rest ok at 10..19 ms; the pacer planned ``rate`` a second and dropped one in the 3rd."""
    results = ResultSet(endpoints={"a": {}})
    for s in range(seconds):
        for i in range(rate):
            throttled = i % throttled_every == 0
            results.record("a", "throttled" if throttled else "ok", 429 if throttled else 200, start_time=T0 + s + i / rate, response_time_ms=10 + i)
        results.record_pacer(int(T0) + s, target=rate, released=rate - (s == 2), dropped=int(s == 2))
    return results


def test_a_snapshot_has_what_the_progress_line_shows() -> None:
    plan = build_plan(Steady(profile="steady", rate=10, duration=60))
    tracker = ProgressTracker(plan=plan, planned_duration=60, profile="steady")
    results = run_so_far(20)
    snap = tracker.snapshot(results, started_at=T0, now=T0 + 20.2)
    assert snap["phase"] == "running" and round(snap["elapsed"], 1) == 20.2 and snap["total"] == 60
    assert snap["requests"] == 200 and snap["errors"] == {"throttled": 40}
    assert snap["planned_rps"] == 10.0 and snap["achieved_rps"] == 10.0
    assert snap["p95_ms"] == 19.0  # ok requests only: 11..14, 16..19 ms
    assert (snap["planned"], snap["dropped"], snap["planned_total"]) == (200, 1, 600)
    # the next second only looks at what is new: totals keep growing, nothing is counted twice
    later = tracker.snapshot(run_so_far(25), started_at=T0, now=T0 + 25.2)
    assert later["requests"] == 250 and later["errors"] == {"throttled": 50} and later["dropped"] == 1
    assert tracker.snapshot(results, started_at=None, now=T0)["phase"] == "preparing"
    assert tracker.snapshot(results, started_at=T0, now=T0 + 61)["phase"] == "draining"


def test_snapshots_travel_through_a_file(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    assert read_progress(path) is None
    write_progress(path, {"elapsed": 3.0, "total": 10.0, "phase": "running", "requests": 7})
    assert read_progress(path) == {"elapsed": 3.0, "total": 10.0, "phase": "running", "requests": 7}
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]  # written atomically, no leftovers


def test_the_plain_line_names_rates_p95_errors_and_drops() -> None:
    snap = {"elapsed": 20.2, "total": 60.0, "phase": "running", "planned_rps": 300.0, "achieved_rps": 296.6, "requests": 5930,
            "p95_ms": 45.12, "errors": {"throttled": 12, "server": 3}, "planned": 6000, "dropped": 4}  # fmt: skip
    assert progress_line(snap) == "0:20 / 1:00 (33%) · planned 300 rps, achieved 297 rps · 5,930 requests · p95 45.1 ms · errors: 429 12, 5xx 3 · dropped 4"
    assert progress_line(None, elapsed=3.0, total=60.0) == "0:03 preparing: signing in the virtual users"


def test_the_share_of_time_agrees_with_the_clock_shown() -> None:
    snap = {"elapsed": 8.7, "total": 10.0, "phase": "running", "requests": 87, "errors": {}}
    assert progress_line(snap).startswith("0:08 / 0:10 (80%) · ")


@pytest.mark.parametrize("offset", [0.4, 0.9])
def test_partial_first_and_last_seconds_are_not_counted_as_whole(offset: float) -> None:
    """A 10 rps plan sent exactly to plan, started mid-second: 10 rps planned and achieved, at
    the start (the first second is partial) and after the end (so is the last). Counted whole,
    they said 9 (planned) and 8 (achieved)."""
    started = T0 + offset
    plan = build_plan(Steady(profile="steady", rate=10, duration=10))
    results = ResultSet(endpoints={"a": {}})
    for k in range(plan.total):
        at = started + plan.release_time(k)
        results.record("a", "ok", 200, start_time=at, response_time_ms=10)
        results.record_pacer(int(at), target=1, released=1)
    for now in (started + 3.6, started + 4.2, started + 10.8, started + 11.5):
        tracker = ProgressTracker(plan=plan, planned_duration=10, profile="steady")
        snap = tracker.snapshot(results, started_at=started, now=now)
        # requests are counted per whole second: within one request over the >= 3 s looked at
        assert snap["planned_rps"] == pytest.approx(10.0) and snap["achieved_rps"] == pytest.approx(10.0, abs=0.4), (now - started, snap)
        assert "planned 10 rps, achieved " in progress_line(snap)


def test_not_a_terminal_prints_a_plain_line_every_interval() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=300)
    snap = {"elapsed": 5.0, "total": 60.0, "phase": "running", "requests": 50, "errors": {}}
    with LiveProgress(console=console, total=60.0, interval=10.0) as progress:
        progress.update(snap, elapsed=5.0)
        progress.update({**snap, "elapsed": 6.0}, elapsed=6.0)  # within the interval: nothing printed
        progress._last_plain -= 10.0  # as if 10 s had passed
        progress.update({**snap, "elapsed": 16.0, "requests": 160}, elapsed=16.0)
    lines = buffer.getvalue().splitlines()
    assert lines == [
        "0:05 / 1:00 (8%) · 50 requests · p95 – · errors: none",
        "0:16 / 1:00 (27%) · 160 requests · p95 – · errors: none",  # the last state is not repeated at the end
    ]


def test_a_terminal_gets_a_live_bar() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160)
    with LiveProgress(console=console, total=60.0) as progress:
        assert progress.live is not None
        progress.update({"elapsed": 30.0, "total": 60.0, "phase": "running", "requests": 300, "errors": {}}, elapsed=30.0)
    assert "0:30 / 1:00 (50%)" in buffer.getvalue()


def test_a_fanout_runs_snapshot_adds_up_its_shards_rates_and_keeps_the_slowest_p95() -> None:
    from harness.progress import combine_snapshots

    shards = [
        {"phase": "running", "elapsed": 10.0, "total": 30.0, "profile": "steady", "planned_rps": 20.0, "achieved_rps": 19.0, "requests": 190,
         "p95_ms": 40.0, "errors": {"throttled": 2}, "planned": 200.0, "dropped": 1},
        {"phase": "done", "elapsed": 11.0, "total": 30.0, "profile": "steady", "planned_rps": 20.0, "achieved_rps": 18.5, "requests": 185,
         "p95_ms": 55.5, "errors": {"throttled": 1, "server": 3}, "planned": 200.0, "dropped": 0},
        {"requests": 0, "status": "running"},  # a worker still signing in: not measuring yet
    ]  # fmt: skip
    combined = combine_snapshots(shards)
    assert (combined["planned_rps"], combined["achieved_rps"], combined["requests"]) == (40.0, 37.5, 375)
    assert combined["p95_ms"] == 55.5 and combined["errors"] == {"throttled": 3, "server": 3}
    assert (combined["planned"], combined["dropped"], combined["phase"], combined["elapsed"]) == (400.0, 1, "running", 11.0)
    # the slowest shard's p95 bounds the run's from above; it is no merged p95, and says so
    assert "planned 40 rps, achieved 38 rps" in progress_line(combined) and "p95 ≤ 55.5 ms" in progress_line(combined)
    one = combine_snapshots(shards[:1])
    assert "p95 40.0 ms" in progress_line(one)  # one shard's p95 is the run's
    assert combine_snapshots([{"requests": 0}]) == {"phase": "preparing"}


def test_a_fanout_progress_line_shows_planned_and_achieved_rate_and_p95_like_harness_run() -> None:
    from harness.fanout.execution import Progress

    snapshot = {"phase": "running", "planned_rps": 40.0, "achieved_rps": 39.0, "p95_ms": 12.25, "requests": 300}
    line = Progress(status="RUNNING", shards=2, done=0, failed=0, requests=300, elapsed=9.0, snapshot=snapshot).line()
    assert line == "running: 0 of 2 shards done, 2 running, 0 failed; 300 requests so far (9 s) · planned 40 rps, achieved 39 rps · p95 12.2 ms"
    written = Progress(status="RUNNING", shards=2, done=0, failed=0, requests=300, elapsed=9.0, snapshot=snapshot).to_snapshot()
    assert {"planned_rps", "achieved_rps", "p95_ms", "shards", "running", "requests", "status"} <= set(written)
