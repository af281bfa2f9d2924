"""The web UI's data routes on their own (``harness.load.webui``), on a plain Flask app: the
Server tab against the real moto server (metrics put in by the test, then read back with a
GetMetricData call of our own over the same window), the harness tab on a real session's
results, and the report route. No Locust process, no browser."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from flask import Flask, jsonify

from harness.auth.users import create_users
from harness.load.session import LoadSession
from harness.load.webui import HARNESS_COLUMNS, NO_DATA, REFRESH, RETRY, SERVER_COLUMNS, HarnessWebUi
from harness.scenario import Scenario

STAGE = "$default"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def scenario(tmp_path: Path, body: str) -> Scenario:
    path = tmp_path / "scenario.toml"
    path.write_text(body)
    return Scenario.load(path)


def app_for(ui: HarnessWebUi) -> Any:
    """A Flask app with the harness routes, plus stand-ins for two of Locust's own routes."""
    app = Flask("webui-test")

    @app.route("/stats/requests")
    def stats() -> Any:
        return jsonify({"stats": [], "state": "running"})

    @app.route("/")
    def index() -> Any:
        return '<!doctype html><html><body><div id="root"></div></body></html>'

    ui.register(app)
    return app.test_client()


@pytest.fixture
def cloudwatch(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HARNESS_METRICS_MIN_PERIOD", "1")  # as the local stack sets it
    return boto3.session.Session(region_name="us-east-1").client("cloudwatch")


def count_calls(client: Any) -> list[str]:
    """GetMetricData calls ``client`` makes from now on (botocore's own event hook)."""
    calls: list[str] = []
    client.meta.events.register("before-call.cloudwatch.GetMetricData", lambda **kw: calls.append("call"))
    return calls


# --------------------------------------------------------------------------- the Server tab


@pytest.fixture
def server_run(tmp_path: Path, cloudwatch: Any) -> dict[str, Any]:
    """A session whose run started 40 s ago and ended 10 s ago, and its API Gateway, Lambda and
    Cognito metrics in moto at 1-second resolution."""
    api_id, fn, pool, client = f"webui{uuid.uuid4().hex[:8]}", f"orders-{uuid.uuid4().hex[:6]}", "us-east-1_webuitest", "webuiclient"
    sc = scenario(
        tmp_path,
        f"""
name = "server"
[target]
base_url = "http://127.0.0.1:9"
api_id = "{api_id}"
stage = "{STAGE}"
lambda_functions = ["{fn}"]
[auth]
user_pool_id = "{pool}"
client_id = "{client}"
region = "us-east-1"
users = 2
[[endpoints]]
name = "list items"
path = "/items"
[load]
profile = "steady"
rate = 10
duration = "30s"
""",
    )
    start = float(int(time.time()) - 40)
    api = [{"Name": "ApiId", "Value": api_id}, {"Name": "Stage", "Value": STAGE}]
    data = []
    for i in range(1, 26):
        ts = datetime.fromtimestamp(start + i, tz=UTC)
        hi = i % 5 == 0

        def put(name: str, values: list[float], counts: list[float], unit: str, dims: list[dict[str, str]] = api, ts: datetime = ts) -> None:
            data.append((dims, {"MetricName": name, "Timestamp": ts, "Values": values, "Counts": counts, "Unit": unit, "StorageResolution": 1}))

        put("Count", [1.0], [10.0], "Count")
        put("4xx", [1.0, 0.0] if hi else [0.0], [1.0, 9.0] if hi else [10.0], "Count")
        put("5xx", [0.0], [10.0], "Count")
        put("Latency", [5.0 + i, 50.0 + i], [9.0, 1.0], "Milliseconds")
        put("IntegrationLatency", [3.0 + i], [10.0], "Milliseconds")
        if i % 7 == 0:
            put("Throttles", [2.0], [1.0], "Count", [{"Name": "FunctionName", "Value": fn}])
            put("Errors", [1.0], [1.0], "Count", [{"Name": "FunctionName", "Value": fn}])
        if i == 3:
            put("SignInThrottles", [1.0], [1.0], "Count", [{"Name": "UserPool", "Value": pool}, {"Name": "UserPoolClient", "Value": client}])
    for dims, datum in data:
        namespace = {"FunctionName": "AWS/Lambda", "UserPool": "AWS/Cognito"}.get(dims[0]["Name"], "AWS/ApiGateway")
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=[{**datum, "Dimensions": dims}])
    session = LoadSession(sc, results_dir=str(tmp_path / "run"), run_id="server")
    session.started_at, session.ended_at = start, start + 30
    return {"session": session, "api_id": api_id, "fn": fn, "pool": pool, "client": client}


def direct(cloudwatch: Any, namespace: str, dims: dict[str, str], metric: str, stat: str, *, start: str, end: str, period: int) -> list[tuple[datetime, float]]:
    """One GetMetricData call of the test's own: [(timestamp, value)] ascending."""
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "q", "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": metric,
                           "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]}, "Period": period, "Stat": stat}}],
        StartTime=datetime.fromisoformat(start), EndTime=datetime.fromisoformat(end), ScanBy="TimestampAscending",
    )  # fmt: skip
    result = answer["MetricDataResults"][0]
    return list(zip(result["Timestamps"], result["Values"]))


def test_server_values_match_a_get_metric_data_call_over_the_same_window(server_run: dict[str, Any], cloudwatch: Any) -> None:
    ui = HarnessWebUi(server_run["session"], cloudwatch=cloudwatch)
    answer = app_for(ui).get("/harness/server").get_json()
    assert answer["status"] == "ok", answer["message"]
    window = answer["window"]
    assert window["run_start"] == datetime.fromtimestamp(server_run["session"].started_at, tz=UTC).isoformat()
    assert window["series_period"] == 1
    namespaces = {"apigw": "AWS/ApiGateway", "lambda": "AWS/Lambda", "cognito": "AWS/Cognito"}
    dims = {
        "apigw": {"ApiId": server_run["api_id"], "Stage": STAGE},
        "lambda": {"FunctionName": server_run["fn"]},
        "cognito": {"UserPool": server_run["pool"], "UserPoolClient": server_run["client"]},
    }
    by_label = {m["label"]: m for m in answer["metrics"]}
    assert list(by_label) == [
        "API Gateway Count", "API Gateway 4xx", "API Gateway 5xx", "API Gateway Latency p95", "API Gateway IntegrationLatency p95",
        f"Lambda Errors ({server_run['fn']})", f"Lambda Throttles ({server_run['fn']})", "Cognito SignInThrottles", "Cognito TokenRefreshThrottles",
    ]  # fmt: skip
    for m in answer["metrics"]:
        ns, dm = namespaces[m["layer"]], dims[m["layer"]]
        whole = direct(cloudwatch, ns, dm, m["metric"], m["stat"], start=window["start"], end=window["end"], period=window["period"])
        per_second = direct(cloudwatch, ns, dm, m["metric"], m["stat"], start=window["start"], end=window["end"], period=window["series_period"])
        assert m["run"] == (whole[0][1] if whole else None), m
        assert m["newest"] == (per_second[-1][1] if per_second else None), m
        assert m["newest_at"] == (per_second[-1][0].astimezone(UTC).isoformat() if per_second else None), m
    # what the test put in, as CloudWatch sums it: 25 seconds of 10 requests, 5 of them 4xx
    assert by_label["API Gateway Count"]["run"] == 250.0
    assert by_label["API Gateway 4xx"]["run"] == 5.0
    assert by_label["API Gateway 5xx"]["run"] == 0.0  # a real zero: CloudWatch has datapoints
    assert by_label[f"Lambda Throttles ({server_run['fn']})"]["run"] == 6.0
    assert by_label["API Gateway Count"]["newest_at"] == datetime.fromtimestamp(server_run["session"].started_at + 25, tz=UTC).isoformat()
    # nothing put in: "no data yet", never 0
    assert by_label["Cognito TokenRefreshThrottles"]["run"] is None
    rows = {r["metric"]: r for r in answer["rows"]}
    assert rows["Cognito TokenRefreshThrottles"] == {"metric": "Cognito TokenRefreshThrottles", "run": NO_DATA, "newest": NO_DATA, "at": ""}
    assert rows["API Gateway Count"]["run"] == "250" and rows["API Gateway 5xx"]["run"] == "0"
    assert rows["API Gateway Latency p95"]["run"].endswith(" ms")
    assert rows["API Gateway Count"]["at"].endswith(" UTC")
    assert [set(r) for r in answer["rows"]] == [{c["key"] for c in SERVER_COLUMNS}] * len(answer["rows"])


def test_one_call_per_refresh_shared_by_concurrent_polls(server_run: dict[str, Any], cloudwatch: Any) -> None:
    ui = HarnessWebUi(server_run["session"], cloudwatch=cloudwatch)
    clock = ui.server.clock = Clock(time.time())
    calls = count_calls(cloudwatch)
    client = app_for(ui)
    answers: list[Any] = []

    def poll() -> None:
        answers.append(client.application.test_client().get("/harness/server").get_json())

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(calls) == 1  # every metric, both scopes, one GetMetricData call
    assert len({a["asked_at"] for a in answers}) == 1
    client.get("/stats/requests")  # the UI's own poll shares it too
    clock.now += REFRESH - 0.1
    client.get("/harness/server")
    assert len(calls) == 1
    clock.now += 0.2
    assert client.get("/harness/server").get_json()["calls"] == 2
    assert len(calls) == 2


def test_before_the_run_nothing_is_asked(server_run: dict[str, Any], cloudwatch: Any) -> None:
    session = server_run["session"]
    session.started_at = session.ended_at = None
    ui = HarnessWebUi(session, cloudwatch=cloudwatch)
    calls = count_calls(cloudwatch)
    answer = app_for(ui).get("/harness/server").get_json()
    assert answer["status"] == "waiting" and calls == []
    assert answer["rows"][0]["run"] == "waiting: the run has not started"
    assert {r["run"] for r in answer["rows"][1:]} == {NO_DATA}


def test_an_unreachable_cloudwatch_is_one_line_and_no_data(server_run: dict[str, Any]) -> None:
    dead = boto3.session.Session(region_name="us-east-1").client(
        "cloudwatch", endpoint_url="http://127.0.0.1:9", config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1})
    )
    ui = HarnessWebUi(server_run["session"], cloudwatch=dead)
    clock = ui.server.clock = Clock(time.time())
    calls = count_calls(dead)
    client = app_for(ui)
    answer = client.get("/harness/server").get_json()
    assert answer["status"] == "unavailable" and len(calls) == 1
    clock.now += REFRESH + 1  # after a failure, it waits longer before it asks again
    assert client.get("/harness/server").get_json()["calls"] == 1
    clock.now += RETRY
    assert client.get("/harness/server").get_json()["calls"] == 2
    assert answer["message"].startswith("CloudWatch unavailable: could not reach CloudWatch") and "\n" not in answer["message"]
    assert answer["rows"][0]["run"] == answer["message"]
    assert {r["run"] for r in answer["rows"][1:]} == {NO_DATA}


def test_unnamed_layers_say_how_to_name_them(tmp_path: Path, cloudwatch: Any) -> None:
    sc = scenario(tmp_path, '[target]\nbase_url = "https://api.example.com"\n'  # a custom domain names no API
                            '[[endpoints]]\nname = "a"\npath = "/a"\n[load]\nprofile = "steady"\nrate = 1\nduration = 5\n')  # fmt: skip
    ui = HarnessWebUi(LoadSession(sc), cloudwatch=cloudwatch)
    rows = {r["metric"]: r["run"] for r in app_for(ui).get("/harness/server").get_json()["rows"]}
    assert rows["API Gateway"].startswith("not measured: name the API in [target]")
    assert rows["Lambda Throttles, Errors"] == "not measured: list the functions in [target] lambda_functions"
    assert rows["Cognito throttles"] == "not measured: the scenario has no [auth]"


# --------------------------------------------------------------------------- the harness tab

SPIKE = """
name = "spiky"
gates = ["p95 < 50ms", "error_rate < 1%", "dropped_rate < 1%"]
[target]
base_url = "http://127.0.0.1:9"
[[endpoints]]
name = "list items"
path = "/items"
[load]
profile = "spike"
base_rate = 10
spike_rate = 50
at = 5
spike_duration = 3
duration = 10
"""


@pytest.fixture
def spike(tmp_path: Path) -> Iterator[tuple[LoadSession, Clock, float]]:
    """A spike run 6.5 s in: seconds 0-5 done (the spike's first second lost 5 to drops)."""
    session = LoadSession(scenario(tmp_path, SPIKE), results_dir=str(tmp_path / "run"), run_id="spiky")
    t0 = float(int(time.time()) - 100)
    session.started_at = t0
    for i in range(7):  # second 6 is still on: it holds a planned count already, as the pacer's do
        planned = 10 if i < 5 else 50
        dropped = 5 if i == 5 else 0
        released = planned - dropped if i < 6 else 20
        session.results.record_pacer(int(t0) + i, target=planned, released=released, dropped=dropped)
        for _ in range(released):
            session.results.record("list items", "ok", 200, start_time=t0 + i + 0.1, response_time_ms=12.0)
    yield session, Clock(t0 + 6.5), t0


def state(session: LoadSession, clock: Clock, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    ui = HarnessWebUi(session, **kwargs)
    ui.harness.clock = clock
    client = app_for(ui)
    return client.get("/harness/state").get_json(), client


def rows_of(answer: dict[str, Any], section: str) -> list[dict[str, str]]:
    return [r for r in answer["rows"] if r["section"] == section]


def test_harness_profile_and_where_the_run_is(spike: tuple[LoadSession, Clock, float]) -> None:
    session, clock, _ = spike
    answer, _ = state(session, clock)
    assert answer["profile"]["segment"] == {"index": 1, "label": "spike"}
    assert answer["profile"]["rate"] == 50.0 and answer["profile"]["t"] == pytest.approx(6.5)
    run = {r["item"]: r for r in rows_of(answer, "run")}
    assert run["status"]["value"] == "running: 6 s of 10 s"
    assert run["profile"]["value"] == "spike: 3 segments, 10 to 50 rps, 10 s"
    assert run["now"]["value"] == "spike (2 of 3): 50 rps planned"
    assert run["now"]["detail"] == "[#############.......] 6.5 s of 10 s"
    note = rows_of(answer, "Locust")[0]
    assert note["value"] == "ignored" and "OpenModelShape" in note["detail"] and "Change [load] in the scenario file" in note["detail"]


def test_harness_planned_released_dropped_per_second(spike: tuple[LoadSession, Clock, float]) -> None:
    session, clock, t0 = spike
    answer, _ = state(session, clock)
    # only whole seconds that are over: the current one (6) has a planned count but is not done
    assert answer["pacer"]["totals"] == {"planned": 100.0, "released": 95, "dropped": 5}
    seconds = answer["pacer"]["seconds"]
    assert [s["t"] for s in seconds] == [int(t0) + i for i in range(5, -1, -1)]  # newest first
    assert seconds[0] == {"t": int(t0) + 5, "planned": 50.0, "released": 45, "dropped": 5}
    model = rows_of(answer, "open model")
    assert model[0] == {"section": "open model", "item": "run so far", "value": "100 planned · 95 released · 5 dropped",
                        "detail": "achieved 95.0 % · dropped 5.0 %"}  # fmt: skip
    assert model[1]["value"] == "50 planned · 45 released · 5 dropped"
    assert model[1]["item"] == time.strftime("%H:%M:%S UTC", time.gmtime(int(t0) + 5))


def test_harness_gates_live_on_the_results_so_far(spike: tuple[LoadSession, Clock, float]) -> None:
    session, clock, _ = spike
    answer, _ = state(session, clock)
    gates = {g["expression"]: g for g in answer["gates"]["gates"]}
    assert gates["p95 < 50ms"]["passed"] and gates["p95 < 50ms"]["actual"] == pytest.approx(12.0, rel=0.01)
    assert gates["error_rate < 1%"]["passed"]
    assert not gates["dropped_rate < 1%"]["passed"] and gates["dropped_rate < 1%"]["actual"] == pytest.approx(5.0)
    rows = {r["item"]: r for r in rows_of(answer, "gate")}
    assert rows["dropped_rate < 1%"]["value"] == "FAIL"
    assert rows["dropped_rate < 1%"]["detail"] == "5% (limit 1%); 5 of 100 planned iterations dropped"
    assert rows["p95 < 50ms"]["value"] == "PASS"


def test_harness_before_start_waits(tmp_path: Path) -> None:
    session = LoadSession(scenario(tmp_path, SPIKE), results_dir=str(tmp_path / "run"))
    answer, _ = state(session, Clock(time.time()))
    assert {r["item"]: r["value"] for r in rows_of(answer, "run")}["status"] == "waiting for Start"
    assert {r["value"] for r in rows_of(answer, "gate")} == {"waiting for Start"}
    assert answer["gates"] is None and answer["pacer"]["totals"] == {"planned": 0, "released": 0, "dropped": 0}
    assert rows_of(answer, "tokens") == [
        {"section": "tokens", "item": "pool", "value": "none", "detail": "the scenario has no [auth]: requests carry no token"}
    ]


def test_harness_rows_fit_the_table_and_reach_the_stats_poll(spike: tuple[LoadSession, Clock, float]) -> None:
    session, clock, _ = spike
    answer, client = state(session, clock)
    keys = {c["key"] for c in HARNESS_COLUMNS}
    assert all(set(r) == keys and all(isinstance(v, str) for v in r.values()) for r in answer["rows"])
    stats = client.get("/stats/requests").get_json()
    assert stats["state"] == "running"  # Locust's own answer is kept
    extended = {e["key"]: e["data"] for e in stats["extended_stats"]}
    assert extended["harness"] == answer["rows"]
    assert extended["server"][0]["metric"] == "CloudWatch"
    index = client.get("/").get_data(as_text=True)
    assert index.endswith('<script src="/harness/webui.js"></script></body></html>')
    script = client.get("/harness/webui.js").get_data(as_text=True)
    assert "OpenModelShape" in script and "harness-shape-note" in script


def test_harness_token_pool_health(tmp_path: Path, aws_env: dict[str, str]) -> None:
    """A real token pool on moto: one virtual user signed in."""
    cognito = boto3.session.Session(region_name="us-east-1").client("cognito-idp")
    pool = cognito.create_user_pool(PoolName=f"webui-{uuid.uuid4().hex[:8]}")["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="webui", GenerateSecret=False, ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    )["UserPoolClient"]["ClientId"]
    secrets = boto3.session.Session(region_name="us-east-1").client("secretsmanager")
    create_users(cognito=cognito, secrets=secrets, user_pool_id=pool, count=2, rate=200.0, progress=False)
    sc = scenario(tmp_path, SPIKE + f'[auth]\nuser_pool_id = "{pool}"\nclient_id = "{client_id}"\nregion = "us-east-1"\nusers = 2\n')
    session = LoadSession(sc, results_dir=str(tmp_path / "run"))
    session.open_tokens()
    try:
        session.tokens.token(0)
        session.started_at = time.time()
        answer, _ = state(session, Clock(time.time()))
    finally:
        session.close_tokens()
    tokens = {r["item"]: r["value"] for r in rows_of(answer, "tokens")}
    assert tokens == {"health": "healthy", "sign-ins": "1", "refreshes": "0", "sign-in failures": "0", "throttled, retried": "0"}
    assert answer["tokens"]["logins"] == 1


def test_report_and_results_are_served_once_the_run_stops(spike: tuple[LoadSession, Clock, float], aws_env: dict[str, str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("HARNESS_METRICS_DELAY", "0")
    session, clock, _ = spike
    answer, client = state(session, clock)
    report = {r["item"]: r for r in rows_of(answer, "report")}
    assert report["report.html"]["value"] == "/harness/report.html" and report["report.html"]["detail"] == "written when the run stops"
    assert report["results.json"]["value"] == "/harness/results.json"
    waiting = client.get("/harness/report.html")
    assert waiting.status_code == 503 and 'http-equiv="refresh"' in waiting.get_data(as_text=True)
    assert client.get("/harness/results.json").status_code == 404

    session.finish()  # completed: judged
    session.save()
    ui = HarnessWebUi(session)
    client = app_for(ui)
    ui.report.start()
    assert ui.report.wait(120) and ui.report.state == "ready", ui.report.message
    page = client.get("/harness/report.html")
    assert page.status_code == 200 and 'id="verdict"' in page.get_data(as_text=True)
    assert ui.report.message.startswith("FAILED (1 of 3 gates)")  # dropped_rate
    results = client.get("/harness/results.json")
    assert results.status_code == 200 and results.get_json()["run_id"] == "spiky"
    ui.harness.clock = Clock(time.time())
    rows = {r["item"]: r for r in ui.harness.latest()["rows"] if r["section"] == "report"}
    assert rows["report.html"]["detail"].startswith("FAILED (1 of 3 gates); written to ")
    assert rows["results.json"]["detail"] == "written"
