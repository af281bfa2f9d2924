"""Charts: six PNGs with ids and titles; a missing data source is named, never drawn as zeros."""

from __future__ import annotations

import io

import pandas as pd
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
    assert charts["chart-rate"].series == ["planned rate", "achieved: requests sent / s", "ok responses / s"]
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
    assert throttles.notes == ["no Lambda Throttles in the CloudWatch data"]


def test_empty_run_still_renders_with_messages() -> None:
    charts = charts_for(ResultSet(), None)
    assert list(charts) == IDS
    assert charts["chart-rate"].notes == ["no plan recorded for this run: only the achieved rate is shown", "no requests were recorded"]
    assert charts["chart-dropped"].notes[0].startswith("no pacer data")
    for chart in charts.values():
        assert Image.open(io.BytesIO(chart.png)).size[0] > 0


def test_clean_run_explains_the_empty_error_chart() -> None:
    results = ResultSet()
    for s in range(5):
        results.record("a", "ok", 200, start_time=100 + s, response_time_ms=10)
        results.record_pacer(100 + s, target=1, released=1)
    charts = charts_for(results, None)
    assert charts["chart-errors"].series == [] and charts["chart-errors"].info == ["No errors: every request got an expected status"]
    assert charts["chart-dropped"].info[0].startswith("No iterations were dropped")
    assert charts["chart-rate"].series[0] == "target (pacer)"  # no plan: the pacer's per-second target


def test_a_series_without_datapoints_is_named_not_drawn(results: ResultSet, metrics: pd.DataFrame) -> None:
    empty = metrics.copy()
    empty.loc[empty["layer"] == "cognito", "value"] = float("nan")
    throttles = charts_for(results, empty)["chart-throttles"]
    assert "Cognito throttles / s" not in throttles.series
    assert throttles.notes == ["no datapoints for Cognito throttles / s in the CloudWatch data"]
