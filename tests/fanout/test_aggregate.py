"""The aggregator's exact merge, as a tree, through S3 on the moto server: counts add up,
percentiles are those of all samples together, and a failed shard is named without losing
the others' data."""

from __future__ import annotations

import json
import random

import boto3
import pytest

from harness.fanout import aggregate
from harness.fanout.aggregate import collect, merge_final, merge_group, merge_slice, plan_merge
from harness.fanout.spec import StackDefaults, parse_input
from harness.fanout.store import RunStore
from harness.results import Histogram, ResultSet

T0 = 1_700_000_000


@pytest.fixture
def store(aws_env: dict[str, str]) -> RunStore:
    s3 = boto3.client("s3")
    bucket = f"results-{random.randrange(10**9)}"
    s3.create_bucket(Bucket=bucket)
    store = RunStore(s3, bucket=bucket, run_id="r1")
    spec = parse_input(
        {
            "scenario": {
                "name": "agg",
                "target": {"base_url": "http://127.0.0.1:9"},
                "endpoints": [{"name": "a", "path": "/a"}, {"name": "b", "path": "/b"}],
                "load": {"profile": "steady", "rate": 100, "duration": 20},
            },
            "workers": 7,
            "run_id": "r1",
        },
        defaults=StackDefaults(),
    )
    store.put_json(store.spec_key, spec.model_dump(mode="json"))
    store.put_json(store.segment_key(0), {"segment": 0, "start_at": T0, "window": [0, 20]})
    return store


def shard_results(index: int, rng: random.Random, samples: list[float]) -> ResultSet:
    results = ResultSet(run_id="r1")
    for second in range(T0, T0 + 20):
        results.record_pacer(second, target=100 / 7, released=14)
        for _ in range(14):
            ms = rng.lognormvariate(3, 0.6)
            samples.append(ms)
            results.record(rng.choice("ab"), "ok", 200, start_time=second + rng.random(), response_time_ms=ms)
    results.record("a", "server", 503, start_time=T0 + 3, response_time_ms=5.0)
    results.meta = {"status": "completed", "started_at": T0, "ended_at": T0 + 20.5, "shard": {"index": index, "count": 7, "segment": 0},
                    "generator": {"stalls": index, "longest_stall_ms": 1.0 * index, "max_lag_ms": 2.0, "late_start_ms": 10.0 * index, "skipped": 0},
                    "token_stats": {"logins": 2, "refreshes": 0}}  # fmt: skip
    return results


def test_the_tree_merge_is_exact_and_names_the_failed_shard(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aggregate, "GROUP_SIZE", 3)  # 6 shard files -> groups of 3, 3
    monkeypatch.setattr(aggregate, "SLICE_BYTES", 20_000)  # and several time slices
    rng, samples = random.Random(1), []
    for index in range(7):
        if index == 4:
            continue  # shard 4 failed: Step Functions recorded why, it wrote nothing
        store.put_json(store.shard_key(0, index), shard_results(index, rng, samples).to_dict(summary=False))
    store.put_json(store.failure_key(0, 4), {"segment": 0, "index": 4, "reason": "RuntimeError: boom"})

    plan = plan_merge(store)
    assert plan["groups"] == [0, 1] and len(plan["slices"]) > 2
    for group in plan["groups"]:
        merge_group(store, group)
    for index in plan["slices"]:
        merge_slice(store, index)
    summary = merge_final(store)
    assert summary == {"results_key": "runs/r1/results.json", "requests": 6 * (280 + 1), "failed_shards": 1, "status": "failed"}

    merged = ResultSet.from_dict(store.get_json(store.results_key))
    assert merged.total == 6 * 281 and merged.outcome_counts()["server"] == 6
    assert merged.pacer_totals().released == 6 * 14 * 20
    # percentiles of the merged histograms are those of every sample together (to the bucket)
    everything = Histogram()
    for ms in samples:
        everything.record(int(ms * 1000 + 0.5))
    for q in (0.5, 0.95, 0.99):
        assert merged.percentile(q) == everything.percentile(q) / 1000
    meta = merged.meta
    assert meta["status"] == "failed" and meta["workers"] == 7
    assert "1 of 7 shards failed: shard 4 (RuntimeError: boom)" in meta["error"]
    assert meta["failed_shards"] == [{"segment": 0, "index": 4, "reason": "RuntimeError: boom"}]
    assert [s["status"] for s in meta["shards"]] == ["completed"] * 4 + ["failed"] + ["completed"] * 2
    assert meta["generator"]["stalls"] == sum(i for i in range(7) if i != 4)
    assert meta["generator"]["late_start_ms"] == 60.0
    assert meta["token_stats"]["logins"] == 12
    assert meta["started_at"] == T0 and meta["planned_duration"] == 20
    # the summary written beside the windows is that of the merged windows
    written = store.get_json(store.results_key)["summary"]
    assert written["endpoints"] == merged.summary()
    assert (written["released"], written["dropped"]) == (6 * 280, 0)
    # the same as merging every shard file in one go
    direct = collect(store, interrupted=False)
    assert direct.to_dict()["windows"] == merged.to_dict()["windows"]
    assert direct.statuses == merged.statuses and direct.pacer_totals() == merged.pacer_totals()
    # recovery time from the slices' per-second digests is that of the whole merged run
    assert merged.recovery is not None and merged.recovery == direct.recovery


def test_a_shard_that_never_reported_is_named_missing(store: RunStore) -> None:
    rng, samples = random.Random(2), []
    for index in range(6):
        store.put_json(store.shard_key(0, index), shard_results(index, rng, samples).to_dict(summary=False))
    plan = plan_merge(store)
    for group in plan["groups"]:
        merge_group(store, group)
    for index in plan["slices"]:
        merge_slice(store, index)
    merge_final(store)
    meta = ResultSet.from_dict(store.get_json(store.results_key)).meta
    assert meta["status"] == "failed" and "shard 6 (no results" in meta["error"]


def test_collect_merges_what_there_is_after_a_stop(store: RunStore) -> None:
    rng, samples = random.Random(3), []
    for index in (0, 2):
        store.put_json(store.shard_key(0, index), shard_results(index, rng, samples).to_dict(summary=False))
    results = collect(store)
    assert results.total == 2 * 281
    assert results.meta["status"] == "interrupted"
    assert [s["status"] for s in results.meta["shards"]] == ["completed", "missing", "completed", "missing", "missing", "missing", "missing"]


def test_failure_reason_reads_lambda_error_payloads() -> None:
    reason = aggregate.failure_reason("ValueError", '{"errorMessage": "bad shard", "errorType": "ValueError", "stackTrace": []}')
    assert reason == "ValueError: bad shard"
    assert aggregate.failure_reason("States.Timeout", "took too long") == "States.Timeout: took too long"
    assert aggregate.failure_reason(None, None) == "failed"


def test_the_tree_merge_keeps_retries_apart_and_exact(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aggregate, "GROUP_SIZE", 3)  # 7 shard files -> groups of 3, 3, 1
    monkeypatch.setattr(aggregate, "SLICE_BYTES", 20_000)  # and several time slices
    rng, samples = random.Random(4), []
    shards = []
    for index in range(7):
        shard = shard_results(index, rng, samples)
        for _ in range(30):  # a 503 first, then a retry: ok, or a 503 again and giving up
            t = T0 + rng.random() * 19
            shard.record("a", "server", 503, start_time=t, response_time_ms=4.0)
            ok = rng.random() < 0.7
            shard.record_retry("a", "ok" if ok else "server", 200 if ok else 503, start_time=t + 0.6, response_time_ms=rng.uniform(1, 30))
            shard.record_retried("a", "ok_after_retry" if ok else "gave_up", start_time=t, elapsed_ms=rng.uniform(100, 900))
        shards.append(shard)
        store.put_json(store.shard_key(0, index), shard.to_dict(summary=False))
    everything = ResultSet()
    for shard in shards:
        everything.merge(ResultSet.loads(json.dumps(shard.to_dict(summary=False))))

    plan = plan_merge(store)
    assert len(plan["slices"]) > 2
    for group in plan["groups"]:
        merge_group(store, group)
    for index in plan["slices"]:
        merge_slice(store, index)
    merge_final(store)
    written = store.get_json(store.results_key)
    merged = ResultSet.from_dict(written)
    # first attempts and retries stay apart, each exactly the sum of the shards'
    assert merged.total == everything.total == 7 * (281 + 30)
    assert merged.retry_statuses == everything.retry_statuses and sum(merged.retry_statuses.values()) == 7 * 30
    for name in ("retry_windows", "retried"):
        assert {k: h.to_dict() for k, h in getattr(merged, name).items()} == {k: h.to_dict() for k, h in getattr(everything, name).items()}
    # the summary written beside the windows (from the slices' totals) is that of the merged data
    assert written["summary"]["retries"] == merged.retry_summary() == everything.retry_summary()
    row = merged.retry_summary()[0]
    assert row["retried"] == 7 * 30 == row["ok_after_retry"] + row["gave_up"]
    # the same as merging every shard file in one go
    direct = collect(store, interrupted=False)
    assert direct.to_dict()["retry_windows"] == merged.to_dict()["retry_windows"]
    assert direct.to_dict()["retried"] == merged.to_dict()["retried"]


def test_a_run_stopped_by_harness_names_no_shard_failed(store: RunStore) -> None:
    # issue 18: an interrupted fan-out printed "shard N (segment 0) failed: None" for every shard
    rng, samples = random.Random(4), []
    for index in (0, 2):
        part = shard_results(index, rng, samples)
        part.meta["status"] = "interrupted"
        store.put_json(store.shard_key(0, index), part.to_dict(summary=False))
    results = collect(store, interrupted=True)
    assert results.meta["status"] == "interrupted"
    assert [s["status"] for s in results.meta["shards"]][:3] == ["interrupted", "missing", "interrupted"]
    assert results.meta["failed_shards"] == []


def test_a_failed_shard_without_an_error_is_named_by_its_status_never_none(store: RunStore) -> None:
    rng, samples = random.Random(5), []
    for index in range(7):
        part = shard_results(index, rng, samples)
        if index == 3:
            part.meta["status"], part.meta["error"] = "failed", None
        store.put_json(store.shard_key(0, index), part.to_dict(summary=False))
    meta = collect(store, interrupted=False).meta
    assert meta["failed_shards"] == [{"segment": 0, "index": 3, "reason": "failed"}]
