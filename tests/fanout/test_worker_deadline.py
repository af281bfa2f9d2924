"""A worker Lambda near its timeout saves what it measured: on the local Lambda runtime, which
ends an invocation at the function's timeout as Lambda does.

The real worker handler, from the real code zip, runs one shard whose plan is far longer than
the function's timeout, against a plain HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from harness.fanout.package import build_package
from harness.fanout.shards import Shard
from harness.fanout.spec import UPLOAD_MARGIN
from harness.fanout.store import RunStore
from harness.results import ResultSet
from tests.conftest import http_server

pytestmark = pytest.mark.integration

TIMEOUT = 25  # the worker function's timeout, seconds: UPLOAD_MARGIN of it is kept for saving


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    with http_server(_Ok) as url:
        yield url


def test_a_worker_given_too_little_time_still_leaves_its_results(aws_env: dict[str, str], target: str, tmp_path: Path) -> None:
    assert TIMEOUT > UPLOAD_MARGIN + 5
    no_retries = Config(retries={"max_attempts": 0, "mode": "standard"}, read_timeout=TIMEOUT + 60)
    lam, s3, iam = (boto3.client(name, config=no_retries) for name in ("lambda", "s3", "iam"))
    bucket = f"results-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})  # fmt: skip
    role_name = f"worker-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    # the local stack enforces the role (harness.local.iam): the worker writes its results and reads stop.json
    iam.put_role_policy(RoleName=role_name, PolicyName="worker", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": f"arn:aws:s3:::{bucket}/runs/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}]}))  # fmt: skip
    code = build_package(out=tmp_path / "src.zip", deps=False).path.read_bytes()
    name = f"worker-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="harness.fanout.handlers.worker",
                        Code={"ZipFile": code}, Timeout=TIMEOUT, MemorySize=1769,
                        Environment={"Variables": {"RESULTS_BUCKET": bucket}})  # fmt: skip

    scenario = {
        "name": "too-long-for-its-lambda",
        "target": {"base_url": target},
        "endpoints": [{"name": "root", "path": "/"}],
        "load": {"profile": "steady", "rate": 5, "duration": "10m"},  # 600 s of plan in a 25 s function
    }
    shard = Shard(run_id="deadline-1", bucket=bucket, segment=0, segments=1, index=0, count=1,
                  start_at=time.time() + 3, window=(0.0, 600.0), scenario=scenario)  # fmt: skip
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"shard": shard.model_dump(mode="json")}).encode())
    payload = json.loads(response["Payload"].read())

    # the worker ended its shard itself, before Lambda's timeout, and said why
    assert response.get("FunctionError") == "Unhandled", payload
    assert payload["errorType"] == "ShardFailed", payload
    assert "time limit" in payload["errorMessage"] and "results were saved" in payload["errorMessage"]
    # ... and its results are in the bucket, with the requests it made
    store = RunStore(s3, bucket=bucket, run_id="deadline-1")
    results = ResultSet.loads(s3.get_object(Bucket=bucket, Key=store.shard_key(0, 0))["Body"].read())
    assert results.meta["status"] == "failed" and "time limit" in results.meta["error"]
    assert results.total > 0
    assert results.duration() < TIMEOUT
