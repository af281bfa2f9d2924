"""Results: histogram precision, nearest-rank percentiles, exact merges, files and summaries."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from harness.results import OUTCOMES, RETRY_RESULTS, Histogram, ResultSet, bucket, classify


def hist_of(values: list[int] | np.ndarray) -> Histogram:
    hist = Histogram()
    for v in values:
        hist.record(int(v))
    return hist


def latencies_us(n: int, seed: int) -> np.ndarray:
    """Realistic latencies in microseconds: lognormal around 20 ms with a long tail, some under 1 ms."""
    rng = np.random.default_rng(seed)
    body = rng.lognormal(mean=np.log(20_000), sigma=1.0, size=n)
    fast = rng.integers(1, 1000, size=n // 10)
    return np.concatenate([body, fast]).astype(np.int64)


QS = [0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0]


# ---- buckets ---------------------------------------------------------------------------------


def test_buckets_are_exact_below_one_millisecond() -> None:
    assert [bucket(us) for us in range(1000)] == list(range(1000))


def test_bucket_relative_error_is_at_most_half_a_percent() -> None:
    values = np.concatenate([np.arange(1000, 100_000), np.random.default_rng(1).integers(100_000, 10**10, 20_000)])
    worst = 0.0
    for us in values.tolist():
        b = bucket(us)
        worst = max(worst, abs(b - us) / us)
    assert worst <= 0.005
    assert worst > 0.004  # the bound is tight: buckets are 3 significant digits, not finer or coarser


def test_buckets_are_monotonic_and_few() -> None:
    values = list(range(0, 300_000, 7))
    buckets = [bucket(v) for v in values]
    assert buckets == sorted(buckets)
    # 3 significant digits: 900 buckets per decade above 1 ms
    assert len({bucket(v) for v in range(10_000, 100_000)}) == 901  # 10.0 ms .. 99.9 ms and 100 ms


@pytest.mark.parametrize("us, expected", [(1000, 1000), (1004, 1000), (1005, 1010), (12_345, 12_300), (99_950, 100_000)])
def test_bucket_rounds_half_up_to_three_digits(us: int, expected: int) -> None:
    assert bucket(us) == expected


# ---- percentiles -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_match_numpy_within_precision(seed: int) -> None:
    data = latencies_us(5000 + seed * 777, seed)
    hist = hist_of(data)
    assert hist.count == len(data)
    assert hist.sum == int(data.sum())
    assert (hist.min, hist.max) == (int(data.min()), int(data.max()))
    assert hist.mean == pytest.approx(float(data.mean()))
    for q in QS:
        exact = float(np.percentile(data, q * 100, method="inverted_cdf"))  # nearest rank
        got = hist.percentile(q)
        assert got is not None
        assert abs(got - exact) <= 0.005 * exact, f"q={q}"
        # bucketing keeps order, so it is exactly the bucket of the exact value (within min..max);
        # the top rank is the maximum, which is kept exactly
        top = math.ceil(q * len(data) - 1e-9) >= len(data)
        assert got == (hist.max if top else min(max(bucket(int(exact)), hist.min), hist.max))
    assert hist.percentile(0.0) == data.min()  # under 1 ms: exact
    assert hist.percentile(1.0) == data.max()  # p100 is the exact maximum


def test_sub_millisecond_percentiles_are_exact() -> None:
    data = np.random.default_rng(5).integers(0, 1000, size=3001)
    hist = hist_of(data)
    for q in QS:
        assert hist.percentile(q) == float(np.percentile(data, q * 100, method="inverted_cdf"))


def test_nearest_rank_on_a_small_sample() -> None:
    hist = hist_of([15_000, 20_000, 35_000, 40_000, 50_000])
    assert hist.percentile(0.05) == 15_000
    assert hist.percentile(0.30) == 20_000  # rank ceil(1.5) = 2
    assert hist.percentile(0.40) == 20_000  # rank 2 exactly
    assert hist.percentile(0.41) == 35_000
    assert hist.percentile(1.0) == 50_000
    assert Histogram().percentile(0.5) is None
    assert Histogram().mean is None


def test_nearest_rank_is_not_fooled_by_float_rounding() -> None:
    hist = hist_of(range(1, 101))
    assert [hist.percentile(p / 100) for p in range(1, 101)] == [float(p) for p in range(1, 101)]


def test_extremes_stay_exact_despite_buckets() -> None:
    hist = hist_of([12_345, 12_346, 12_349])  # all in bucket 12_300
    assert hist.percentile(0.0) == 12_345  # not 12_300, below the real minimum
    assert hist.percentile(0.5) == 12_345  # the bucket 12_300 is clamped up into [min, max]
    assert hist.percentile(1.0) == 12_349  # p100 is the exact maximum
    assert hist.max == 12_349


# ---- merging ---------------------------------------------------------------------------------


def assert_same_hist(a: Histogram, b: Histogram) -> None:
    assert a.counts == b.counts
    assert (a.count, a.sum, a.min, a.max) == (b.count, b.sum, b.min, b.max)
    for q in QS:
        assert a.percentile(q) == b.percentile(q)


@pytest.mark.parametrize("seed", [11, 12])
def test_merge_of_halves_is_the_whole(seed: int) -> None:
    data = latencies_us(4000, seed)
    rng = np.random.default_rng(seed)
    mask = rng.random(len(data)) < 0.3
    left, right = hist_of(data[mask]), hist_of(data[~mask])
    whole = hist_of(data)
    assert_same_hist(hist_of(data[mask]).merge(right), whole)
    assert_same_hist(right.merge(left), whole)  # either order


def test_merge_of_many_parts_and_empties() -> None:
    data = latencies_us(3000, 21)
    parts = [hist_of(chunk) for chunk in np.array_split(data, 9)]
    assert_same_hist(Histogram.merged([Histogram(), *parts, Histogram()]), hist_of(data))
    # merging into an empty histogram takes min from the other, not 0
    single = Histogram().merge(hist_of([5_000, 7_000]))
    assert (single.min, single.max, single.count) == (5_000, 7_000, 2)
    assert_same_hist(hist_of([1, 2]).merge(Histogram()), hist_of([1, 2]))


def test_histogram_dict_round_trip() -> None:
    hist = hist_of(latencies_us(500, 3))
    assert_same_hist(Histogram.from_dict(json.loads(json.dumps(hist.to_dict()))), hist)


# ---- result sets -----------------------------------------------------------------------------

ENDPOINTS = ["list items", "get item", "create order"]
T0 = 1_764_170_000


def fake_records(n: int, seed: int) -> list[tuple[str, str, int, float, float]]:
    """(endpoint, outcome, status, start_time, response_time_ms) over 5 seconds."""
    rng = random.Random(seed)
    statuses = [200] * 20 + [201, 429, 429, 401, 403, 500, 503, 404, 0]
    rows = []
    for _ in range(n):
        endpoint = rng.choice(ENDPOINTS)
        expected = [201] if endpoint == "create order" else [200]
        status = rng.choice(statuses)
        if status == 201 and endpoint != "create order":
            status = 200
        rows.append((endpoint, classify(status, expected), status, T0 + rng.uniform(0, 5), rng.lognormvariate(3, 1)))
    return rows


def filled(rows: list[tuple[str, str, int, float, float]], results: ResultSet | None = None) -> ResultSet:
    results = results if results is not None else ResultSet(run_id="r1")
    for endpoint, outcome, status, start, ms in rows:
        results.record(endpoint, outcome, status, start_time=start, response_time_ms=ms)
        if status == 0:
            results.record_error(endpoint, "ConnectionResetError(104)")
    return results


def test_resultset_merge_across_workers_equals_one_resultset() -> None:
    rows = fake_records(3000, 7)
    single = filled(rows)
    workers = [ResultSet(run_id="r1") for _ in range(3)]
    for i, row in enumerate(rows):
        filled([row], workers[i % 3])
    for second in range(T0, T0 + 5):
        single.record_pacer(second, target=100.5, released=90, dropped=10)
        for w in workers:
            w.record_pacer(second, target=33.5, released=30, dropped=3)
        workers[0].record_pacer(second, dropped=1)
    merged = ResultSet(run_id="r1")
    for w in workers:
        merged.merge(w)

    assert merged.windows.keys() == single.windows.keys()
    for key, hist in single.windows.items():
        assert_same_hist(merged.windows[key], hist)
    assert merged.statuses == single.statuses
    assert merged.errors == single.errors
    assert {s: (w.target, w.released, w.dropped) for s, w in merged.pacer.items()} == {s: (w.target, w.released, w.dropped) for s, w in single.pacer.items()}
    # rows come in the order endpoints were first seen, which differs between workers
    assert sorted(merged.summary(), key=lambda r: r["endpoint"]) == sorted(single.summary(), key=lambda r: r["endpoint"])
    for q in (0.5, 0.95, 0.99):
        assert merged.percentile(q) == single.percentile(q)
        assert merged.percentile(q, endpoint="get item", outcomes=None) == single.percentile(q, endpoint="get item", outcomes=None)


def test_merge_copies_rather_than_shares_histograms() -> None:
    worker = filled(fake_records(50, 1))
    before = {k: h.to_dict() for k, h in worker.windows.items()}
    merged = ResultSet().merge(worker)
    for hist in merged.windows.values():
        hist.record(999_999)
    assert {k: h.to_dict() for k, h in worker.windows.items()} == before


def test_percentile_slices() -> None:
    results = ResultSet()
    results.record("a", "ok", 200, start_time=T0 + 0.5, response_time_ms=10)
    results.record("a", "ok", 200, start_time=T0 + 1.5, response_time_ms=30)
    results.record("b", "ok", 200, start_time=T0 + 1.2, response_time_ms=50)
    results.record("a", "server", 500, start_time=T0 + 1.9, response_time_ms=900)
    assert results.percentile(1.0) == 50.0  # outcome ok only by default
    assert results.percentile(1.0, outcomes=None) == 900.0
    assert results.percentile(1.0, endpoint="a") == 30.0
    assert results.percentile(1.0, endpoint="a", seconds=range(T0, T0 + 1)) == 10.0
    assert results.percentile(0.5, endpoint="c") is None
    assert results.total == 4
    assert results.span() == (T0, T0 + 1)
    assert results.status_counts("a") == Counter({200: 2, 500: 1})


def test_dict_and_file_round_trip(tmp_path: Path) -> None:
    results = filled(fake_records(800, 3))
    results.meta = {"duration": 5.0, "profile": "steady"}
    results.scenario = {"name": "steady", "load": {"profile": "steady", "rate": 100}}
    results.plan = [{"start": 0.0, "end": 5.0, "rate_from": 100.0, "rate_to": 100.0, "label": "steady"}]
    results.endpoints = {name: {"method": "GET"} for name in ENDPOINTS}
    for second in range(T0, T0 + 5):
        results.record_pacer(second, target=99.75, released=95, dropped=4)

    data = results.to_dict()
    again = ResultSet.from_dict(json.loads(json.dumps(data)))
    assert again.to_dict() == data

    path = results.save(tmp_path / "runs" / "r1" / "results.json")
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temporary file left
    assert json.loads(path.read_text())["schema"] == "harness.results/1"
    loaded = ResultSet.load(path)
    assert loaded.to_dict() == data
    assert loaded.summary() == results.summary()
    for key, hist in results.windows.items():
        assert_same_hist(loaded.windows[key], hist)
    assert loaded.pacer_totals().dropped == 20
    # a loaded result set merges like a live one
    assert ResultSet().merge(loaded).merge(loaded).total == 2 * results.total


def test_from_dict_rejects_other_files() -> None:
    with pytest.raises(ValueError, match="not a harness results file"):
        ResultSet.from_dict({"schema": "something/else"})


# ---- outcomes and summary --------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, expected, outcome",
    [
        (200, [200], "ok"),
        (201, [200, 201], "ok"),
        (204, [204], "ok"),
        (404, [404], "ok"),  # an expected 404 is fine
        (429, [429], "ok"),
        (200, [201], "client"),  # unexpected success is not ok
        (0, [200], "transport"),
        (429, [200], "throttled"),
        (401, [200], "auth"),
        (403, [200], "auth"),
        (500, [200], "server"),
        (502, [200], "server"),
        (503, [200], "server"),
        (504, [200], "server"),
        (400, [200], "client"),
        (404, [200], "client"),
        (409, [201], "client"),
        (302, [200], "client"),
    ],
)
def test_classify(status: int, expected: list[int], outcome: str) -> None:
    assert classify(status, expected) == outcome


def test_classify_covers_every_outcome() -> None:
    assert {classify(s, [200]) for s in (200, 429, 401, 500, 404, 0)} == set(OUTCOMES)


def test_summary_rows() -> None:
    results = ResultSet()
    for i, ms in enumerate([10, 20, 30, 40]):
        results.record("list", "ok", 200, start_time=T0 + i / 2, response_time_ms=ms)
    results.record("list", "throttled", 429, start_time=T0 + 1.1, response_time_ms=1)
    results.record("order", "server", 500, start_time=T0 + 1.2, response_time_ms=200)
    results.record("order", "server", 503, start_time=T0 + 1.3, response_time_ms=300)
    results.record("order", "ok", 201, start_time=T0 + 0.1, response_time_ms=100)

    rows = {row["endpoint"]: row for row in results.summary()}
    assert list(rows) == ["list", "order", "Total"]
    zeros = {o: 0 for o in OUTCOMES}
    # the run spans 2 whole seconds (T0 and T0 + 1)
    assert rows["list"] == {
        "endpoint": "list", "requests": 5, "rps": 2.5,
        "p50_ms": 20.0, "p95_ms": 40.0, "p99_ms": 40.0, "max_ms": 40.0,
        **zeros, "ok": 4, "throttled": 1,
    }  # fmt: skip
    assert rows["order"] == {
        "endpoint": "order", "requests": 3, "rps": 1.5,
        "p50_ms": 100.0, "p95_ms": 100.0, "p99_ms": 100.0, "max_ms": 100.0,
        **zeros, "ok": 1, "server": 2,
    }  # fmt: skip
    assert rows["Total"]["requests"] == 8
    assert rows["Total"]["rps"] == 4.0
    assert (rows["Total"]["p50_ms"], rows["Total"]["max_ms"]) == (30.0, 100.0)
    assert rows["Total"]["ok"] == 5 and rows["Total"]["server"] == 2 and rows["Total"]["throttled"] == 1

    # the run's own duration, when known, beats the span of seconds
    results.meta["duration"] = 8.0
    assert {r["endpoint"]: r["rps"] for r in results.summary()} == {"list": 0.625, "order": 0.375, "Total": 1.0}


def test_summary_of_an_endpoint_with_no_successes() -> None:
    results = ResultSet(endpoints={"declared but idle": {}})
    results.record("broken", "transport", 0, start_time=T0, response_time_ms=5)
    rows = {row["endpoint"]: row for row in results.summary()}
    assert rows["broken"]["p50_ms"] is None and rows["broken"]["max_ms"] is None
    assert rows["broken"]["transport"] == 1
    assert rows["declared but idle"]["requests"] == 0


# ---- retries ---------------------------------------------------------------------------------


def with_retries(results: ResultSet, rng: random.Random, n: int) -> ResultSet:
    """``n`` requests of "a" whose first attempt got a 503 and which then were retried up to
    twice: ok on a retry, gave up, or a retry answered 404 (failed after retry)."""
    for _ in range(n):
        t = T0 + rng.random() * 5
        results.record("a", "server", 503, start_time=t, response_time_ms=5.0)
        fate = rng.choice(RETRY_RESULTS[:3])
        statuses = {"ok_after_retry": [503, 200][rng.randrange(2) :], "gave_up": [503, 503], "failed_after_retry": [404]}[fate]
        for j, status in enumerate(statuses):
            outcome = classify(status, [200])
            results.record_retry("a", outcome, status, start_time=t + 0.1 * (j + 1), response_time_ms=5.0 + rng.random() * 20)
        results.record_retried("a", fate, start_time=t, elapsed_ms=50.0 + rng.random() * 500)
    return results


def test_retries_are_counted_apart_from_first_attempts() -> None:
    results = ResultSet(endpoints={"a": {}, "b": {}})
    results.record("a", "server", 503, start_time=T0 + 0.5, response_time_ms=5.0)
    results.record_retry("a", "ok", 200, start_time=T0 + 0.7, response_time_ms=8.0)
    results.record_retried("a", "ok_after_retry", start_time=T0 + 0.5, elapsed_ms=210.0)
    results.record("b", "ok", 200, start_time=T0 + 0.5, response_time_ms=4.0)
    # the windows are first attempts: the retried success is not a first-try success
    assert results.outcome_counts("a")["ok"] == 0 and results.outcome_counts("a")["server"] == 1
    assert results.total == 2 and results.status_counts() == Counter({503: 1, 200: 1})
    assert results.has_retries and not ResultSet().has_retries
    a, total = results.retry_summary()
    assert a["endpoint"] == "a" and total["endpoint"] == "Total"
    assert (a["retried"], a["retry_attempts"], a["attempts"], a["ok_after_retry"], a["gave_up"]) == (1, 1, 2, 1, 0)
    assert a["retry_outcomes"]["ok"] == 1 and a["ok_after_retry_p95_ms"] == 210.0
    assert total["attempts"] == 3  # b's first attempt, a's first attempt and its retry
    assert results.to_dict()["summary"]["retries"] == [a, total]
    assert ResultSet().to_dict()["summary"]["retries"] == []


def test_retries_merge_exactly_and_survive_files(tmp_path: Path) -> None:
    rng = random.Random(5)
    single = with_retries(ResultSet(run_id="r1", endpoints={"a": {}}), random.Random(5), 300)
    parts = [ResultSet(run_id="r1") for _ in range(3)]
    for i in range(300):  # the same requests, spread over three workers
        with_retries(parts[i % 3], rng, 1)
    merged = ResultSet(run_id="r1")
    for part in parts:
        merged.merge(ResultSet.loads(json.dumps(part.to_dict(summary=False))))
    for name in ("retry_windows", "retried"):
        mine, theirs = getattr(merged, name), getattr(single, name)
        assert mine.keys() == theirs.keys()
        for key, hist in theirs.items():
            assert_same_hist(mine[key], hist)
    assert merged.retry_statuses == single.retry_statuses
    assert merged.retry_summary() == single.retry_summary()
    row = single.retry_summary()[0]
    assert row["retried"] == 300 == sum(row[r] for r in RETRY_RESULTS)
    # every attempt: the first ones (all 503) and the retries, status by status
    assert row["attempts"] == 300 + sum(single.retry_statuses.values())
    # a file round trip keeps them, through load (histograms built while parsing) too
    path = single.save(tmp_path / "results.json")
    for loaded in (ResultSet.load(path), ResultSet.from_dict(json.loads(path.read_text()))):
        assert loaded.to_dict() == single.to_dict()


def test_a_file_from_before_retries_has_none() -> None:
    data = filled(fake_records(50, 2)).to_dict()
    for key in ("retry_windows", "retry_statuses", "retried"):
        del data[key]
    del data["summary"]["retries"]
    old = ResultSet.from_dict(data)
    assert not old.has_retries and old.retry_summary() == [] and old.total == 50
    assert ResultSet().merge(old).retry_statuses == Counter()


def test_a_run_meta_holds_the_keys_every_run_writes_in_their_order() -> None:
    from harness.meta import RunMeta
    from harness.scenario import Scenario

    scenario = Scenario.from_dict({"name": "m", "target": {"base_url": "http://127.0.0.1:9"}, "endpoints": [{"name": "a", "path": "/a"}],
                                   "load": {"profile": "steady", "rate": 5, "duration": 10, "vus": 3}})  # fmt: skip
    meta = RunMeta.of(scenario, run_id="r1", target={"base_url": "http://127.0.0.1:9"}, started_at=100.0, ended_at=110.25,
                      planned_duration=10.0, workers=1, status="completed").as_dict()  # fmt: skip
    assert list(meta) == ["run_id", "scenario", "profile", "target", "started_at", "ended_at", "duration", "planned_duration", "vus", "users",
                          "workers", "status", "error", "tool", "token_stats", "generator"]  # fmt: skip
    assert (meta["scenario"], meta["profile"], meta["vus"], meta["users"], meta["duration"]) == ("m", "steady", 3, 0, 10.25)
