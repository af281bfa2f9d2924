"""Writing a report: ``report.html``, ``summary.md`` and ``verdict.json`` into a run directory.

files = write_report(run_dir, results=ResultSet.load(run_dir / "results.json"), verdict=verdict)
files.html     # run_dir / "report.html"
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.results import ResultSet

from .content import NO_GATES, ReportContent
from .html import render_html
from .markdown import render_markdown

__all__ = ["ReportFiles", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    """The files one report wrote."""

    html: Path
    summary: Path
    verdict: Path

    def __iter__(self) -> Iterator[Path]:
        return iter((self.html, self.summary, self.verdict))


def write_report(
    run_dir: str | os.PathLike[str],
    *,
    results: ResultSet | None = None,
    metrics: pd.DataFrame | None = None,
    verdict: dict[str, Any] | Any | None = None,
    baseline: ResultSet | None = None,
    baseline_metrics: pd.DataFrame | None = None,
) -> ReportFiles:
    """Write ``report.html``, ``summary.md`` and ``verdict.json`` into ``run_dir``.

    ``results`` defaults to ``run_dir/results.json``. ``metrics`` is the CloudWatch frame from
    ``harness.metrics`` (None: the report says there is no CloudWatch data). ``verdict`` is the
    ``verdict.json`` dict (or an object with ``to_dict()``); None writes ``{"passed": true,
    "gates": []}``. With ``baseline`` (and ``baseline_metrics``) the report compares the runs.
    Never calls AWS; every file is written atomically.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if results is None:
        results = ResultSet.load(run_dir / "results.json")
    content = ReportContent.build(results=results, metrics=metrics, verdict=verdict, baseline=baseline, baseline_metrics=baseline_metrics)
    files = ReportFiles(html=run_dir / "report.html", summary=run_dir / "summary.md", verdict=run_dir / "verdict.json")
    _write(files.html, render_html(content))
    _write(files.summary, render_markdown(content))
    _write(files.verdict, json.dumps(content.verdict if content.verdict is not None else NO_GATES, indent=2, default=_json_default) + "\n")
    return files


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is meant to be read (CI artifacts, servers)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
