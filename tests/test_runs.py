"""A run folder analysed after the load (``harness.runs``), against a real moto CloudWatch."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest

from harness import metrics
from harness.aws import AwsContext
from harness.results import ResultSet
from harness.runs import analyse_run


def test_a_fanout_runs_worker_lambdas_are_kept_apart_from_the_servers_numbers(
    aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_METRICS_DELAY", "0")
    monkeypatch.setenv(metrics.MIN_PERIOD_ENV, "1")
    worker, api_function = f"harness-worker-{uuid.uuid4().hex[:6]}", f"orders-{uuid.uuid4().hex[:6]}"
    now = time.time()
    stamp = datetime.fromtimestamp(int(now) - 5, tz=timezone.utc)
    cw = boto3.client("cloudwatch")
    for name, invocations, duration in ((worker, 4.0, 9993.0), (api_function, 7.0, 12.0)):
        cw.put_metric_data(Namespace="AWS/Lambda", MetricData=[
            {"MetricName": "Invocations", "Dimensions": [{"Name": "FunctionName", "Value": name}], "Timestamp": stamp, "Value": invocations, "Unit": "Count"},
            {"MetricName": "Duration", "Dimensions": [{"Name": "FunctionName", "Value": name}], "Timestamp": stamp, "Value": duration, "Unit": "Milliseconds"},
        ])  # fmt: skip
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    results = ResultSet(run_id="fanout", endpoints={"list items": {}})
    results.meta.update(started_at=now - 10, ended_at=now, status="completed",
                        fanout={"worker_function": worker, "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:run"})  # fmt: skip
    results.scenario = {"target": {"base_url": "https://example.com", "lambda_functions": [api_function]}}
    results.record("list items", "ok", 200, start_time=now - 5, response_time_ms=10.0)
    results.save(run_dir / "results.json")

    artifacts = analyse_run(run_dir, gates=["lambda.invocations == 7"], aws=AwsContext())

    assert artifacts.verdict.passed, artifacts.verdict.summary_lines()  # the API's function alone, not + the workers' 4
    frame = artifacts.metrics
    assert worker not in set(frame.loc[frame["layer"] == "lambda", "resource"])
    assert metrics.run_value(frame, "invocations", "Sum", "generator") == 4.0  # measured, kept apart in metrics.csv
    html = (run_dir / "report.html").read_text()
    server = html[html.index('id="server-table"'):html.index("</table>", html.index('id="server-table"'))]
    assert "Lambda Invocations" in server and ">7<" in server and "9,993" not in server and ">4<" not in server
