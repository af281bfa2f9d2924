"""The report: one self-contained HTML file, a Markdown summary and the verdict, from results
and data frames (``report/`` never calls AWS).

    from harness.report import write_report
    files = write_report(run_dir, results=results, metrics=frame, verdict=verdict)
    files.html, files.summary, files.verdict

Inside, one module per noun, in the order data flows::

    quantiles.py   FlatHistograms: windows as numpy arrays; percentiles of many groups at once
    timeline.py    Timeline: the run second by second (outcomes, client percentiles, pacer)
    server.py      ServerMetrics: lookups over the CloudWatch frame (whole-run values: harness.metrics.RunValues)
    tables.py      endpoint table, run facts, statuses, transport errors, server values
    analysis.py    who throttled first; deltas and regressions against a baseline
    charts.py      Chart: six matplotlib figures (Agg, no pyplot) as PNG; one with nothing in it is a sentence
    content.py     ReportContent: everything the report says, computed once
    html.py        report.html from templates/report.html.j2 (jinja2)
    markdown.py    summary.md for $GITHUB_STEP_SUMMARY
    junit.py       junit.xml: the gates as JUnit test cases, for CI
    files.py       write_report() and ReportFiles
"""

from __future__ import annotations

from .files import ReportFiles, write_report

__all__ = ["ReportFiles", "write_report"]
