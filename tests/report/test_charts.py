"""Charts: six PNGs with ids and titles; a missing data source is named, never drawn as zeros."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from PIL import Image

from harness.report.charts import NO_CLOUDWATCH, build_charts
from harness.report.quantiles import FlatHistograms
from harness.report.server import ServerMetrics
from harness.report.timeline import Timeline
from harness.results import ResultSet

IDS = ["chart-rate", "chart-latency", "chart-server-latency", "chart-throttles", "chart-errors", "chart-dropped"]


def charts_for(results: ResultSet, metrics: pd.DataFrame | None) -> dict[str, object]:
    flat = FlatHistograms.of(results)
    charts = build_charts(Timeline.of(results, flat_ok=flat), ServerMetrics(metrics), results.plan, flat_ok=flat)
    return {c.id: c for c in charts}


def test_six_png_charts_with_ids_titles_and_alt_text(results: ResultSet, metrics: pd.DataFrame) -> None:
    charts = charts_for(results, metrics)
    assert list(charts) == IDS
    for chart in charts.values():
        image = Image.open(io.BytesIO(chart.png))
        assert image.format == "PNG"
        assert image.size == chart.size and image.size[0] > 800 and image.size[1] > 200
        assert chart.title and chart.alt and chart.caption
        assert chart.data_uri.startswith("data:image/png;base64,iVBORw0KGgo")
        # not a blank picture: some pixels are far from white
        assert min(image.convert("L").getextrema()) < 100


def test_with_cloudwatch_every_source_is_drawn(results: ResultSet, metrics: pd.DataFrame) -> None:
    charts = charts_for(results, metrics)
    server = charts["chart-server-latency"]
    assert server.series == ["client p95 per second", "client p95 per 60 s", "API Gateway Latency p95", "API Gateway IntegrationLatency p95"]
    assert server.notes == []
    assert any("Gaps are CloudWatch periods without datapoints" in i for i in server.info)  # the frame has a missing period
    throttles = charts["chart-throttles"]
    assert throttles.series == ["client: HTTP 429 / s", "API Gateway 4xx / s", "Lambda Throttles / s", "Cognito throttles / s"]
    assert charts["chart-rate"].series == ["planned requests / s", "achieved: requests sent / s", "ok responses / s"]
    assert charts["chart-latency"].series == ["client p50", "client p95", "client p99"]
    assert charts["chart-errors"].series == ["throttled (429)", "server (5xx)", "transport (no response)"]
    assert charts["chart-dropped"].series == ["dropped iterations / s"]


def test_without_cloudwatch_the_chart_says_so_instead_of_zeros(results: ResultSet) -> None:
    charts = charts_for(results, None)
    server, throttles = charts["chart-server-latency"], charts["chart-throttles"]
    assert server.series == ["client p95 per second"]
    assert server.notes == [NO_CLOUDWATCH + ": only the client's p95 is shown"]
    assert throttles.series == ["client: HTTP 429 / s"]
    assert throttles.notes == [NO_CLOUDWATCH + ": only the client's 429s are shown"]
    assert NO_CLOUDWATCH == "no CloudWatch data for this run"


def test_one_missing_layer_is_named(results: ResultSet, metrics: pd.DataFrame) -> None:
    charts = charts_for(results, metrics[metrics["layer"] != "lambda"])
    throttles = charts["chart-throttles"]
    assert "Lambda Throttles / s" not in throttles.series
    # a layer the scenario did not measure reads as "not measured", never as zero throttles
    assert throttles.notes == ["Lambda Throttles: no data (not measured: the scenario names no functions in target.lambda_functions)"]


def test_empty_run_still_renders_with_messages() -> None:
    charts = charts_for(ResultSet(), None)
    assert list(charts) == IDS
    assert charts["chart-rate"].notes == ["no plan recorded for this run: only the achieved rate is shown", "no requests were recorded"]
    assert charts["chart-dropped"].notes[0].startswith("no pacer data")
    for chart in charts.values():
        assert Image.open(io.BytesIO(chart.png)).size[0] > 0


def test_a_chart_with_nothing_in_it_is_one_sentence() -> None:
    results = ResultSet()
    for s in range(5):
        results.record("a", "ok", 200, start_time=100 + s, response_time_ms=10)
        results.record_pacer(100 + s, target=1, released=1)
    charts = charts_for(results, None)
    for chart_id, sentence in [
        ("chart-errors", "No errors: every request got an expected status."),
        ("chart-dropped", "No iterations were dropped: a virtual user was free for every planned request."),
        ("chart-throttles", "No throttling: the client saw no rejected requests."),
    ]:
        chart = charts[chart_id]
        assert chart.empty and chart.png == b"" and chart.size == (0, 0) and chart.sentence == sentence
    assert not charts["chart-rate"].empty
    assert charts["chart-rate"].series[0] == "planned requests / s"  # no plan: the pacer's per-second target


def test_plan_and_measurements_share_the_second_boundaries() -> None:
    """A plan that starts mid-second (x.6) and steps at 3 s: the planned line is the pacer's
    count per whole second, drawn on the same edges as the measured lines, so the measured
    step cannot appear half a second before the planned one."""
    results = ResultSet(meta={"started_at": 1000.6})
    results.plan = [{"start": 0.0, "end": 3.0, "rate_from": 10.0, "rate_to": 10.0}, {"start": 3.0, "end": 6.0, "rate_from": 50.0, "rate_to": 50.0}]
    planned = {1000: 4.0, 1001: 10.0, 1002: 10.0, 1003: 10 * 0.6 + 50 * 0.4, 1004: 50.0, 1005: 50.0, 1006: 30.0}
    for second, target in planned.items():
        results.record_pacer(second, target=target, released=int(target))
        for i in range(int(target)):
            results.record("a", "ok", 200, start_time=second + i / target, response_time_ms=5)
    chart = charts_for(results, None)["chart-rate"]
    edges = chart.edges
    assert edges["planned requests / s"] == edges["achieved: requests sent / s"] == edges["ok responses / s"]
    assert [e + 1000.6 for e in edges["planned requests / s"]] == pytest.approx(list(range(1000, 1007)))
    assert not any("drawn as planned" in i for i in chart.info)


def test_client_429s_and_api_gateway_4xx_are_told_apart(results: ResultSet, metrics: pd.DataFrame) -> None:
    """Different colours and styles: the client's 429s are an area, each CloudWatch layer a dashed line."""
    throttles = charts_for(results, metrics)["chart-throttles"]
    assert throttles.series[:2] == ["client: HTTP 429 / s", "API Gateway 4xx / s"]
    assert throttles.png and not throttles.empty


def test_api_gateway_latency_below_integration_latency_is_explained(results: ResultSet, metrics: pd.DataFrame) -> None:
    below = metrics.copy()
    latency = (below["key"] == "latency") & (below["stat"] == "p95")
    below.loc[latency, "value"] = 0.5  # throttled requests pull Latency's p95 down
    chart = charts_for(results, below)["chart-server-latency"]
    assert any("below IntegrationLatency p95" in i and "never reach the integration" in i for i in chart.info)
    assert "only while every request reaches the integration" in chart.caption


def test_a_series_without_datapoints_is_named_not_drawn(results: ResultSet, metrics: pd.DataFrame) -> None:
    empty = metrics.copy()
    empty.loc[empty["layer"] == "cognito", "value"] = float("nan")
    throttles = charts_for(results, empty)["chart-throttles"]
    assert "Cognito throttles / s" not in throttles.series
    assert throttles.notes == ["Cognito throttles / s: no data (CloudWatch returned no datapoints)"]


def test_drops_that_late_workers_skipped_are_told_as_late_starts_not_as_missing_virtual_users(results: ResultSet) -> None:
    from harness.report.tables import late_starts

    dropped = results.pacer_totals().dropped
    assert dropped > 0
    late_meta = {"shards": [{"index": 0, "late_start_ms": 0.0, "skipped": 0}, {"index": 3, "late_start_ms": 13_200.0, "skipped": dropped}],
                 "generator": {"late_start_ms": 13_200.0, "skipped": dropped}}  # fmt: skip
    late = late_starts(late_meta)
    assert late == (dropped, f"{dropped:,} of them were skipped by 1 worker that started late (up to 13.2 s): raise fanout.start_lead")
    flat = FlatHistograms.of(results)
    timeline = Timeline.of(results, flat_ok=flat)
    all_late = {c.id: c for c in build_charts(timeline, ServerMetrics(None), results.plan, flat_ok=flat, late=late)}["chart-dropped"]
    assert "started late" in all_late.caption and "add virtual users" not in all_late.caption
    some_late = {c.id: c for c in build_charts(timeline, ServerMetrics(None), results.plan, flat_ok=flat, late=(1, "1 of them was skipped"))}["chart-dropped"]
    assert "1 of them was skipped" in some_late.caption and f"the other {dropped - 1:,} mean" in some_late.caption
    assert late_starts({"generator": {"late_start_ms": 3.0, "skipped": 0}}) is None  # a few ms late, nothing skipped: no story
