"""The report's resilience timeline: bursts and faults shaded, the abort marked, the Recovery table."""

from __future__ import annotations

import copy
from pathlib import Path

from harness.report import write_report
from harness.report.charts import build_charts
from harness.report.server import ServerMetrics
from harness.report.timeline import Timeline
from harness.results import ResultSet


def with_fault_and_abort(results: ResultSet) -> ResultSet:
    run = copy.deepcopy(results)
    t0 = run.meta["started_at"]
    run.meta["faults"] = [
        {"name": "slow backend", "kind": "latency", "at": 70.0, "duration": 15.0, "started_at": t0 + 70.2, "ended_at": t0 + 85.1,
         "ended_by": "schedule", "error": None, "params": {"ms": 200}},
        {"name": "never on", "kind": "outage", "at": 90.0, "duration": 5.0, "started_at": None, "ended_at": None,
         "ended_by": "failed", "error": "admin API unreachable", "params": {}},
    ]  # fmt: skip
    run.meta["abort"] = {"rule": "error_rate > 50% over 10s", "value": 60.0, "unit": "%", "at": t0 + 110.0, "elapsed": 110.0}
    return run


def test_timeline_charts_shade_bursts_and_actual_fault_windows(results: ResultSet) -> None:
    timeline = Timeline.of(with_fault_and_abort(results))
    assert [(m.name, m.source, round(m.start, 1), round(m.end, 1)) for m in timeline.marks] == [
        ("spike", "plan", 40.0, 60.0), ("slow backend", "fault", 70.2, 85.1)]  # fmt: skip
    assert timeline.abort == 110.0
    charts = {c.id: c for c in build_charts(timeline, ServerMetrics(None), results.plan)}
    assert charts["chart-latency"].marks == ["burst", "fault", "run aborted"]
    assert charts["chart-latency"].series == ["client p50", "client p95", "client p99"]  # the data lines are unchanged
    plain = {c.id: c for c in build_charts(Timeline.of(results), ServerMetrics(None), results.plan)}
    assert plain["chart-rate"].marks == ["burst"] and plain["chart-rate"].png != charts["chart-rate"].png


def test_report_has_a_recovery_table_and_summary_line(tmp_path: Path, results: ResultSet) -> None:
    files = write_report(tmp_path, results=with_fault_and_abort(results))
    html = files.html.read_text(encoding="utf-8")
    assert '<h2 id="recovery">Recovery</h2>' in html and 'id="recovery-table"' in html
    assert 'data-event="spike"' in html and 'data-event="slow backend"' in html and "never on" not in html.split('id="recovery-table"')[1].split("</table>")[0]
    assert "Recovery: 2 events, 2 recovered" in html
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "### Recovery" in summary and "Recovery: 2 events, 2 recovered" in summary and "| slow backend | latency | 1:10–1:25 |" in summary


def test_an_unrecovered_event_is_named_in_the_report(tmp_path: Path, results: ResultSet) -> None:
    run = with_fault_and_abort(results)
    t0 = run.meta["started_at"]
    run.meta["faults"][0]["ended_at"] = t0 + 119.5  # ends with too little run left to hold for 3 s
    write_report(tmp_path, results=run)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'data-status="not recovered"' in html and "not recovered within the run (1 s observed after it)" in html
    assert "worst: never (not recovered: slow backend)" in (tmp_path / "summary.md").read_text(encoding="utf-8")
