"""End to end on the real local stack: moto + the API Gateway emulator + a real headless Locust.

Each run is 5-10 s of load. The client's numbers must reconcile with what the emulator saw,
route by route and status by status.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from harness.load.runner import run_headless
from harness.local.stack import LocalStack
from harness.results import ResultSet

pytestmark = pytest.mark.integration

ROUTES = {
    "list items": "GET /items",
    "get item": "GET /items/{id}",
    "my profile": "GET /users/{user}/profile",
    "create order": "POST /orders",
}

ENDPOINTS = """
[[endpoints]]
name = "list items"
path = "/items"
weight = 4

[[endpoints]]
name = "get item"
path = "/items/{id}"
weight = 3

[[endpoints]]
name = "my profile"
path = "/users/{user}/profile"
weight = 2

[[endpoints]]
name = "create order"
method = "POST"
path = "/orders"
body = { item = "{id}", customer = "{user}" }
expect = [201]
weight = 1
"""

AUTH = """
[auth]
users = 6
"""


def scenario(tmp_path: Path, name: str, load: str, *, auth: str = AUTH, endpoints: str = ENDPOINTS) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\n[target]\nbase_url = "local"\n{auth}\n{endpoints}\n[load]\n{textwrap.dedent(load)}', encoding="utf-8")
    return path


def admin(stack: LocalStack, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{stack.info.api_url}/_admin/{path}", data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture
def fresh(stack: LocalStack):
    """Counts reset and default throttling before each test."""
    admin(stack, "PUT", "throttle", {"throttle": {"rate": 10000, "burst": 5000}, "route_throttles": {}})
    admin(stack, "PUT", "backend", {"latency_ms": 2.0, "error_rate": 0.0})
    admin(stack, "POST", "counts/reset")
    return stack


def run(stack: LocalStack, path: Path, tmp_path: Path, *extra_env: tuple[str, str], locustfile_env: dict | None = None, **kwargs) -> ResultSet:
    run_dir = tmp_path / f"run-{path.stem}"
    outcome = run_headless(path, run_dir=run_dir, run_id=path.stem, env={**stack.run_env, **(locustfile_env or {})}, **kwargs)
    assert outcome.results_path.exists(), (run_dir / "locust.out").read_text()
    return ResultSet.load(outcome.results_path)


def client_counts(results: ResultSet) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for (endpoint, status, _), n in results.statuses.items():
        route = ROUTES[endpoint]
        counts.setdefault(route, {})
        counts[route][str(status)] = counts[route].get(str(status), 0) + n
    return counts


def test_client_counts_reconcile_with_the_emulator_route_by_route(fresh: LocalStack, tmp_path: Path) -> None:
    path = scenario(tmp_path, "reconcile", 'profile = "steady"\nrate = 40\nduration = "6s"\nvus = 10\n')
    results = run(fresh, path, tmp_path)
    server = admin(fresh, "GET", "counts")
    assert results.meta["status"] == "completed"
    assert client_counts(results) == server["routes"]
    assert results.total == server["total"]
    # the open model released every planned request, and each was sent
    pacer = results.pacer_totals()
    assert pacer.released == round(pacer.target) == 240
    assert pacer.dropped == 0
    assert results.outcome_counts()["ok"] == results.total
    assert set(ROUTES) == {ep for ep, _, _ in results.windows}


def test_multi_process_run_is_complete_and_reconciles(fresh: LocalStack, tmp_path: Path) -> None:
    path = scenario(tmp_path, "multi", 'profile = "steady"\nrate = 60\nduration = "5s"\nvus = 12\n')
    # Locust's default master port taken (another multi-process run on this machine): this run has its own
    with contextlib.ExitStack() as taken:
        with contextlib.suppress(OSError):  # already in use: taken all the same
            taken.enter_context(socket.create_server(("127.0.0.1", 5557)))
        results = run(fresh, path, tmp_path, processes=2)
    server = admin(fresh, "GET", "counts")
    assert results.meta["workers"] == 2
    assert results.pacer_totals().released == 300
    # the workers' pacers reported how well they kept the schedule
    assert set(results.meta["generator"]) == {"stalls", "longest_stall_ms", "max_lag_ms"}
    assert 0 <= results.meta["generator"]["max_lag_ms"] < 1000
    assert client_counts(results) == server["routes"]


def test_rate_above_the_throttle_limit_gives_429s_classified_as_throttled(fresh: LocalStack, tmp_path: Path) -> None:
    admin(fresh, "PUT", "throttle", {"throttle": {"rate": 5, "burst": 3}})  # the stage's default: per route, as on AWS
    path = scenario(tmp_path, "throttle", 'profile = "steady"\nrate = 60\nduration = "5s"\nvus = 10\n')
    results = run(fresh, path, tmp_path)
    server = admin(fresh, "GET", "counts")
    outcomes = results.outcome_counts()
    server_429 = sum(statuses.get("429", 0) for statuses in server["routes"].values())
    assert server_429 > 100  # 300 requests offered over the routes, each allowing ~5 rps (plus a burst of 3)
    assert outcomes["throttled"] == server_429
    assert outcomes["ok"] == results.total - server_429
    assert client_counts(results) == server["routes"]


def test_bad_token_gives_401s_classified_as_auth(fresh: LocalStack, tmp_path: Path) -> None:
    endpoints = '[[endpoints]]\nname = "list items"\npath = "/items"\nheaders = { Authorization = "Bearer not-a-real-token" }\n'
    path = scenario(tmp_path, "badtoken", 'profile = "steady"\nrate = 20\nduration = "3s"\nvus = 5\n', auth="", endpoints=endpoints)
    results = run(fresh, path, tmp_path)
    server = admin(fresh, "GET", "counts")
    assert server["routes"] == {"GET /items": {"401": 60}}
    assert results.outcome_counts()["auth"] == 60
    assert results.outcome_counts()["ok"] == 0


def _locust_totals(run_dir: Path) -> tuple[int, int]:
    """(requests, failures) of the Aggregated row of Locust's own stats CSV."""
    import csv

    with open(run_dir / "locust_stats.csv", newline="", encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    return int(row["Request Count"]), int(row["Failure Count"])


def test_server_errors_are_classified_and_locust_counts_them_as_failures(fresh: LocalStack, tmp_path: Path) -> None:
    admin(fresh, "PUT", "backend", {"latency_ms": 1.0, "error_rate": 0.5, "error_status": 503, "seed": 7})
    endpoints = '[[endpoints]]\nname = "list items"\npath = "/items"\n'
    path = scenario(tmp_path, "errors", 'profile = "steady"\nrate = 40\nduration = "3s"\nvus = 8\n', endpoints=endpoints)
    results = run(fresh, path, tmp_path)
    server = admin(fresh, "GET", "counts")["routes"]["GET /items"]
    outcomes = results.outcome_counts()
    assert results.total == 120 and server.get("503", 0) > 20
    assert (outcomes["server"], outcomes["ok"]) == (server["503"], server["200"])
    # Locust's own statistics (web UI, CSV) saw every request and failed the unexpected ones
    assert _locust_totals(tmp_path / "run-errors") == (120, server["503"])


def test_no_answer_at_all_is_a_transport_outcome_with_its_error(stack: LocalStack, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once it is closed
    path = tmp_path / "refused.toml"
    path.write_text(
        f'name = "refused"\n[target]\nbase_url = "http://127.0.0.1:{port}"\ntimeout = "2s"\n'
        '[[endpoints]]\nname = "list items"\npath = "/items"\n'
        '[load]\nprofile = "steady"\nrate = 20\nduration = "1s"\nvus = 4\n',
        encoding="utf-8",
    )
    results = run(stack, path, tmp_path)
    assert results.total == 20
    assert results.outcome_counts()["transport"] == 20
    assert {status for (_, status, _) in results.statuses} == {0}
    [(endpoint, message)] = list(results.errors)
    assert endpoint == "list items" and "ConnectionRefused" in message
    assert _locust_totals(tmp_path / "run-refused") == (20, 20)


def test_a_401_refreshes_the_token_once_and_retries(fresh: LocalStack, tmp_path: Path) -> None:
    """Each user's first token is corrupted at the botocore seam (a third-party fake): the
    emulator answers 401, the user refreshes its token and retries, and the retry succeeds."""
    locustfile = tmp_path / "tampered.py"
    locustfile.write_text(
        textwrap.dedent(
            """
            import botocore.client
            from harness.load.locustfile import *  # noqa: F401,F403

            _call = botocore.client.BaseClient._make_api_call

            def _make_api_call(self, operation, params):
                response = _call(self, operation, params)
                if operation == "AdminInitiateAuth" and params.get("AuthFlow") == "ADMIN_USER_PASSWORD_AUTH":
                    token = response["AuthenticationResult"]["AccessToken"]
                    response["AuthenticationResult"]["AccessToken"] = token[:-6] + ("AAAAAA" if token[-6:] != "AAAAAA" else "BBBBBB")
                return response

            botocore.client.BaseClient._make_api_call = _make_api_call
            """
        ),
        encoding="utf-8",
    )
    endpoints = '[[endpoints]]\nname = "list items"\npath = "/items"\n'
    path = scenario(tmp_path, "refresh", 'profile = "steady"\nrate = 30\nduration = "3s"\nvus = 4\n', endpoints=endpoints)
    run_dir = tmp_path / "run-refresh"
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--scenario", str(path), "--results-dir", str(run_dir), "--only-summary"]
    proc = subprocess.run(cmd, env={**os.environ, **fresh.run_env}, capture_output=True, text=True, timeout=90)
    assert (run_dir / "results.json").exists(), proc.stderr[-2000:]
    results = ResultSet.load(run_dir / "results.json")
    server = admin(fresh, "GET", "counts")["routes"]["GET /items"]
    # 4 virtual users on 4 identities: one 401 each, then all 90 planned requests succeed
    assert server.get("401") == 4
    assert server.get("200") == 90
    assert results.outcome_counts()["auth"] == 4
    assert results.outcome_counts()["ok"] == 90
    assert results.meta["token_stats"]["refreshes"] >= 4


def test_tokens_are_refreshed_before_they_expire_without_a_401(fresh: LocalStack, tmp_path: Path) -> None:
    """moto's tokens live an hour; a refresh margin of 3,598 s makes each one due for refresh
    two seconds after sign-in, so a 6 s run renews every token and keeps using the new ones."""
    auth = '[auth]\nusers = 4\nrefresh_margin = "3598s"\n'
    endpoints = '[[endpoints]]\nname = "list items"\npath = "/items"\n'
    path = scenario(tmp_path, "refresh-early", 'profile = "steady"\nrate = 20\nduration = "6s"\nvus = 4\n', auth=auth, endpoints=endpoints)
    results = run(fresh, path, tmp_path)
    assert results.meta["token_stats"]["refreshes"] >= 4
    assert admin(fresh, "GET", "counts")["routes"] == {"GET /items": {"200": 120}}
    assert results.outcome_counts()["auth"] == 0


def test_cloudwatch_returns_count_and_p95_latency_for_the_run_window(fresh: LocalStack, tmp_path: Path) -> None:
    admin(fresh, "PUT", "backend", {"latency_ms": 20.0, "latency_sigma": 0.2})
    path = scenario(tmp_path, "metrics", 'profile = "steady"\nrate = 40\nduration = "4s"\nvus = 10\n')
    results = run(fresh, path, tmp_path)
    total = admin(fresh, "GET", "counts")["total"]
    # exactly the run's seconds, in 1-second periods (earlier tests' traffic is outside them)
    start = datetime.fromtimestamp(int(results.meta["started_at"]), tz=UTC)
    end = datetime.fromtimestamp(int(results.meta["ended_at"]) + 2, tz=UTC)
    cloudwatch = boto3.client("cloudwatch", region_name=fresh.info.region)
    dims = [{"Name": "ApiId", "Value": fresh.info.api_id}, {"Name": "Stage", "Value": fresh.info.stage}]
    query = dict(Namespace="AWS/ApiGateway", Dimensions=dims, StartTime=start, EndTime=end, Period=1)
    deadline = time.time() + 15
    while True:  # the emulator publishes every second; wait (bounded) for the last batch
        got = sum(p["Sum"] for p in cloudwatch.get_metric_statistics(MetricName="Count", Statistics=["Sum"], **query)["Datapoints"])
        if got >= total or time.time() > deadline:
            break
        time.sleep(0.5)
    assert got == total == results.total
    latency = cloudwatch.get_metric_statistics(MetricName="Latency", ExtendedStatistics=["p95"], **query)["Datapoints"]
    assert len(latency) >= 4  # one per second of load
    p95_client_max = max(results.percentile(0.95, seconds=range(int(p["Timestamp"].timestamp()), int(p["Timestamp"].timestamp()) + 1)) or 0 for p in latency)
    for point in latency:
        # the backend's median is 20 ms; the client sees API Gateway's latency plus the network
        assert 15 < point["ExtendedStatistics"]["p95"] <= p95_client_max + 1


def test_ctrl_c_still_writes_what_was_measured(stack: LocalStack, tmp_path: Path) -> None:
    path = scenario(tmp_path, "interrupt", 'profile = "steady"\nrate = 20\nduration = "60s"\nvus = 5\n')
    run_dir = tmp_path / "run-interrupt"
    cmd = [sys.executable, "-m", "harness.cli", "run", str(path), "--results-dir", str(run_dir), "--no-metrics"]
    env = {**os.environ, **stack.run_env}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 60
    while not (run_dir / "locust.log").exists() or "All users spawned" not in (run_dir / "locust.log").read_text():
        assert time.time() < deadline and proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        time.sleep(0.2)
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    out, errs = proc.communicate(timeout=60)
    assert proc.returncode == 130, errs.decode()[-2000:]
    results = ResultSet.load(run_dir / "results.json")
    assert results.meta["status"] == "interrupted"
    assert 20 <= results.total <= 120
    assert (run_dir / "report.html").exists()


def test_the_calls_profile_makes_users_times_calls_requests(fresh: LocalStack, tmp_path: Path) -> None:
    """The AWS reference design's load, N users x M calls back to back, in `harness run`."""
    path = scenario(tmp_path, "calls", 'profile = "calls"\nusers = 6\ncalls_per_user = 15\n')
    results = run(fresh, path, tmp_path)
    server = admin(fresh, "GET", "counts")
    assert results.meta["status"] == "completed"
    assert results.total == server["total"] == 90
    assert client_counts(results) == server["routes"]
    pacer = results.pacer_totals()
    assert (pacer.target, pacer.released, pacer.dropped) == (90, 90, 0)
    assert results.meta["vus"] == 6 and results.meta["planned_duration"] == 600
