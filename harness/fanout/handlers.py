"""The Lambda handlers of the fan-out stack (``infra/fanout.yaml``): a few lines each.

Each parses its event, calls the package (the same functions the CLI uses) and returns small
JSON for the state machine (``infra/statemachines/*.asl.json``); results travel through S3.

    controller  {"action": "validate" | "prepare_users" | "plan_segment" | "record_failure" | "stop_shards"
                 | "await_shards" | "delete_users", ...}
    worker      {"shard": a Shard (one Distributed Map item), "execution_arn": the run's execution}
    aggregator  {"action": "plan_merge" | "merge_group" | "merge_slice" | "merge_final", ...}

Nothing heavy is imported at module level: the worker must import Locust (which patches the
process with gevent) before boto3.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["controller", "worker", "aggregator"]


def worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from harness.fanout.worker import run_worker  # Locust first: it patches the process with gevent

    # isort: split
    import time

    from harness.aws import AwsContext
    from harness.fanout.shards import Shard

    deadline = time.time() + context.get_remaining_time_in_millis() / 1000.0  # when Lambda ends this invocation
    aws = AwsContext()
    return run_worker(Shard.model_validate(event["shard"]), s3=aws.client("s3"), sfn=aws.client("stepfunctions"),
                      execution_arn=event.get("execution_arn"), deadline=deadline)  # fmt: skip


def controller(event: dict[str, Any], context: Any) -> Any:
    return _dispatch(_CONTROLLER, event)


def aggregator(event: dict[str, Any], context: Any) -> Any:
    return _dispatch(_AGGREGATOR, event)


# ---- controller actions ----------------------------------------------------------------------


def _validate(event: dict[str, Any]) -> dict[str, Any]:
    from harness.fanout.spec import StackDefaults, parse_input

    spec = parse_input(event.get("input"), defaults=StackDefaults.from_env())
    store = _store(spec.run_id)
    store.put_json(store.spec_key, spec.model_dump(mode="json"))
    scenario = spec.scenario()
    return {
        "run_id": spec.run_id,
        "bucket": store.bucket,
        "workers": spec.workers,
        "segments": spec.segments,
        "tolerated_failure_percentage": scenario.fanout.tolerated_failure_percentage,
    }


def _prepare_users(event: dict[str, Any]) -> dict[str, Any]:
    from harness.auth.users import ensure_test_users

    scenario = _spec(event["run_id"]).scenario()
    auth = scenario.auth
    if auth is None:
        return {"users": 0}
    # the pool's region, not the Lambda's
    report = ensure_test_users(count=auth.users, prefix=auth.username_prefix, pool=auth.user_pool_id, region=auth.region)
    return {"users": auth.users, "created": report.created}


def _plan_segment(event: dict[str, Any]) -> dict[str, Any]:
    import time

    from harness.fanout.shards import plan_segment

    spec = _spec(event["run_id"])
    segment = int(event.get("segment", 0))
    scenario = spec.scenario()
    store = _store(spec.run_id)
    start_at = time.time() + scenario.fanout.start_lead
    shards = plan_segment(spec, bucket=store.bucket, segment=segment, start_at=start_at)
    store.put_json(store.manifest_key(segment), [s.model_dump(mode="json") for s in shards])
    store.put_json(store.segment_key(segment), {"segment": segment, "start_at": start_at, "window": list(spec.windows[segment])})
    return {
        "bucket": store.bucket,
        "manifest_key": store.manifest_key(segment),
        "segment": segment,
        "segments": spec.segments,
        "workers": spec.workers,
        "tolerated_failure_percentage": scenario.fanout.tolerated_failure_percentage,
    }


def _record_failure(event: dict[str, Any]) -> dict[str, Any]:
    from harness.fanout.aggregate import failure_reason

    shard = event["shard"]
    error = event.get("error") or {}
    store = _store(shard["run_id"])
    record = {
        "segment": shard["segment"],
        "index": shard["index"],
        "error": error.get("Error"),
        "cause": error.get("Cause"),
        "reason": failure_reason(error.get("Error"), error.get("Cause")),
    }
    store.put_json(store.failure_key(shard["segment"], shard["index"]), record)
    return record


def _stop_shards(event: dict[str, Any]) -> dict[str, Any]:
    """The Distributed Map failed: Step Functions aborted the other children, but their Lambdas
    go on (on AWS as locally), loading the target. ``stop.json`` ends their shards."""
    from harness.fanout.aggregate import failure_reason

    error = event.get("error") or {}
    cause = failure_reason(error.get("Error"), error.get("Cause"))
    return _store(event["run_id"]).stop(f"the shards' Distributed Map failed ({cause})")


def _await_shards(event: dict[str, Any]) -> dict[str, Any]:
    """After a stop: are all of the segment's shards in (results or failure), or is the wait
    (``STOP_GRACE`` s after the stop) over? The state machine asks again every few seconds,
    so that the merge sees what the stopped workers save, and never waits for ever."""
    import time

    from harness.fanout.store import STOP_GRACE

    store = _store(event["run_id"])
    segment = int(event["segment"])
    workers = _spec(event["run_id"]).workers
    pending = sorted(set(range(workers)) - store.ended(segment))
    stopped = store.get_json_or_none(store.stop_key) or {"at": time.time()}
    return {"done": not pending or time.time() >= float(stopped["at"]) + STOP_GRACE, "pending": len(pending)}


def _delete_users(event: dict[str, Any]) -> dict[str, Any]:
    from harness.auth.users import DEFAULT_PREFIX, delete_users
    from harness.aws import AwsContext
    from harness.fanout.spec import StackDefaults, cleanup_target
    from harness.target import pool_region

    pool, prefix, count = cleanup_target(event.get("input") or {}, defaults=StackDefaults.from_env())
    aws = AwsContext(region=pool_region(pool))  # the pool's region, not the Lambda's (else the Lambda's)
    report = delete_users(
        cognito=aws.client("cognito-idp"), secrets=aws.client("secretsmanager"), user_pool_id=pool,
        prefix=prefix or DEFAULT_PREFIX, rate=25.0, progress=False,
    )  # fmt: skip
    return {"user_pool_id": pool, "deleted": report.deleted, "requested": count, "ok": report.ok, "summary": report.summary()}


# ---- aggregator actions ----------------------------------------------------------------------


def _plan_merge(event: dict[str, Any]) -> dict[str, Any]:
    from harness.fanout.aggregate import plan_merge

    return plan_merge(_store(event["run_id"]))


def _merge_group(event: dict[str, Any]) -> dict[str, Any]:
    from harness.fanout.aggregate import merge_group

    return merge_group(_store(event["run_id"]), int(event["group"]))


def _merge_slice(event: dict[str, Any]) -> dict[str, Any]:
    from harness.fanout.aggregate import merge_slice

    return merge_slice(_store(event["run_id"]), int(event["slice"]))


def _merge_final(event: dict[str, Any]) -> dict[str, Any]:
    from harness.fanout.aggregate import merge_final

    return merge_final(_store(event["run_id"]), map_error=event.get("map_error") or None)


# ---- plumbing ----------------------------------------------------------------------------------

_CONTROLLER: dict[str, Callable[[dict[str, Any]], Any]] = {
    "validate": _validate,
    "prepare_users": _prepare_users,
    "plan_segment": _plan_segment,
    "record_failure": _record_failure,
    "stop_shards": _stop_shards,
    "await_shards": _await_shards,
    "delete_users": _delete_users,
}
_AGGREGATOR: dict[str, Callable[[dict[str, Any]], Any]] = {
    "plan_merge": _plan_merge,
    "merge_group": _merge_group,
    "merge_slice": _merge_slice,
    "merge_final": _merge_final,
}


def _dispatch(actions: dict[str, Callable[[dict[str, Any]], Any]], event: dict[str, Any]) -> Any:
    from harness.errors import UsageError

    action = event.get("action") if isinstance(event, dict) else None
    handler = actions.get(str(action))
    if handler is None:
        raise UsageError(f"unknown action {action!r}; use one of: {', '.join(actions)}")
    return handler(event)


def _store(run_id: str) -> Any:
    from harness.aws import AwsContext
    from harness.fanout.store import RunStore

    return RunStore(AwsContext().client("s3"), bucket=os.environ["RESULTS_BUCKET"], run_id=run_id)


def _spec(run_id: str) -> Any:
    from harness.fanout.spec import RunSpec

    store = _store(run_id)
    return RunSpec.model_validate(store.get_json(store.spec_key))
