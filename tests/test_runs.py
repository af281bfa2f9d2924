"""A run's id and folder (a name, never a path, never an earlier run's folder), and a run folder
analysed after the load (``harness.runs``), against a real moto CloudWatch."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from harness import metrics
from harness.aws import AwsContext
from harness.errors import UsageError
from harness.results import ResultSet
from harness.runs import analyse_run, claim_run_dir, is_run_id, new_run_id, run_folder


@pytest.mark.parametrize("run_id", ["../../tmp/evil", "a/b", "..", ".", "nightly.1", "", "a" * 81, "/abs", "x y", "é"])
def test_a_run_id_is_a_name_not_a_path(run_id: str) -> None:
    assert not is_run_id(run_id)


@pytest.mark.parametrize("run_id", ["uni-1", "nightly_42", "A", "a" * 80])
def test_letters_digits_dash_and_underscore_make_a_run_id(run_id: str) -> None:
    assert is_run_id(run_id)


def test_a_new_run_id_is_valid_and_fresh() -> None:
    first, second = new_run_id(), new_run_id()
    assert is_run_id(first) and first != second


def test_a_run_id_that_leaves_reports_is_refused_naming_the_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as info:
        run_folder(run_id="../../tmp/evil", results_dir=None)
    assert str(info.value).startswith("--run-id '../../tmp/evil': a run id is a name: letters, digits, '-' and '_'")
    assert info.value.exit_code == 2 and not list(tmp_path.iterdir())


def test_the_default_folder_is_reports_run_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_folder(run_id="uni-1", results_dir=None) == ("uni-1", Path("reports/uni-1"))
    run_id, path = run_folder(run_id=None, results_dir=tmp_path / "here")
    assert is_run_id(run_id) and path == tmp_path / "here"


def test_an_earlier_run_folder_is_refused_unless_overwrite_and_then_only_its_run_files_go(tmp_path: Path) -> None:
    earlier = tmp_path / "uni-1"
    earlier.mkdir()
    for name in ("results.json", "metrics.csv", "verdict.json", "junit.xml", "report.html", "summary.md", "locust.log", "locust_stats.csv", "notes.txt"):
        (earlier / name).write_text("earlier run")
    with pytest.raises(UsageError) as info:
        claim_run_dir(earlier)
    assert str(info.value).startswith(f"{earlier}: a run folder that already holds a run") and "--overwrite" in str(info.value)
    assert (earlier / "results.json").read_text() == "earlier run"  # refused: nothing touched
    claim_run_dir(earlier, overwrite=True)
    assert sorted(p.name for p in earlier.iterdir()) == ["notes.txt"]  # not ours: left alone


def test_a_folder_with_only_what_a_run_writes_before_load_is_refused_too(tmp_path: Path) -> None:
    started = tmp_path / "run"
    started.mkdir()
    (started / "locust.out").write_text("")
    with pytest.raises(UsageError):
        claim_run_dir(started)


def test_an_empty_or_missing_folder_is_free(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    claim_run_dir(tmp_path / "empty")
    claim_run_dir(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file, not a run folder"):
        claim_run_dir(tmp_path / "file")


def test_a_fanout_runs_worker_lambdas_are_kept_apart_from_the_servers_numbers(aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_METRICS_DELAY", "0")
    monkeypatch.setenv(metrics.MIN_PERIOD_ENV, "1")
    worker, api_function = f"harness-worker-{uuid.uuid4().hex[:6]}", f"orders-{uuid.uuid4().hex[:6]}"
    now = time.time()
    stamp = datetime.fromtimestamp(int(now) - 5, tz=UTC)
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
    server = html[html.index('id="server-table"') : html.index("</table>", html.index('id="server-table"'))]
    assert "Lambda Invocations" in server and ">7<" in server and "9,993" not in server and ">4<" not in server


def test_a_stopped_fanout_run_without_any_saved_shard_is_analysed_with_a_note_rather_than_a_traceback(
    aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what `harness fanout` downloads when it was stopped before any worker saved a shard: the
    # merge of no shard, whose start is the planned start instant (still ahead) and whose end is that
    monkeypatch.setenv("HARNESS_METRICS_DELAY", "0")
    planned = time.time() + 20
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    results = ResultSet(run_id="stopped-early", endpoints={"list items": {}})
    results.meta.update(started_at=planned, ended_at=planned, status="interrupted",
                        fanout={"worker_function": "harness-fanout-worker",
                                "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:harness-fanout-run"})  # fmt: skip
    results.scenario = {"target": {"base_url": "https://example.com", "lambda_functions": ["orders"]}}
    results.save(run_dir / "results.json")

    artifacts = analyse_run(run_dir, aws=AwsContext())

    assert artifacts.outcome.value == "not judged" and artifacts.results.total == 0
    assert any(n.startswith("server metrics not pulled: the run measured no time") for n in artifacts.notes), artifacts.notes
    assert (run_dir / "report.html").exists() and (run_dir / "junit.xml").exists()
    assert ResultSet.load(run_dir / "results.json").meta["status"] == "interrupted"  # what there was is kept
