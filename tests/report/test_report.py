"""write_report: report.html (self-contained), summary.md and verdict.json in the run folder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import harness.report
from harness.gates import evaluate
from harness.report import ReportFiles, write_report
from harness.results import ResultSet

from .synthetic import Model, synthetic_results

TARGET = "https://abc123.execute-api.eu-west-1.amazonaws.com"


def external_references(html: str) -> list[str]:
    """Everything in the page that would make a browser fetch something from elsewhere."""
    patterns = [
        r"<script\b",  # no scripts at all, inline or not
        r"<link\b",
        r"<iframe\b",
        r"<object\b",
        r"<embed\b",
        r"@import",
        r"url\(\s*['\"]?(?!data:)[^'\"\s)]",
        r"\b(?:src|href|srcset|poster|action)\s*=\s*['\"]?(?!data:|#)[^'\"\s>]",
    ]
    found = [m.group(0) for p in patterns for m in re.finditer(p, html, re.I)]
    # any absolute URL other than the target's plain text
    found += [u for u in re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'<)]*", html, re.I) if u != TARGET]
    return found


def test_public_api() -> None:
    assert harness.report.__all__ == ["ReportFiles", "write_report"]


def test_write_report_writes_three_files(report: ReportFiles) -> None:
    files = report
    assert isinstance(files, ReportFiles)
    run_dir = files.html.parent
    assert files.summary == run_dir / "summary.md" and files.verdict == run_dir / "verdict.json" and files.html.name == "report.html"
    assert all(p.exists() and p.stat().st_size > 0 for p in files)
    assert sorted(p.name for p in run_dir.iterdir()) == ["report.html", "summary.md", "verdict.json"]  # no temp files left
    written = json.loads(files.verdict.read_text())
    assert written["passed"] is False and written["total"] == 3
    assert [g["expression"] for g in written["gates"]] == ["server_error_rate < 0.1%", "p95 < 250ms", '"list items".p99 < 1s']  # failing first
    table = files.html.read_text().split('<table id="gates">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="gate-(failed|passed)">', table)
    assert rows == ["failed", "passed", "passed"]  # the report's table too


def test_no_verdict_writes_an_empty_passing_one(tmp_path: Path, results: ResultSet) -> None:
    files = write_report(tmp_path, results=results)
    assert json.loads(files.verdict.read_text()) == {"passed": True, "gates": []}
    html = files.html.read_text()
    assert 'data-verdict="no gates"' in html and "No gates" in html
    assert "No CloudWatch data for this run" in html
    assert html.count("no CloudWatch data for this run") >= 2  # in place of the missing series


def test_results_default_to_the_run_folder(tmp_path: Path, results: ResultSet) -> None:
    results.save(tmp_path / "results.json")
    files = write_report(tmp_path)
    assert "list items" in files.html.read_text()


def test_html_shows_verdict_facts_endpoints_and_charts(report: ReportFiles) -> None:
    html = report.html.read_text()
    assert 'data-verdict="failed"' in html and "FAILED – 1 of 3 gates failed" in html
    banner = html[html.index('id="verdict"') : html.index("</section>", html.index('id="verdict"'))]
    assert banner.index("server_error_rate &lt; 0.1%") < banner.index("p95 &lt; 250ms")  # failing gate first
    assert "0.19 %" in banner and "0.10 %" in banner  # actual vs threshold
    for text in ("spike", TARGET, "2025-11-26 15:00:00 UTC", "2025-11-26 15:02:01 UTC", "completed", "harness 0.1.0", "Virtual users", "Workers"):
        assert text in html, text
    for name in ("list items", "get item", "my profile", "create order", "Total"):
        assert f'data-endpoint="{name}"' in html
    for chart in ("chart-rate", "chart-latency", "chart-server-latency", "chart-throttles", "chart-errors", "chart-dropped"):
        assert re.search(rf'<img id="{chart}" src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="[^"]+" width="\d+" height="\d+">', html), chart
    assert 'id="throttle-summary"' in html and "First throttling seen: API Gateway 4xx" in html
    assert "Do the counts reconcile?" in html and "an exact match" in html


def test_html_is_self_contained(tmp_path: Path, results: ResultSet, metrics: pd.DataFrame, verdict: dict[str, Any]) -> None:
    base = synthetic_results(Model(seed=3))
    html = write_report(tmp_path, results=results, metrics=metrics, verdict=verdict, baseline=base, baseline_metrics=metrics).html.read_text()
    assert external_references(html) == []
    assert "<style>" in html and html.count(TARGET) >= 1
    # the checker itself finds what it should
    assert external_references('<script src="https://cdn.example.com/x.js"></script>')
    assert external_references('<link href="http://fonts.example.com/f.css" rel=stylesheet>')
    assert external_references('<img src="http://example.com/a.png">')
    assert external_references("<style>@import 'x.css'; a { background: url(http://e.com/b.png) }</style>")


def test_no_secrets_or_environment_in_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-K7MDENG-not-a-real-key")
    results = synthetic_results()
    results.scenario = {"name": "spike", "auth": {"password_secret": "arn:aws:secretsmanager:eu-west-1:1:secret:pw-Sup3rS3cret"}}
    files = write_report(tmp_path, results=results)
    for path in files:
        text = path.read_text()
        assert "wJalrXUtnFEMI" not in text and "Sup3rS3cret" not in text and "secretsmanager" not in text


def test_a_real_verdict_object_from_gates(tmp_path: Path, results: ResultSet, metrics: pd.DataFrame) -> None:
    verdict = evaluate(["p95 < 1s", "throttle_rate < 1%", "server.p95 < 2s"], results=results, metrics=metrics)
    files = write_report(tmp_path, results=results, metrics=metrics, verdict=verdict)
    assert json.loads(files.verdict.read_text()) == json.loads(json.dumps(verdict.to_dict()))
    html = files.html.read_text()
    assert "FAILED – 1 of 3 gates failed" in html and "throttle_rate &lt; 1%" in html


def test_summary_markdown(tmp_path: Path, report: ReportFiles, results: ResultSet) -> None:
    md = report.summary.read_text()
    lines = md.splitlines()
    assert lines[0] == "## ❌ spike: 1 of 3 gates failed"
    assert "| `server_error_rate < 0.1%` | ❌ failed | 0.19 % | 0.10 % | 0.19 % of requests got 5xx |" in md
    assert "### Endpoints" in md and "### Who throttled" in md
    total = next(line for line in lines if line.startswith("| **Total** |"))
    assert f"| {results.total:,} |" in total
    table = md[md.index("### Endpoints") : md.index("### Who throttled")].splitlines()
    assert sum(1 for line in table if line.startswith("| ") and "ms |" in line) == 5  # 4 endpoints + Total
    assert "1. **API Gateway**" in md and "- Cognito: not throttled" in md
    assert "Compared with the baseline" not in md
    passed = write_report(
        tmp_path / "p",
        results=results,
        verdict={
            "passed": True,
            "gates": [{"expression": "p95 < 1s", "passed": True, "actual": 59.6, "threshold": 1000, "unit": "ms", "reason": "", "endpoint": None}],
        },
    )
    assert passed.summary.read_text().startswith("## ✅ spike: all 1 gate passed")


def test_baseline_side_by_side(tmp_path: Path, metrics: pd.DataFrame) -> None:
    base = synthetic_results(Model(median_ms=18.0, seed=1))
    slower = synthetic_results(Model(median_ms=25.0, seed=1))
    files = write_report(tmp_path, results=slower, metrics=metrics, baseline=base, baseline_metrics=metrics)
    html = files.html.read_text()
    assert 'id="baseline-table"' in html and 'id="regression-warning"' in html
    row = html[html.index('data-endpoint="Total"', html.index('id="baseline-table"')) :]
    row = row[: row.index("</tr>")]
    assert re.search(r'data-metric="p95_ms" data-flag="regression"', row)
    assert re.search(r'data-metric="requests">', row)  # never judged
    assert "was " in row and "%)" in row
    assert 'id="baseline-server-table"' in html
    md = files.summary.read_text()
    assert "### Compared with the baseline" in md and "🔺" in md and "**Regressed against the baseline: latency**" in md
    assert re.search(r"^- Total p95: [\d.]+ ms → [\d.]+ ms \(\+[\d.]+ %\)$", md, re.M)
    assert 'data-kinds="latency"' in html and "Regressed against the baseline: latency</div>" in html
    assert 'id="comparability-warning"' not in html
    same = write_report(tmp_path / "same", results=base, baseline=base)
    assert "No regressions against the baseline." in same.summary.read_text()
    assert 'id="regression-warning"' not in same.html.read_text()


def test_baseline_headline_names_what_regressed_and_warns_when_runs_differ(tmp_path: Path) -> None:
    """Latency 85 % lower and only the achieved rate down, in a run of another scenario: the
    headline says the rate regressed (not "slower"), latency improved, and warns first that
    the runs are not like for like."""
    base = synthetic_results(Model(median_ms=100.0, seed=1, scenario="big", profile="steady"))
    half = [{**seg, "rate_from": seg["rate_from"] / 2, "rate_to": seg["rate_to"] / 2} for seg in Model().plan]
    other = synthetic_results(Model(median_ms=15.0, seed=1, plan=half, scenario="small"))
    html = write_report(tmp_path, results=other, baseline=base).html.read_text()
    warning, regression = html.index('id="comparability-warning"'), html.index('id="regression-warning"')
    assert warning < regression
    assert "the baseline ran scenario &#39;big&#39;, this run &#39;small&#39;" in html
    assert "the planned load differs" in html
    assert "Regressed against the baseline: achieved rate; improved: latency and errors" in html
    assert "Slower" not in html
    md = (tmp_path / "summary.md").read_text()
    assert "Not like for like: the baseline ran scenario 'big'" in md
    assert "**Regressed against the baseline: achieved rate; improved: latency and errors**" in md and "- Total achieved rate:" in md


def test_interrupted_run_is_flagged(tmp_path: Path) -> None:
    results = synthetic_results(Model(status="interrupted"))
    results.meta["error"] = "stopped by SIGINT after 1:10"
    files = write_report(tmp_path, results=results)
    html = files.html.read_text()
    assert 'id="status-warning"' in html and "Run interrupted" in html and "stopped by SIGINT" in html
    assert "status **interrupted**" in files.summary.read_text()
    # gates on part of a run are shown, never as the run's verdict
    passing = {
        "passed": True,
        "gates": [{"expression": "p95 < 1s", "passed": True, "actual": 59.6, "threshold": 1000, "unit": "ms", "reason": "", "endpoint": None}],
    }
    judged = write_report(tmp_path / "gates", results=results, verdict=passing)
    html = judged.html.read_text()
    assert 'data-verdict="not judged"' in html and "PASSED" not in html and "Not judged – the run was interrupted" in html
    assert judged.summary.read_text().startswith("## ⚠️ spike: run interrupted, not judged")


def test_an_interrupted_run_shows_one_yellow_banner_that_says_why(tmp_path: Path) -> None:
    results = synthetic_results(Model(status="interrupted"))
    results.meta["error"] = "stopped by SIGINT after 1:10"
    passing = {
        "passed": True,
        "gates": [{"expression": "p95 < 1s", "passed": True, "actual": 59.6, "threshold": 1000, "unit": "ms", "reason": "", "endpoint": None}],
    }
    for name, verdict in (("gates", passing), ("none", None)):
        html = write_report(tmp_path / name, results=results, verdict=verdict).html.read_text()
        banners = re.findall(r'<section class="banner warn"[^>]*>', html)
        assert len(banners) == 1, (name, banners)  # not a verdict banner and a status banner saying the same
        assert 'data-outcome="not judged"' in banners[0] and html.count("stopped by SIGINT") == 1, name


def test_empty_results(tmp_path: Path) -> None:
    files = write_report(tmp_path, results=ResultSet(run_id="nothing"))
    html = files.html.read_text()
    assert "No responses recorded." in html and "no requests were recorded" in html


def with_retries() -> ResultSet:
    """Two endpoints with the scenario's retry policy: "a" retried some 503s, "b" never had to."""
    results = ResultSet(run_id="r", endpoints={"a": {}, "b": {}})
    results.scenario = {"name": "r", "retry": {"on": [503], "max_attempts": 3, "base": 0.1, "cap": 2.0},
                        "endpoints": [{"name": "a", "retry": None}, {"name": "b", "retry": None}]}  # fmt: skip
    t = 1_764_170_000.0
    for i in range(10):
        results.record("b", "ok", 200, start_time=t + i, response_time_ms=5.0)
        results.record("a", "server" if i < 4 else "ok", 503 if i < 4 else 200, start_time=t + i, response_time_ms=5.0)
    for i in range(4):  # three ok on their first retry; one gave up after two more 503s
        for j, status in enumerate([200] if i < 3 else [503, 503]):
            results.record_retry("a", "ok" if status == 200 else "server", status, start_time=t + i + 0.2 * (j + 1), response_time_ms=6.0)
        results.record_retried("a", "ok_after_retry" if i < 3 else "gave_up", start_time=t + i, elapsed_ms=150.0 + 10 * i)
    results.meta = {"status": "completed", "duration": 10.0}
    return results


def test_retries_get_a_table_of_their_own(tmp_path: Path) -> None:
    files = write_report(tmp_path, results=with_retries())
    html = files.html.read_text()
    table = html[html.index('id="retry-table"') : html.index("</table>", html.index('id="retry-table"'))]
    row_a = table[table.index('data-endpoint="a"') : table.index("</tr>", table.index('data-endpoint="a"'))]
    cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', row_a)
    assert cells[:6] == ["4", "5", "15", "3", "1", "0"]  # retried, retry attempts, attempts, ok after retry, gave up, failed after retry
    assert "on 503 · 3 attempts · backoff 100 ms..2 s" in row_a
    assert 'data-endpoint="b"' in table and 'data-endpoint="Total"' in table  # b has the policy, never needed it
    # the endpoint table still counts first attempts: a's retried successes are not first-try ok
    endpoints = html[html.index('id="endpoint-table"') : html.index("</table>", html.index('id="endpoint-table"'))]
    assert 'data-endpoint="a"' in endpoints
    markdown = files.summary.read_text()
    assert "### Retries" in markdown and "| a | on 503 · 3 attempts · backoff 100 ms..2 s | 4 | 5 | 15 | 3 | 1 | 0 | 0 |" in markdown


def test_no_retry_table_without_retries(report: ReportFiles) -> None:
    assert 'id="retry-table"' not in report.html.read_text()
    assert "### Retries" not in report.summary.read_text()
