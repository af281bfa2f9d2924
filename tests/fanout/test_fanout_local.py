"""Distributed runs end to end on the local stack: the real template deployed to moto's
CloudFormation, the real state machines run by moto's Step Functions, the real handlers run by
the local Lambda runtime, load against the API Gateway emulator.

Each execution takes 20-40 s (a cold start per Lambda invocation, a shared start instant a
few seconds ahead, the load, the merge tree)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from harness.aws import AwsContext
from harness.cli import main
from harness.fanout.execution import FanoutExecution
from harness.fanout.launch import FanoutStack, deploy_local, execution_input
from harness.fanout.package import build_package
from harness.fanout.store import RunStore
from harness.local.iam import STATES_SESSION, Decision, evaluate
from harness.local.moto import http_get_json
from harness.local.stack import LocalStack
from harness.plan import build_plan
from harness.results import Histogram, ResultSet
from harness.scenario import Scenario

pytestmark = pytest.mark.integration

ROUTES = {"list items": "GET /items", "my profile": "GET /users/{user}/profile"}
POOL_REGION = "eu-west-2"  # the local stack's pool, and its API's metrics
STACK_REGION = "eu-central-1"  # the fan-out stack: elsewhere, as the template allows (moto serves every region)


def scenario(name: str, load: dict[str, Any], *, workers: int, users: int = 6, **fanout: Any) -> Scenario:
    return Scenario.from_dict(
        {
            "name": name,
            "target": {"base_url": "local"},
            "auth": {"users": users},
            "endpoints": [
                {"name": "list items", "path": "/items", "weight": 3},
                {"name": "my profile", "path": "/users/{user}/profile", "weight": 1},
            ],
            "load": load,
            "fanout": {"workers": workers, "start_lead": "8s", **fanout},  # cold starts and sign-in, on a busy CI machine too
        }
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, FanoutStack]]:
    with LocalStack(log_dir=tmp_path_factory.mktemp("fanout-stack"), region=POOL_REGION) as local, local.activate():
        outputs = deploy_local(local.info, aws=AwsContext(region=STACK_REGION), stack_name="fanout-test", start_lead=6)
        yield local, FanoutStack.of(outputs)


def admin(local: LocalStack, method: str, path: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{local.info.api_url}/_admin/{path}", method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def execute(fanout: FanoutStack, data: dict[str, Any], run_id: str, tmp_path: Path) -> tuple[FanoutExecution, Any, ResultSet | None]:
    aws = AwsContext(region=STACK_REGION)
    run = FanoutExecution.start(sfn=aws.client("stepfunctions"), s3=aws.client("s3"), state_machine_arn=fanout.run_state_machine,
                                bucket=fanout.bucket, run_id=run_id, input=data)  # fmt: skip
    final = run.wait(timeout=180)
    path = run.download(tmp_path / run_id)
    return run, final, ResultSet.load(path) if path else None


def cleanup(fanout: FanoutStack, name: str, *, users: int) -> dict[str, Any]:
    """Run the cleanup state machine for ``users`` test users; its execution, described when it ended (or after 60 s)."""
    sfn = boto3.client("stepfunctions", region_name=STACK_REGION)
    arn = sfn.start_execution(stateMachineArn=fanout.cleanup_state_machine, name=name, input=json.dumps({"NumberOfUsers": str(users)}))["executionArn"]
    deadline = time.time() + 60
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING" and time.time() < deadline:
        time.sleep(0.5)
    return dict(described)


def shard_files(run: FanoutExecution) -> list[ResultSet]:
    return [ResultSet.loads(body) for body in run.store.read_bytes(run.store.keys("shards"))]


def client_counts(results: ResultSet) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter] = {}
    for (endpoint, status, _), n in results.statuses.items():
        counts.setdefault(ROUTES[endpoint], Counter())[str(status)] += n
    return {route: dict(c) for route, c in counts.items()}


@pytest.mark.timing  # bursts on time to within 100 ms
def test_three_workers_merge_exactly_and_start_their_bursts_together(stack: tuple[LocalStack, FanoutStack], tmp_path: Path) -> None:
    local, fanout = stack
    admin(local, "POST", "counts/reset")
    load = {"profile": "burst", "base_rate": 6, "burst_rate": 90, "burst_length": 1.5, "idle_min": 1, "idle_max": 2, "cycles": 2, "seed": 3, "vus": 15}
    plan = scenario("fan-burst", load, workers=3)
    run, final, results = execute(fanout, execution_input(scenario=plan), "burst-3", tmp_path)
    assert final.status == "SUCCEEDED", run.failure()
    assert results is not None and results.meta["status"] == "completed", results.meta.get("error")
    shards = shard_files(run)
    assert len(shards) == 3 and results.meta["workers"] == 3

    # the merged counts are the sum of the workers', and what the emulator saw, route by route
    assert results.total == sum(s.total for s in shards)
    server = admin(local, "GET", "counts")
    assert client_counts(results) == {r: n for r, n in server["routes"].items() if r in ROUTES.values()}
    assert results.total == server["total"]
    # the whole plan was released (each worker its phase-offset share), none dropped
    pacer = results.pacer_totals()
    assert pacer.released == build_plan(plan.load_profile).total and pacer.dropped == 0

    # merged percentiles are those of all the workers' samples together
    everything = Histogram()
    for shard in shards:
        everything.merge(shard.select())
    for q in (0.5, 0.95, 0.99):
        assert results.percentile(q) == everything.percentile(q) / 1000

    # one start instant for all, kept by every worker: its bursts started within 100 ms of it
    starts = {s.meta["started_at"] for s in shards}
    assert starts == {results.meta["fanout"]["segments"][0]["start_at"]}
    for shard in shards:
        generator = shard.meta["generator"]
        assert generator["late_start_ms"] == 0 and generator["skipped"] == 0
        assert generator["max_lag_ms"] < 100
    assert [s["status"] for s in results.meta["shards"]] == ["completed"] * 3


def as_worker(fanout: FanoutStack) -> Any:
    """An S3 client with the deployed worker's execution role, as a worker Lambda has."""
    aws = AwsContext(region=STACK_REGION)  # where the fan-out stack's functions are
    role = aws.client("lambda").get_function_configuration(FunctionName=fanout.worker_function)["Role"]
    creds = aws.client("sts").assume_role(RoleArn=role, RoleSessionName="test")["Credentials"]
    return boto3.client(
        "s3",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=STACK_REGION,
    )


def test_a_worker_sees_the_stop_file_with_its_own_role_and_reads_nothing_else(stack: tuple[LocalStack, FanoutStack]) -> None:
    _, fanout = stack
    cli = RunStore(AwsContext(region=STACK_REGION).client("s3"), bucket=fanout.bucket, run_id="stop-check")
    worker = RunStore(as_worker(fanout), bucket=fanout.bucket, run_id="stop-check")
    assert worker.exists(worker.stop_key) is False  # a 404, not a 403: the poll works before the stop
    cli.put_json(cli.stop_key, {"stopped": True})  # what `harness fanout` writes on Ctrl-C
    assert worker.exists(worker.stop_key) is True
    cli.put_json(cli.spec_key, {"run_id": "stop-check"})
    with pytest.raises(ClientError) as denied:  # only the stop file, nothing else of the run
        worker.get_bytes(cli.spec_key)
    assert "not authorized to perform: s3:GetObject" in str(denied.value)


# Each role's inline policy, the session its calls are made with, and the statements whose calls
# a local run cannot make (with why). Every other statement must be needed by the recorded run.
ROLES = {
    "WorkerRole": ("worker", "WorkerFunction", {"Heartbeat": "read only in a run with faults; the recorded run has none"}),
    "ControllerRole": (
        "controller",
        "ControllerFunction",
        {
            "RunList": "ListBucket only turns a missing run file into a 404 rather than a 403; none is missing in a good run",
        },
    ),
    "AggregatorRole": ("aggregator", "AggregatorFunction", {}),
    "RunStateMachineRole": (
        "run",
        None,
        {
            "DistributedMapStart": "moto runs a Distributed Map's children in-process, without StartExecution",
            "DistributedMapChildren": "moto runs a Distributed Map's children in-process",
            "LogDelivery": "moto's Step Functions delivers no logs",
        },
    ),
    "CleanupStateMachineRole": ("cleanup", None, {"LogDelivery": "moto's Step Functions delivers no logs"}),
}


@pytest.fixture(scope="module")
def recorded(stack: tuple[LocalStack, FanoutStack], tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The calls moto checked during one real run and its cleanup (and the module's runs before)."""
    local, fanout = stack
    load = {"profile": "steady", "rate": 10, "duration": "4s", "vus": 4}
    data = execution_input(scenario=scenario("fan-iam", load, workers=2))
    run, final, _ = execute(fanout, data, "iam-calls", tmp_path_factory.mktemp("iam-calls"))
    assert final.status == "SUCCEEDED", run.failure()
    described = cleanup(fanout, "iam-calls-cleanup", users=6)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    return list(http_get_json(f"{local.info.endpoint_url}/_harness/iam/calls"))


def stack_resource(logical_id: str) -> str:
    resource = AwsContext(region=STACK_REGION).client("cloudformation").describe_stack_resource(StackName="fanout-test", LogicalResourceId=logical_id)
    return str(resource["StackResourceDetail"]["PhysicalResourceId"])


@pytest.mark.parametrize("role_id", list(ROLES))
def test_each_statement_of_each_role_is_needed_and_as_shipped_nothing_is_refused(
    stack: tuple[LocalStack, FanoutStack], recorded: list[dict[str, Any]], role_id: str
) -> None:
    policy_name, function_id, unexercised = ROLES[role_id]
    role_name = stack_resource(role_id)
    shipped = AwsContext(region=STACK_REGION).client("iam").get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    session = stack_resource(function_id) if function_id else STATES_SESSION
    calls = [c for c in recorded if c["principal"].endswith(f":assumed-role/{role_name}/{session}")]
    assert calls and {c["decision"] for c in calls} == {"allowed"}, {c["action"]: c["decision"] for c in calls}

    # each statement taken out in turn: the calls it allowed are refused, and they are its actions
    statements = shipped["Statement"]
    assert set(unexercised) <= {s["Sid"] for s in statements}
    for statement in statements:
        reduced = {**shipped, "Statement": [s for s in statements if s is not statement]}
        refused = {c["action"] for c in calls if evaluate([reduced], c["action"], c["resource"], c["context"]) is not Decision.ALLOWED}
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Sid"] in unexercised:
            assert not refused, (statement["Sid"], refused)  # the exemption is still true
        else:
            assert refused and refused <= set(actions), (statement["Sid"], refused)


def test_the_local_stack_refuses_a_worker_call_once_its_statement_is_gone(stack: tuple[LocalStack, FanoutStack]) -> None:
    _, fanout = stack
    iam = AwsContext(region=STACK_REGION).client("iam")
    role_name = stack_resource("WorkerRole")
    shipped = iam.get_role_policy(RoleName=role_name, PolicyName="worker")["PolicyDocument"]
    reduced = {**shipped, "Statement": [s for s in shipped["Statement"] if s["Sid"] != "ShardResults"]}
    iam.put_role_policy(RoleName=role_name, PolicyName="worker", PolicyDocument=json.dumps(reduced))
    try:
        worker = RunStore(as_worker(fanout), bucket=fanout.bucket, run_id="iam-calls")
        with pytest.raises(ClientError) as denied:
            worker.put_json(worker.progress_key(0, 0), {"requests": 0})
        assert "not authorized to perform: s3:PutObject" in str(denied.value)
    finally:
        iam.put_role_policy(RoleName=role_name, PolicyName="worker", PolicyDocument=json.dumps(shipped))


def test_the_reference_input_runs_users_times_calls_and_cleanup_removes_the_users(stack: tuple[LocalStack, FanoutStack], tmp_path: Path) -> None:
    local, fanout = stack
    admin(local, "POST", "counts/reset")
    reference = {"users": {"NumberOfUsers": "5", "NumberOfCallsPerUser": "8"}, "workers": 2}
    run, final, results = execute(fanout, reference, "reference", tmp_path)
    assert final.status == "SUCCEEDED", run.failure()
    assert results is not None and results.meta["status"] == "completed"
    assert results.meta["profile"] == "calls" and results.meta["fanout"]["reference_input"]
    assert results.total == 40 == admin(local, "GET", "counts")["routes"]["GET /items"]["200"]
    assert local.info.region == POOL_REGION and local.info.user_pool_id.startswith(f"{POOL_REGION}_")
    cognito = boto3.client("cognito-idp", region_name=POOL_REGION)  # the users are in the pool's region, not the Lambdas'
    names = {u["Username"] for u in cognito.list_users(UserPoolId=local.info.user_pool_id)["Users"]}
    assert {f"loadtestuser{i}" for i in range(5)} <= names

    described = cleanup(fanout, "cleanup-1", users=5)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    names = {u["Username"] for u in cognito.list_users(UserPoolId=local.info.user_pool_id)["Users"]}
    assert not any(n.startswith("loadtestuser") for n in names)


def test_the_reference_input_limits_hold_for_numbers_given_as_strings(stack: tuple[LocalStack, FanoutStack], tmp_path: Path) -> None:
    _, fanout = stack
    run, final, results = execute(fanout, {"users": {"NumberOfUsers": "1001", "NumberOfCallsPerUser": "1"}}, "too-many", tmp_path)
    assert final.status == "FAILED" and results is None
    reason = run.failure()
    assert "users" in reason and "safety limit of 1000" in reason


class Counting(BaseHTTPRequestHandler):
    """Any other server on 127.0.0.1: answers 200 and counts the requests by path."""

    counts: Counter = Counter()

    def do_GET(self) -> None:
        Counting.counts[self.path] += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


def test_any_server_on_localhost_is_a_target_too(stack: tuple[LocalStack, FanoutStack], tmp_path: Path) -> None:
    _, fanout = stack
    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        data = Scenario.from_dict({
            "name": "plain", "target": {"base_url": f"http://127.0.0.1:{server.server_port}"},
            "endpoints": [{"name": "health", "path": "/health"}],
            "load": {"profile": "steady", "rate": 20, "duration": 2, "vus": 4},
            "fanout": {"workers": 2, "start_lead": "5s"},
        })  # fmt: skip
        run, final, results = execute(fanout, execution_input(scenario=data), "plain-server", tmp_path)
    finally:
        server.shutdown()
    assert final.status == "SUCCEEDED", run.failure()
    assert results is not None and results.meta["status"] == "completed"
    assert results.total == 40 == Counting.counts["/health"]
    assert results.meta["users"] == 0


def fault_injecting_code(base: bytes) -> bytes:
    """The deployed code plus a test-only handler that fails shard 1 (as a worker that raises
    two seconds into its load, or that runs past its timeout) and runs the real worker for the others."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item))
        target.writestr(
            "fault_injection.py",
            "import os, time\n"
            "from harness.fanout.handlers import worker as real\n"
            "def worker(event, context):\n"
            "    if event['shard']['index'] == 1:\n"
            "        if os.environ['FAULT'] == 'raise':\n"
            "            time.sleep(max(0.0, event['shard']['start_at'] + 2 - time.time()))\n"
            "            raise RuntimeError('shard 1 broke on purpose')\n"
            "        time.sleep(3600)\n"
            "    return real(event, context)\n",
        )
    return buffer.getvalue()


# raise: shard 1 fails 2 s into a 12 s load; the Map Run fails at once (tolerance 0) and Step Functions
#   aborts the other children, whose Lambdas go on: stop.json ends their load, and the merge waits for them.
# timeout: shard 1 runs past its 25 s timeout, after the others' 3 s load has ended.
FAULTS = [
    ("raise", "RuntimeError: shard 1 broke on purpose", 12, ["interrupted", "failed", "interrupted"]),
    ("timeout", "Sandbox.Timedout", 3, ["completed", "failed", "completed"]),
]


@pytest.mark.timing  # the others must see the stop within seconds, before their own time limit
@pytest.mark.parametrize("fault, reason, duration, statuses", FAULTS)
def test_a_failed_worker_is_named_and_the_others_data_is_kept(
    stack: tuple[LocalStack, FanoutStack], tmp_path: Path, fault: str, reason: str, duration: int, statuses: list[str]
) -> None:
    local, fanout = stack
    lam = boto3.client("lambda", region_name=STACK_REGION)
    name = fanout.worker_function
    config = lam.get_function_configuration(FunctionName=name)
    code = build_package(out=tmp_path / "code.zip", deps=False).path.read_bytes()  # what deploy_local deployed
    lam.update_function_code(FunctionName=name, ZipFile=fault_injecting_code(code))
    lam.update_function_configuration(
        FunctionName=name, Handler="fault_injection.worker", Timeout=25,
        Environment={"Variables": {**config["Environment"]["Variables"], "FAULT": fault}},
    )  # fmt: skip
    try:
        admin(local, "POST", "counts/reset")
        load = {"profile": "steady", "rate": 30, "duration": duration, "vus": 6}
        run, final, results = execute(fanout, execution_input(scenario=scenario(f"fan-{fault}", load, workers=3)), f"fault-{fault}", tmp_path)
    finally:
        lam.update_function_code(FunctionName=name, ZipFile=code)
        lam.update_function_configuration(FunctionName=name, Handler=config["Handler"], Timeout=config["Timeout"], Environment=config["Environment"])
    # the run failed, with the failed shard named and why, and the other two shards' data merged (none missing)
    assert final.status == "FAILED" and "States.ExceedToleratedFailureThreshold" in run.failure()
    assert results is not None
    meta = results.meta
    assert meta["status"] == "failed"
    assert meta["failed_shards"] == [{"segment": 0, "index": 1, "reason": meta["failed_shards"][0]["reason"]}]
    assert reason in meta["failed_shards"][0]["reason"]
    assert "1 of 3 shards failed: shard 1" in meta["error"]
    assert [s["status"] for s in meta["shards"]] == statuses
    server = admin(local, "GET", "counts")["total"]
    assert results.total == sum(s["requests"] for s in meta["shards"]) == server
    planned = 30 * duration * 2 // 3  # two thirds of the plan (30/s across the three workers)
    if fault == "raise":  # stopped: some load, not all of it
        assert 0 < results.total < planned
        assert meta["error"].endswith("2 stopped with it, their results kept")
    else:
        assert results.total == planned

    # the report names the failed shard and why, and the exit code is that of a failed run
    run_dir = tmp_path / f"fault-{fault}"
    assert main(["report", str(run_dir)]) == 3
    completed = statuses.count("completed")
    for name in ("report.html", "summary.md"):
        text = (run_dir / name).read_text()
        assert f"{completed} of 3 completed" in text and "1 failed: shard 1 (segment 0)" in text and reason in text, name


# --------------------------------------------------------------------------- stopped from anywhere


def last_second(results: ResultSet) -> int:
    """The last second in which ``results`` sent a request."""
    return max(second for (_, _, second) in results.windows)


def shards_saved(store: RunStore, count: int, timeout: float = 90) -> list[ResultSet]:
    """The shard files of segment 0 once all ``count`` are saved (or what there is after ``timeout`` s)."""
    deadline = time.time() + timeout
    while len(store.keys("shards")) < count and time.time() < deadline:
        time.sleep(1)
    return [ResultSet.loads(body) for body in store.read_bytes(store.keys("shards"))]


def await_requests(progress: Any, minimum: int, timeout: float = 120) -> None:
    """Wait until ``progress()`` (requests so far, per worker) shows every worker loading."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        counts = progress()
        if counts and min(counts) >= minimum:
            return
        time.sleep(1)
    raise AssertionError(f"the workers never all reported {minimum} requests: {progress()}")


def worker_requests(store: RunStore, workers: int) -> list[int]:
    notes = list(store.read_all(store.keys("progress")))
    return [int(n.get("requests", 0)) for n in notes] if len(notes) == workers else []


def test_a_stop_execution_from_the_console_ends_every_workers_load_within_10_s_and_keeps_their_results(
    stack: tuple[LocalStack, FanoutStack], tmp_path: Path
) -> None:
    _, fanout = stack
    aws = AwsContext(region=STACK_REGION)
    load = {"profile": "steady", "rate": 30, "duration": "90s", "vus": 9}
    run = FanoutExecution.start(sfn=aws.client("stepfunctions"), s3=aws.client("s3"), state_machine_arn=fanout.run_state_machine,
                                bucket=fanout.bucket, run_id="console-stop", input=execution_input(scenario=scenario("fan-console", load, workers=3)))  # fmt: skip
    await_requests(lambda: worker_requests(run.store, 3), 20)

    # as the console does: StopExecution with the caller's own credentials; harness writes nothing
    stopped_at = time.time()
    boto3.client("stepfunctions", region_name=STACK_REGION).stop_execution(executionArn=run.execution_arn, error="Console", cause="stopped by hand")
    shards = shards_saved(run.store, 3)

    # a worker saw the execution ABORTED and wrote stop.json; every worker ended its load within 10 s and saved it
    stop = run.store.get_json(run.store.stop_key)
    assert "the execution is ABORTED (seen by a worker" in stop["cause"], stop
    assert len(shards) == 3 and {s.meta["status"] for s in shards} == {"interrupted"}
    for shard in shards:
        assert 0 < shard.total < 30 * 90 / 3, shard.meta["shard"]
        assert last_second(shard) <= stopped_at + 10, (last_second(shard) - stopped_at, shard.meta["shard"])
    # the fleet's watch is within its budget and staggered: some worker asks every interval / W seconds
    from harness.fanout.watch import ExecutionWatch

    watches = [ExecutionWatch(sfn=None, store=run.store, execution_arn=run.execution_arn, index=i, workers=3, epoch=100.0) for i in range(3)]
    assert sorted(w.next_due(100.5) for w in watches) == [101.0, 102.0, 103.0]


def scenario_file(tmp_path: Path, name: str, *, duration: str, workers: int, extra: str = "") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\n[target]\nbase_url = "local"\n[auth]\nusers = 6\n'
        '[[endpoints]]\nname = "list items"\npath = "/items"\n'
        f'[load]\nprofile = "steady"\nrate = 30\nduration = "{duration}"\nvus = 9\n'
        f'[fanout]\nworkers = {workers}\nstart_lead = "8s"\n{extra}',
        encoding="utf-8",
    )
    return path


def harness_fanout(path: Path, run_dir: Path, run_id: str) -> subprocess.Popen[str]:
    """``harness fanout`` against the module's local stack and fan-out stack, as a user runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "fanout", str(path), "--stack", "fanout-test", "--region", STACK_REGION,
         "--run-id", run_id, "--results-dir", str(run_dir), "--yes", "--no-metrics"],
        cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def test_harness_fanout_keeps_the_results_of_an_execution_stopped_outside_it_and_exits_130(stack: tuple[LocalStack, FanoutStack], tmp_path: Path) -> None:
    _, fanout = stack
    run_dir = tmp_path / "run"
    proc = harness_fanout(scenario_file(tmp_path, "fan-outside", duration="90s", workers=2), run_dir, "outside-stop")
    store = RunStore(AwsContext(region=STACK_REGION).client("s3"), bucket=fanout.bucket, run_id="outside-stop")
    try:
        await_requests(lambda: worker_requests(store, 2), 20)
    except AssertionError:
        proc.kill()
        raise AssertionError(proc.communicate()[1][-3000:]) from None
    arn = fanout.run_state_machine.replace(":stateMachine:", ":execution:") + ":outside-stop"
    boto3.client("stepfunctions", region_name=STACK_REGION).stop_execution(executionArn=arn, error="Console", cause="stopped by hand")
    out, err = proc.communicate(timeout=180)

    assert proc.returncode == 130, err[-3000:]
    assert "stopped outside harness fanout" in err and "Traceback" not in err
    results = ResultSet.load(run_dir / "results.json")
    assert results.meta["status"] == "interrupted"
    assert results.meta["error"].startswith("the execution was stopped outside harness fanout (ABORTED: Console: stopped by hand)")
    assert [s["status"] for s in results.meta["shards"]] == ["interrupted", "interrupted"]  # both merged, none missing
    assert results.total == sum(s.total for s in shards_saved(store, 2)) > 0
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["outcome"] == "not judged" and "stopped outside harness fanout" in verdict["reason"]


def test_the_workers_of_a_run_with_faults_stop_when_harness_fanout_is_killed(stack: tuple[LocalStack, FanoutStack], tmp_path: Path) -> None:
    local, fanout = stack
    timeout = 15
    fault = '[[faults]]\nname = "slow"\nkind = "latency"\nat = "1s"\nduration = "80s"\nlatency = "50ms"\n'
    path = scenario_file(tmp_path, "fan-owner", duration="90s", workers=2, extra=f'heartbeat_timeout = "{timeout}s"\n' + fault)
    proc = harness_fanout(path, tmp_path / "run", "owner-killed")
    store = RunStore(AwsContext(region=STACK_REGION).client("s3"), bucket=fanout.bucket, run_id="owner-killed")
    try:
        await_requests(lambda: worker_requests(store, 2), 20)
        assert store.exists(store.heartbeat_key)
    finally:
        killed_at = time.time()
        proc.kill()  # SIGKILL: no Ctrl-C handler, no stop.json, no StopExecution
        proc.communicate(timeout=30)
    try:
        shards = shards_saved(store, 2)
    finally:
        admin(local, "DELETE", "faults")  # the killed process never ended its fault; the next tests need none

    stop = store.get_json(store.stop_key)
    assert "harness fanout, which applies the run's faults, has been silent for" in stop["cause"], stop
    assert len(shards) == 2 and {s.meta["status"] for s in shards} == {"interrupted"}
    for shard in shards:
        assert last_second(shard) <= killed_at + timeout + 10, (last_second(shard) - killed_at, shard.meta["shard"])
    # the execution, which nobody stopped, ends once the workers have saved their shards
    final = FanoutExecution(sfn=AwsContext(region=STACK_REGION).client("stepfunctions"), s3=store.s3,
                            execution_arn=fanout.run_state_machine.replace(":stateMachine:", ":execution:") + ":owner-killed",
                            bucket=fanout.bucket, run_id="owner-killed").wait(timeout=120)  # fmt: skip
    assert final.status in ("SUCCEEDED", "FAILED"), final


def test_run_fanout_from_python_applies_the_faults_and_returns_the_run_outcome(stack: tuple[LocalStack, FanoutStack], tmp_path: Path) -> None:
    import harness

    local, fanout = stack
    load = {"profile": "steady", "rate": 20, "duration": "6s", "vus": 6}
    plan = Scenario.from_dict({**scenario("fan-py", load, workers=2).echo(),
                               "faults": [{"name": "slow", "kind": "latency", "at": "1s", "duration": "2s", "latency": "50ms"}]})  # fmt: skip
    notes: list[tuple[str, str]] = []
    seen: list[Any] = []
    outcome = harness.run_fanout(plan, stack=fanout, run_dir=tmp_path / "py", run_id="from-python", stack_aws=AwsContext(region=STACK_REGION),
                                 on_note=lambda kind, text: notes.append((kind, text)), on_progress=seen.append)  # fmt: skip
    # the progress holds the workers' snapshots combined: planned vs achieved rate and p95, as `harness run` shows them
    measured = [p for p in seen if p.snapshot.get("achieved_rps") is not None and p.snapshot.get("p95_ms") is not None]
    assert measured and measured[-1].snapshot["planned_rps"] > 0, [p.snapshot for p in seen]
    assert "achieved" in measured[-1].line() and "p95" in measured[-1].line()
    assert isinstance(outcome, harness.RunOutcome) and not outcome.interrupted, notes
    assert outcome.summary.startswith("execution succeeded: 2 of 2 shards done, 0 failed")
    results = ResultSet.load(outcome.results_path)
    assert results.meta["status"] == "completed", results.meta.get("error")
    [fault] = results.meta["faults"]
    assert fault["started_at"] is not None and fault["ended_by"] == "schedule" and fault["error"] is None, fault
    assert results.meta["fanout"]["worker_function"] == fanout.worker_function
    assert not (tmp_path / "py" / "progress.json").exists()
    store = RunStore(AwsContext(region=STACK_REGION).client("s3"), bucket=fanout.bucket, run_id="from-python")
    assert store.exists(store.heartbeat_key)  # the process that owns the faults said it was alive
