"""FlatHistograms: vectorised percentiles equal Histogram.percentile on the merged windows."""

from __future__ import annotations

import numpy as np
import pytest

from harness.report import quantiles
from harness.report.quantiles import FlatHistograms
from harness.results import Histogram, ResultSet, bucket

QS = (0.0, 0.001, 0.07, 0.5, 0.95, 0.99, 0.999, 1.0)


def _expect(results: ResultSet, **slice_: object) -> list[float | None]:
    hist = results.select(**slice_)
    return [hist.percentile(q) for q in QS]


def _same(got: np.ndarray, want: list[float | None]) -> bool:
    return all((w is None and np.isnan(g)) or g == w for g, w in zip(got, want))


def test_per_second_percentiles_equal_merged_histograms(results: ResultSet) -> None:
    flat = FlatHistograms.of(results)
    first = int(flat.seconds.min())
    n = int(flat.seconds.max()) - first + 1
    got = flat.percentiles(flat.seconds - first, n, QS)
    assert got.shape == (n, len(QS))
    for i in range(n):
        assert _same(got[i], _expect(results, seconds=range(first + i, first + i + 1))), f"second {i}"


def test_per_endpoint_and_whole_run_percentiles(results: ResultSet) -> None:
    flat = FlatHistograms.of(results, outcomes=None)
    per_endpoint = flat.percentiles(flat.endpoint, len(flat.endpoints), QS)
    for i, name in enumerate(flat.endpoints):
        assert _same(per_endpoint[i], _expect(results, endpoint=name, outcomes=None))
    whole = flat.percentiles(np.zeros(len(flat), dtype=np.int64), 1, QS)
    assert _same(whole[0], _expect(results, outcomes=None))
    assert flat.totals(flat.endpoint, len(flat.endpoints)).sum() == results.total


def test_small_blocks_give_the_same_answers(results: ResultSet, monkeypatch: pytest.MonkeyPatch) -> None:
    flat = FlatHistograms.of(results)
    first = int(flat.seconds.min())
    n = int(flat.seconds.max()) - first + 1
    whole = flat.percentiles(flat.seconds - first, n, QS)
    monkeypatch.setattr(quantiles, "_BLOCK_CELLS", 1)  # one group per block
    assert np.array_equal(flat.percentiles(flat.seconds - first, n, QS), whole, equal_nan=True)


def test_empty_groups_are_nan_and_empty_results_work() -> None:
    results = ResultSet()
    results.record("a", "ok", 200, start_time=100.2, response_time_ms=12.3)
    results.record("a", "ok", 200, start_time=102.7, response_time_ms=1234.5)
    flat = FlatHistograms.of(results)
    got = flat.percentiles(flat.seconds - 100, 3, (0.5,))
    assert got[0, 0] == 12300 and np.isnan(got[1, 0]) and got[2, 0] == 1234500
    empty = FlatHistograms.of(ResultSet())
    assert len(empty) == 0 and np.isnan(empty.percentiles(np.zeros(0, np.int64), 2, (0.5,))).all()


def test_bucket_levels_are_exact_and_ordered() -> None:
    rng = np.random.default_rng(3)
    raw = np.concatenate([np.arange(0, 30_000), rng.integers(0, 10**11, 50_000)])
    keys = np.array([bucket(int(x)) for x in raw], dtype=np.int64)
    values, index = quantiles._levels(keys)
    assert np.array_equal(values[index], keys)
    assert (np.diff(values) > 0).all()


def test_hand_made_buckets_fall_back_to_sorting() -> None:
    """Histograms filled by hand (not through ``bucket``) still give exact answers."""
    hist = Histogram()
    hist.counts = {1234: 3, 5: 1, 99_999: 2}
    hist.count, hist.sum, hist.min, hist.max = 6, 3 * 1234 + 5 + 2 * 99_999, 5, 99_999
    results = ResultSet()
    results.windows[("a", "ok", 7)] = hist
    flat = FlatHistograms.of(results)
    assert list(flat.levels) == [5, 1234, 99_999]
    got = flat.percentiles(np.zeros(1, np.int64), 1, QS)[0]
    assert _same(got, [hist.percentile(q) for q in QS])
