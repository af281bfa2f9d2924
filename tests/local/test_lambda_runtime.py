"""The local Lambda runtime, through boto3 against a real moto server subprocess.

Handlers are small zips built here in memory; the server runs them in subprocesses.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import textwrap
import threading
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness.local.moto import MotoServer
from harness.metrics import build_queries, fetch

NO_RETRIES = Config(retries={"max_attempts": 0, "mode": "standard"})

ECHO_ENV = """
import os, sys

def handler(event, context):
    names = ["GREETING", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
             "AWS_LAMBDA_FUNCTION_TIMEOUT", "AWS_REGION", "AWS_DEFAULT_REGION", "_HANDLER",
             "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
             "AWS_SESSION_TOKEN", "MOTO_PORT", "PYTHONUNBUFFERED", "PYTHONPATH"]
    return {
        "event": event,
        "env": {n: os.environ.get(n) for n in names},
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "invoked_function_arn": context.invoked_function_arn,
            "log_group_name": context.log_group_name,
            "remaining": context.get_remaining_time_in_millis(),
        },
    }
"""

CHATTY = """
import logging, sys

def handler(event, context):
    print('{"not": "the result"}')
    print("to stderr", file=sys.stderr)
    logging.getLogger("app").warning("marker %s", event["marker"])
    return {"ok": True}
"""

FAILING = """
class OrderRejected(Exception):
    pass

def handler(event, context):
    print("about to fail")
    raise OrderRejected("order 42 is not valid")
"""

SLEEPY = """
import subprocess, sys, time
from pathlib import Path

def handler(event, context):
    if event.get("child_pid_file"):  # a grandchild that must die with the handler
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        Path(event["child_pid_file"]).write_text(str(child.pid))
    print("sleeping", event["seconds"])
    time.sleep(event["seconds"])
    return {"slept": event["seconds"]}
"""

WRITES_S3 = """
import boto3

def handler(event, context):
    s3 = boto3.client("s3")
    s3.put_object(Bucket=event["bucket"], Key=event["key"], Body=event["body"].encode())
    return {"written": event["key"]}
"""

FLAKY = """
from pathlib import Path

class FlakyError(Exception):
    pass

def handler(event, context):
    counter = Path(event["counter"])
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    if attempt <= event["failures"]:
        raise FlakyError(f"attempt {attempt} fails")
    return {"attempts": attempt}
"""


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in files.items():
            archive.writestr(name, textwrap.dedent(source))
    return buf.getvalue()


def clients(endpoint: str | None = None) -> dict[str, Any]:
    kw: dict[str, Any] = {"config": NO_RETRIES}
    if endpoint:
        kw["endpoint_url"] = endpoint
    names = ("lambda", "iam", "s3", "logs", "cloudwatch", "stepfunctions", "cloudformation")
    return {n: boto3.client(n, **kw) for n in names}


@pytest.fixture
def aws(aws_env: dict[str, str]) -> dict[str, Any]:
    return clients()


@pytest.fixture
def role(aws: dict[str, Any]) -> str:
    """An execution role that may write the function's logs, as AWSLambdaBasicExecutionRole does."""
    trust = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    )
    name = f"fn-{uuid.uuid4().hex[:8]}"
    arn = aws["iam"].create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    logs = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]})
    aws["iam"].put_role_policy(RoleName=name, PolicyName="logs", PolicyDocument=logs)
    return str(arn)


Deploy = Callable[..., str]


@pytest.fixture
def deploy(aws: dict[str, Any], role: str) -> Deploy:
    """Create a function from ``{"app.py": source}`` (or more files); returns its name."""

    def create(files: dict[str, str] | str, *, handler: str = "app.handler", timeout: int = 3, **kw: Any) -> str:
        name = f"fn-{uuid.uuid4().hex[:10]}"
        code = make_zip({"app.py": files} if isinstance(files, str) else files)
        aws["lambda"].create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler=handler, Code={"ZipFile": code}, Timeout=timeout, **kw)
        return name

    return create


def invoke(lam: Any, name: str, event: Any = None, **kw: Any) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **kw)
    return response, json.loads(response["Payload"].read() or b"null")


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` in threads at once; their results (or exceptions) in order."""
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:  # kept for the assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


# --------------------------------------------------------------------------- invoke


def test_handler_sees_its_environment_and_context(aws: dict[str, Any], deploy: Deploy, moto_server: str) -> None:
    name = deploy(
        {"pkg/__init__.py": "", "pkg/mod.py": ECHO_ENV}, handler="pkg.mod.handler", timeout=7, MemorySize=256, Environment={"Variables": {"GREETING": "hello"}}
    )
    response, body = invoke(aws["lambda"], name, {"order": 42})
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert body["event"] == {"order": 42}
    env = body["env"]
    assert env["GREETING"] == "hello"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert (env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], env["AWS_LAMBDA_FUNCTION_TIMEOUT"]) == ("256", "7")
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["_HANDLER"] == "pkg.mod.handler"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["AWS_ENDPOINT_URL"] == moto_server
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA") and env["AWS_SESSION_TOKEN"]  # the execution role's
    assert env["MOTO_PORT"] is env["PYTHONUNBUFFERED"] is env["PYTHONPATH"] is None  # the server's own
    assert body["cwd"] == body["path0"] == env["LAMBDA_TASK_ROOT"]  # like /var/task
    ctx = body["context"]
    assert ctx["function_name"] == name and ctx["memory_limit_in_mb"] == 256
    assert ctx["invoked_function_arn"].endswith(f":function:{name}")
    assert ctx["log_group_name"] == f"/aws/lambda/{name}"
    assert 5_000 < ctx["remaining"] <= 7_000
    uuid.UUID(ctx["aws_request_id"])


def test_output_goes_to_the_log_not_the_result(aws: dict[str, Any], deploy: Deploy) -> None:
    name = deploy(CHATTY)
    marker = uuid.uuid4().hex
    response, body = invoke(aws["lambda"], name, {"marker": marker}, LogType="Tail")
    assert body == {"ok": True}
    tail = base64.b64decode(response["LogResult"]).decode()
    assert '{"not": "the result"}' in tail and "to stderr" in tail and marker in tail
    assert tail.startswith("START RequestId:") and "\nREPORT RequestId:" in tail

    plain, _ = invoke(aws["lambda"], name, {"marker": "x"})
    assert "LogResult" not in plain  # only with LogType=Tail

    def logged() -> list[str]:
        events = aws["logs"].filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        return [e["message"] for e in events]

    messages = wait_for(logged, what="CloudWatch Logs")
    assert '{"not": "the result"}' in messages
    assert any(marker in m and m.startswith("[WARNING]") for m in messages)
    assert any(m.startswith("REPORT RequestId:") and "Max Memory Used" in m for m in messages)


def test_exception_is_an_unhandled_function_error(aws: dict[str, Any], deploy: Deploy) -> None:
    name = deploy(FAILING)
    response, body = invoke(aws["lambda"], name)
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "OrderRejected"
    assert body["errorMessage"] == "order 42 is not valid"
    assert any("app.py" in frame and "raise OrderRejected" in frame for frame in body["stackTrace"])

    missing = deploy(FAILING, handler="nope.handler")
    response, body = invoke(aws["lambda"], missing)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"


@pytest.mark.timing  # the 1 s timeout is judged to within a second
def test_timeout_kills_the_handler_and_its_children(aws: dict[str, Any], deploy: Deploy, tmp_path: Path) -> None:
    name = deploy(SLEEPY, timeout=1)
    pid_file = tmp_path / "grandchild.pid"
    started = time.monotonic()
    response, body = invoke(aws["lambda"], name, {"seconds": 30, "child_pid_file": str(pid_file)})
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 2.0, elapsed
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    grandchild = int(pid_file.read_text())
    wait_for(lambda: _zombie(grandchild), timeout=3, what="the handler's own child process to die")


def _zombie(pid: int) -> bool:
    """Gone, or a zombie (ended, not yet reaped)."""
    return _state(pid) in ("Z", None)


GEVENT = """
def handler(event, context):
    import locust  # patches the process with gevent, then imports its submodules (they deadlocked once)
    from gevent import monkey
    return {"patched": monkey.is_module_patched("socket")}
"""


def test_a_handler_that_monkey_patches_with_gevent_runs(aws: dict[str, Any], deploy: Deploy) -> None:
    """The fan-out worker imports Locust in its handler, which patches the process with gevent;
    the runtime's own guard must not hold a thread then, or the imports after the patch hang."""
    name = deploy(GEVENT, timeout=20)
    response, body = invoke(aws["lambda"], name)
    assert "FunctionError" not in response, body
    assert body == {"patched": True}


DESCRIPTORS = """
import resource


def handler(event, context):
    held = []
    try:
        for _ in range(5000):
            held.append(open(__file__))
    except OSError as exc:
        error = exc.errno
    finally:
        count = len(held)
        for f in held:
            f.close()
    return {"opened": count, "errno": error, "limit": list(resource.getrlimit(resource.RLIMIT_NOFILE))}
"""


def test_a_handler_has_lambdas_1024_file_descriptors_and_gets_emfile_past_them(aws: dict[str, Any], deploy: Deploy) -> None:
    """Lambda allows 1,024 file descriptors per execution environment: the local runtime too, so
    that a worker with too many connections fails here as it would on AWS."""
    import errno

    response, body = invoke(aws["lambda"], deploy(DESCRIPTORS))
    assert "FunctionError" not in response, body
    assert body["limit"] == [1024, 1024]
    assert body["errno"] == errno.EMFILE and 1000 < body["opened"] < 1024  # stdin/out/err and the runtime's own hold a few


@pytest.mark.timing  # four 1 s invocations in under 3 s
def test_concurrent_invocations_run_in_parallel(aws: dict[str, Any], deploy: Deploy) -> None:
    name = deploy(SLEEPY)
    started = time.monotonic()
    results = together([lambda: invoke(aws["lambda"], name, {"seconds": 1}) for _ in range(4)])
    elapsed = time.monotonic() - started
    assert [body for _, body in results] == [{"slept": 1}] * 4
    assert elapsed < 3.0, elapsed


def allow_put(aws: dict[str, Any], role: str, bucket: str) -> None:
    """Let ``role`` write to ``bucket`` (the handler acts as its execution role)."""
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    aws["iam"].put_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName="put", PolicyDocument=json.dumps(policy))


def test_boto3_in_the_handler_reaches_moto(aws: dict[str, Any], deploy: Deploy, role: str) -> None:
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    aws["s3"].create_bucket(Bucket=bucket)
    allow_put(aws, role, bucket)
    name = deploy(WRITES_S3)
    _, body = invoke(aws["lambda"], name, {"bucket": bucket, "key": "out.txt", "body": "from the handler"})
    assert body == {"written": "out.txt"}
    assert aws["s3"].get_object(Bucket=bucket, Key="out.txt")["Body"].read() == b"from the handler"


def test_code_from_s3_and_cloudformation(aws: dict[str, Any], role: str) -> None:
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    aws["s3"].create_bucket(Bucket=bucket)
    aws["s3"].put_object(Bucket=bucket, Key="code.zip", Body=make_zip({"app.py": ECHO_ENV}))
    from_s3 = f"fn-{uuid.uuid4().hex[:10]}"
    aws["lambda"].create_function(FunctionName=from_s3, Runtime="python3.11", Role=role, Handler="app.handler", Code={"S3Bucket": bucket, "S3Key": "code.zip"})
    _, body = invoke(aws["lambda"], from_s3, {"via": "s3"})
    assert body["event"] == {"via": "s3"}

    from_cfn = f"fn-{uuid.uuid4().hex[:10]}"
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": from_cfn,
                    "Runtime": "python3.11",
                    "Role": role,
                    "Handler": "index.handler",
                    "Code": {"ZipFile": "def handler(event, context):\n    return {'cfn': event['n'] * 2}\n"},
                },
            }
        }
    }
    aws["cloudformation"].create_stack(StackName=f"s-{uuid.uuid4().hex[:8]}", TemplateBody=json.dumps(template))
    _, body = invoke(aws["lambda"], from_cfn, {"n": 21})
    assert body == {"cfn": 42}


def test_event_and_dry_run_invocations(aws: dict[str, Any], deploy: Deploy, role: str) -> None:
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    aws["s3"].create_bucket(Bucket=bucket)
    allow_put(aws, role, bucket)
    name = deploy(WRITES_S3)
    event = {"bucket": bucket, "key": "async.txt", "body": "later"}
    response = aws["lambda"].invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode())
    assert response["StatusCode"] == 202
    wait_for(lambda: aws["s3"].list_objects_v2(Bucket=bucket).get("KeyCount"), what="the Event invocation")
    dry = aws["lambda"].invoke(FunctionName=name, InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204


# --------------------------------------------------------------------------- concurrency and metrics


def test_reserved_concurrency_throttles_and_is_counted(aws: dict[str, Any], deploy: Deploy) -> None:
    name = deploy(SLEEPY)
    aws["lambda"].put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    started = datetime.now(UTC)

    def late() -> Any:
        time.sleep(0.3)  # the first one is surely running by now
        return invoke(aws["lambda"], name, {"seconds": 0})

    first, second = together([lambda: invoke(aws["lambda"], name, {"seconds": 1}), late])
    assert first[1] == {"slept": 1}
    assert isinstance(second, ClientError), second
    assert second.response["Error"]["Code"] == "TooManyRequestsException"
    assert second.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert second.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"

    aws["lambda"].put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError, match="TooManyRequestsException"):
        invoke(aws["lambda"], name, {"seconds": 0})

    queries = build_queries(lambda_functions=[name])

    def totals() -> dict[str, float] | None:
        df = fetch(aws["cloudwatch"], queries, start=started - timedelta(seconds=5), end=datetime.now(UTC) + timedelta(seconds=60), period=60)
        # the window can straddle a minute boundary (two 60-s periods): Sums add up, a Maximum does not
        combine = {"Sum": lambda v: v.sum(min_count=1), "Maximum": lambda v: v.max(), "Average": lambda v: v.mean()}
        sums = {
            key: float(combine[stat](df[(df.key == key) & (df.stat == stat)].value))
            for key, stat in (("invocations", "Sum"), ("throttles", "Sum"), ("errors", "Sum"), ("concurrent_executions", "Maximum"), ("duration", "Average"))
        }
        return sums if sums["throttles"] == 2 else None

    sums = wait_for(totals, timeout=8, what="the Throttles metric")
    assert sums["invocations"] == 1 and sums["errors"] == 0
    assert sums["concurrent_executions"] == 1
    assert not math.isnan(sums["duration"]) and sums["duration"] >= 1000


@contextlib.contextmanager
def server_of_its_own(monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A second moto server started with ``settings`` in its environment: boto3 clients for it, and its ``url``."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    for var, value in {**credentials, **settings}.items():
        monkeypatch.setenv(var, value)
    with MotoServer() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        yield {**clients(server.url), "url": server.url}


@pytest.fixture
def small_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A second moto server whose account allows one concurrent invocation."""
    with server_of_its_own(monkeypatch, {"HARNESS_LOCAL_LAMBDA_CONCURRENCY": "1"}) as aws:
        yield aws


def test_account_concurrency_limit(small_account: dict[str, Any]) -> None:
    aws = small_account
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    role = aws["iam"].create_role(RoleName="fn", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    aws["lambda"].create_function(FunctionName="slow", Runtime="python3.11", Role=role, Handler="app.handler", Code={"ZipFile": make_zip({"app.py": SLEEPY})})

    def late() -> Any:
        time.sleep(0.3)
        return invoke(aws["lambda"], "slow", {"seconds": 0})

    first, second = together([lambda: invoke(aws["lambda"], "slow", {"seconds": 1}), late])
    assert first[1] == {"slept": 1}
    assert isinstance(second, ClientError), second
    assert second.response["Reason"] == "ConcurrentInvocationLimitExceeded"


# --------------------------------------------------------------------------- Step Functions


def run_state_machine(aws: dict[str, Any], role: str, definition: dict[str, Any], event: Any) -> dict[str, Any]:
    """Run ``definition`` with ``role``, which may invoke any function (the state machine acts as it)."""
    invoke_any = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]}
    aws["iam"].put_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName="invoke", PolicyDocument=json.dumps(invoke_any))
    sfn = aws["stepfunctions"]
    arn = sfn.create_state_machine(name=f"sm-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(event))["executionArn"]
    return wait_for(lambda: (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d, timeout=20, what="the execution")


def task(name: str, **extra: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": name, "Payload.$": "$"}, **extra}


def test_step_functions_retry_on_handler_error(aws: dict[str, Any], deploy: Deploy, role: str, tmp_path: Path) -> None:
    name = deploy(FLAKY)
    retry = [{"ErrorEquals": ["FlakyError"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1.0}]
    definition = {"StartAt": "Call", "States": {"Call": task(name, Retry=retry, End=True)}}
    counter = tmp_path / "attempts"
    done = run_state_machine(aws, role, definition, {"counter": str(counter), "failures": 1})
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["Payload"] == {"attempts": 2}
    assert counter.read_text() == "2"


def test_step_functions_catch_on_handler_error_and_throttle(aws: dict[str, Any], deploy: Deploy, role: str, tmp_path: Path) -> None:
    name = deploy(FLAKY)
    catch = [{"ErrorEquals": ["FlakyError"], "ResultPath": "$.error", "Next": "Caught"}]
    definition = {"StartAt": "Call", "States": {"Call": task(name, Catch=catch, End=True), "Caught": {"Type": "Pass", "End": True}}}
    done = run_state_machine(aws, role, definition, {"counter": str(tmp_path / "n"), "failures": 99})
    assert done["status"] == "SUCCEEDED", done
    error = json.loads(done["output"])["error"]
    assert error["Error"] == "FlakyError"
    assert json.loads(error["Cause"])["errorMessage"] == "attempt 1 fails"

    throttled = deploy(FLAKY)
    aws["lambda"].put_function_concurrency(FunctionName=throttled, ReservedConcurrentExecutions=0)
    catch = [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "ResultPath": "$.error", "Next": "Caught"}]
    definition = {"StartAt": "Call", "States": {"Call": task(throttled, Catch=catch, End=True), "Caught": {"Type": "Pass", "End": True}}}
    done = run_state_machine(aws, role, definition, {"counter": str(tmp_path / "m"), "failures": 0})
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["error"]["Error"] == "Lambda.TooManyRequestsException"
    assert not (tmp_path / "m").exists()  # never ran


def test_nothing_runs_between_invocations(aws: dict[str, Any], deploy: Deploy, moto_server: str, tmp_path: Path) -> None:
    """After its answer an environment is frozen, as Lambda freezes it: a thread the handler left
    running makes no progress until the next invocation thaws it; its process is stopped (state T)."""
    name = deploy(TICKER)
    ticks = tmp_path / "ticks"
    _, first = invoke(aws["lambda"], name, {"ticks": str(ticks)})
    assert first["ticked"] and first["pid"] in _children(_server_pid(moto_server))
    wait_for(lambda: _state(first["pid"]) == "T", timeout=5, what="the environment to be stopped")
    frozen_at = ticks.stat().st_size
    time.sleep(0.5)
    assert ticks.stat().st_size == frozen_at  # no tick while frozen
    _, second = invoke(aws["lambda"], name, {"ticks": str(ticks)})
    assert second["pid"] == first["pid"] and second["threads"] == 1  # the same environment, thawed
    assert second["ticked"] and ticks.stat().st_size > frozen_at  # the thread ran again once thawed


def _server_pid(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_harness/health", timeout=5) as resp:
        return int(json.loads(resp.read())["pid"])


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (the server's threads are not processes)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:  # processes come and go while we look
            lines = status.read_text().splitlines()
        except OSError:
            continue
        ppid = next((int(line.split()[1]) for line in lines if line.startswith("PPid:")), None)
        if ppid == parent:
            found.append(int(status.parent.name))
    return found


# --------------------------------------------------------------------------- warm environments

WARM = """
import os, time

INVOCATIONS = 0  # module state: lives as long as the execution environment
IMPORTED_AT = time.time()


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    print("invocation", INVOCATIONS)
    if event.get("fail"):
        raise ValueError("asked to fail")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit"):
        os._exit(3)
    return {"invocations": INVOCATIONS, "pid": os.getpid(), "imported_at": IMPORTED_AT, "stream": context.log_stream_name,
            "greeting": os.environ.get("GREETING")}
"""

TICKER = """
import os, threading, time

STARTED = []
TICKS = [0]


def tick(path):
    while True:
        with open(path, "a") as f:
            f.write(".")
        TICKS[0] += 1
        time.sleep(0.02)


def handler(event, context):
    # each invocation answers once the thread has ticked during it (on a busy machine it might
    # not be scheduled at all between the thaw and the answer that freezes it again)
    seen = TICKS[0]
    if not STARTED:
        STARTED.append(threading.Thread(target=tick, args=(event["ticks"],), daemon=True))
        STARTED[0].start()
    deadline = time.time() + 5
    while TICKS[0] == seen and time.time() < deadline:
        time.sleep(0.005)
    return {"pid": os.getpid(), "threads": len(STARTED), "ticked": TICKS[0] > seen}
"""


def test_an_environment_is_reused_warm_and_initialised_once(aws: dict[str, Any], deploy: Deploy) -> None:
    """As on Lambda: the second invocation finds the module state of the first, in the same
    process; only the first REPORT line has an Init Duration; one log stream per environment."""
    name = deploy(WARM)
    first, one = invoke(aws["lambda"], name, LogType="Tail")
    second, two = invoke(aws["lambda"], name, LogType="Tail")
    assert (one["invocations"], two["invocations"]) == (1, 2)
    assert two["pid"] == one["pid"] and two["imported_at"] == one["imported_at"] and two["stream"] == one["stream"]
    reports = [base64.b64decode(r["LogResult"]).decode().rsplit("REPORT RequestId:", 1)[1] for r in (first, second)]
    assert "Init Duration:" in reports[0] and "Init Duration:" not in reports[1]
    assert "invocation 2" in base64.b64decode(second["LogResult"]).decode() and "invocation 1" not in base64.b64decode(second["LogResult"]).decode()

    def streams() -> list[str]:
        found = aws["logs"].describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
        events = aws["logs"].filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        return [s["logStreamName"] for s in found] if sum(e["message"].startswith("REPORT") for e in events) == 2 else []

    assert wait_for(streams, what="both invocations' logs") == [one["stream"]]


def test_an_error_answer_keeps_the_environment_a_timeout_or_a_crash_ends_it(aws: dict[str, Any], deploy: Deploy) -> None:
    """Lambda resets an environment after a timeout or a crash, not after an error answer."""
    name = deploy(WARM, timeout=1)
    _, first = invoke(aws["lambda"], name)
    response, error = invoke(aws["lambda"], name, {"fail": True})
    assert response["FunctionError"] == "Unhandled" and error["errorType"] == "ValueError"
    _, after_error = invoke(aws["lambda"], name)
    assert (after_error["invocations"], after_error["pid"]) == (3, first["pid"])

    response, error = invoke(aws["lambda"], name, {"sleep": 5})
    assert error["errorType"] == "Sandbox.Timedout"
    _, after_timeout = invoke(aws["lambda"], name)
    assert after_timeout["invocations"] == 1 and after_timeout["pid"] != first["pid"]

    response, error = invoke(aws["lambda"], name, {"exit": True})
    assert error["errorType"] == "Runtime.ExitError" and "exit status 3" in error["errorMessage"]
    _, after_crash = invoke(aws["lambda"], name)
    assert after_crash["invocations"] == 1 and after_crash["pid"] != after_timeout["pid"]


def test_new_code_or_configuration_gets_a_new_environment(aws: dict[str, Any], deploy: Deploy) -> None:
    name = deploy(WARM)
    _, first = invoke(aws["lambda"], name)
    aws["lambda"].update_function_configuration(FunctionName=name, Environment={"Variables": {"GREETING": "hi"}})
    _, configured = invoke(aws["lambda"], name)
    assert configured["greeting"] == "hi" and configured["invocations"] == 1 and configured["pid"] != first["pid"]
    aws["lambda"].update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": WARM + "\n# v2\n"}))
    _, updated = invoke(aws["lambda"], name)
    assert updated["invocations"] == 1 and updated["pid"] != configured["pid"]


def test_concurrent_invocations_get_environments_of_their_own(aws: dict[str, Any], deploy: Deploy) -> None:
    name = deploy(WARM)
    results = together([lambda: invoke(aws["lambda"], name, {"sleep": 0.5}) for _ in range(3)])
    assert len({body["pid"] for _, body in results}) == 3
    assert all(body["invocations"] == 1 for _, body in results)
    _, again = invoke(aws["lambda"], name)  # one of the three, warm
    assert again["invocations"] == 2 and again["pid"] in {body["pid"] for _, body in results}


@pytest.fixture
def cold_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A second moto server that keeps no environment warm."""
    with server_of_its_own(monkeypatch, {"HARNESS_LOCAL_LAMBDA_KEEP_WARM": "0"}) as aws:
        yield aws


def test_keep_warm_zero_starts_every_invocation_cold_and_leaves_no_process(cold_server: dict[str, Any]) -> None:
    aws = cold_server
    role = aws["iam"].create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    aws["lambda"].create_function(FunctionName="warm", Runtime="python3.11", Role=role, Handler="app.handler", Code={"ZipFile": make_zip({"app.py": WARM})})
    bodies = [invoke(aws["lambda"], "warm")[1] for _ in range(2)]
    assert [b["invocations"] for b in bodies] == [1, 1] and bodies[0]["pid"] != bodies[1]["pid"]
    wait_for(lambda: not _children(_server_pid(aws["url"])), timeout=5, what="no process of the server's left")


@pytest.mark.integration  # starts a moto server of its own
def test_handlers_die_with_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler still running when its server stops is killed, with what it started."""
    pid_file = tmp_path / "grandchild.pid"
    with server_of_its_own(monkeypatch, {}) as aws:
        role = aws["iam"].create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        aws["lambda"].create_function(
            FunctionName="slow", Runtime="python3.11", Role=role, Handler="app.handler", Code={"ZipFile": make_zip({"app.py": SLEEPY})}, Timeout=60
        )
        event = {"seconds": 60, "child_pid_file": str(pid_file)}
        aws["lambda"].invoke(FunctionName="slow", InvocationType="Event", Payload=json.dumps(event).encode())
        wait_for(pid_file.exists, what="the handler to start")
    grandchild = int(pid_file.read_text())
    wait_for(lambda: _zombie(grandchild), timeout=5, what="the handler's process group to die with the server")


def test_the_account_settings_answer_the_local_limit_less_the_reservations(aws: dict[str, Any], deploy: Deploy) -> None:
    lam = aws["lambda"]
    before = lam.get_account_settings()["AccountLimit"]
    name = deploy("def handler(event, context):\n    return 1\n")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=7)
    after = lam.get_account_settings()["AccountLimit"]
    assert after["ConcurrentExecutions"] == before["ConcurrentExecutions"] == 1000  # the local default, as Lambda's
    assert after["UnreservedConcurrentExecutions"] == before["UnreservedConcurrentExecutions"] - 7
