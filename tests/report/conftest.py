"""Fixtures for the report tests: a realistic synthetic run (a spike into API Gateway's throttle
limit), its CloudWatch frame, and a verdict shaped like ``verdict.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.report import ReportFiles, write_report
from harness.results import ResultSet

from .synthetic import Model, synthetic_metrics, synthetic_results


@pytest.fixture(scope="session")
def model() -> Model:
    return Model()


@pytest.fixture(scope="session")
def results(model: Model) -> ResultSet:
    return synthetic_results(model)


@pytest.fixture(scope="session")
def metrics(results: ResultSet, model: Model) -> pd.DataFrame:
    return synthetic_metrics(results, model)


@pytest.fixture(scope="session")
def verdict() -> dict[str, Any]:
    return {
        "passed": False,
        "total": 3,
        "failed": 1,
        "gates": [
            {"expression": "p95 < 250ms", "passed": True, "actual": 59.6, "threshold": 250.0, "unit": "ms", "reason": "", "endpoint": None, "metric": "p95"},
            {
                "expression": "server_error_rate < 0.1%",
                "passed": False,
                "actual": 0.19,
                "threshold": 0.1,
                "unit": "%",
                "reason": "0.19 % of requests got 5xx",
                "endpoint": None,
                "metric": "server_error_rate",
            },
            {
                "expression": '"list items".p99 < 1s',
                "passed": True,
                "actual": 79.2,
                "threshold": 1000.0,
                "unit": "ms",
                "reason": "",
                "endpoint": "list items",
                "metric": "p99",
            },
        ],
    }


@pytest.fixture(scope="session")
def report(tmp_path_factory: pytest.TempPathFactory, results: ResultSet, metrics: pd.DataFrame, verdict: dict[str, Any]) -> ReportFiles:
    """The report of the synthetic run, with its CloudWatch frame and a failing verdict."""
    run_dir: Path = tmp_path_factory.mktemp("run")
    return write_report(run_dir, results=results, metrics=metrics, verdict=verdict)
