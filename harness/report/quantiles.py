"""Percentiles of many histogram groups at once, vectorised with numpy.

A report needs percentiles of thousands of slices (every second of an hour, every endpoint).
Merging ``Histogram`` dicts one slice at a time is slow in Python, so the windows are flattened
once into arrays of (window, bucket, count); any grouping of the windows is then answered with a
few vectorised passes (see ``FlatHistograms.percentiles``)::

    flat = FlatHistograms.of(results, outcomes=("ok",))
    first, n = flat.seconds.min(), flat.seconds.max() - flat.seconds.min() + 1
    per_second = flat.percentiles(flat.seconds - first, n, (0.5, 0.95, 0.99))   # µs, shape (n, 3)

The answers equal ``Histogram.merged(...).percentile(q)`` exactly: nearest rank over the merged
bucket counts, clamped to the exact min and max of the merged windows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from harness.results import Histogram, ResultSet

__all__ = ["FlatHistograms"]

#: cells (groups x distinct buckets) added up at once: bounds the working memory to ~16 MB
_BLOCK_CELLS = 2_000_000
_CHUNK = 1 << 20
_POWERS = np.array([10**k for k in range(1, 19)], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class FlatHistograms:
    """The non-empty windows of a ResultSet as parallel numpy arrays (latencies in µs)."""

    endpoints: tuple[str, ...]
    #: per window: index into ``endpoints``, Unix second, count, sum, min, max
    endpoint: np.ndarray
    seconds: np.ndarray
    count: np.ndarray
    sum: np.ndarray
    min: np.ndarray
    max: np.ndarray
    #: per (window, bucket) entry, ``sizes[i]`` entries per window: the bucket as an index into
    #: ``levels`` (the distinct bucket values, ascending) and its count
    sizes: np.ndarray
    level: np.ndarray
    bucket_counts: np.ndarray
    levels: np.ndarray

    @classmethod
    def of(cls, results: ResultSet, *, outcomes: Iterable[str] | None = ("ok",), endpoints: Sequence[str] | None = None) -> FlatHistograms:
        """Flatten the windows of ``outcomes`` (None: all); ``endpoints`` fixes the index order."""
        wanted = set(outcomes) if outcomes is not None else None
        names = list(endpoints) if endpoints is not None else results.endpoint_names()
        index = {name: i for i, name in enumerate(names)}
        keys: list[tuple[str, str, int]] = []
        hists: list[Histogram] = []
        for key, hist in results.windows.items():
            if hist.count and (wanted is None or key[1] in wanted):
                if key[0] not in index:
                    index[key[0]] = len(names)
                    names.append(key[0])
                keys.append(key)
                hists.append(hist)
        n = len(hists)
        sizes = np.fromiter((len(h.counts) for h in hists), np.int64, n)
        total = int(sizes.sum())
        buckets = np.fromiter(itertools.chain.from_iterable(h.counts.keys() for h in hists), np.int64, total)
        levels, level = _levels(buckets)
        del buckets
        return cls(
            endpoints=tuple(names),
            endpoint=np.fromiter((index[k[0]] for k in keys), np.int64, n),
            seconds=np.fromiter((k[2] for k in keys), np.int64, n),
            count=np.fromiter((h.count for h in hists), np.int64, n),
            sum=np.fromiter((h.sum for h in hists), np.float64, n),
            min=np.fromiter((h.min for h in hists), np.int64, n),
            max=np.fromiter((h.max for h in hists), np.int64, n),
            sizes=sizes,
            level=level,
            bucket_counts=np.fromiter(itertools.chain.from_iterable(h.counts.values() for h in hists), np.float64, total),
            levels=levels,
        )

    def __len__(self) -> int:
        return len(self.count)

    def totals(self, groups: np.ndarray, n_groups: int) -> np.ndarray:
        """Request count per group (``groups[i]`` is window i's group, 0..n_groups-1)."""
        return np.bincount(groups, weights=self.count, minlength=n_groups).astype(np.int64)

    def maxima(self, groups: np.ndarray, n_groups: int) -> np.ndarray:
        """Exact max latency (µs) per group; NaN for empty groups."""
        out = np.full(n_groups, -np.inf)
        np.maximum.at(out, groups, self.max.astype(np.float64))
        out[np.isinf(out)] = np.nan
        return out

    def percentiles(self, groups: np.ndarray, n_groups: int, qs: Sequence[float]) -> np.ndarray:
        """Nearest-rank percentiles (µs) of each group's merged histogram: shape (n_groups, len(qs)).

        ``groups[i]`` is window i's group (0..n_groups-1). Empty groups give NaN. Counts are
        added into a dense (group x distinct bucket) matrix, a block of groups at a time, whose
        running sums along the buckets answer every quantile at once: no sorting.
        """
        out = np.full((n_groups, len(qs)), np.nan)
        if len(self) == 0 or n_groups == 0:
            return out
        width = len(self.levels)
        groups = np.asarray(groups, dtype=np.int64)
        lo = np.full(n_groups, np.iinfo(np.int64).max)
        hi = np.full(n_groups, np.iinfo(np.int64).min)
        np.minimum.at(lo, groups, self.min)
        np.maximum.at(hi, groups, self.max)
        block = max(1, _BLOCK_CELLS // width)
        cell_type = np.int32 if min(block, n_groups) * width < 2**31 else np.int64
        entry_group = np.repeat(groups.astype(cell_type), self.sizes)
        for g0 in range(0, n_groups, block):
            g1 = min(g0 + block, n_groups)
            if g0 == 0 and g1 == n_groups:
                cell, counts = entry_group, self.bucket_counts  # one block: no selection needed
                cell *= width
                cell += self.level
            else:
                inside = (entry_group >= g0) & (entry_group < g1)
                cell, counts = entry_group[inside], self.bucket_counts[inside]
                cell -= g0
                cell *= width
                cell += self.level[inside]
            running = np.bincount(cell, weights=counts, minlength=(g1 - g0) * width).reshape(g1 - g0, width)
            del cell
            np.cumsum(running, axis=1, out=running)
            totals = running[:, -1]
            present = totals > 0
            if not present.any():
                continue
            running, totals = running[present], totals[present]
            rows = np.arange(g0, g1)[present]
            low, high = lo[rows], hi[rows]
            for j, q in enumerate(qs):
                # as Histogram.percentile: the exact min and max at the ends, else the bucket
                # holding the rank, clamped to them
                rank = np.maximum(1.0, np.ceil(q * totals - 1e-9))
                first = (running >= rank[:, None]).argmax(axis=1)
                value = np.clip(self.levels[first], low, high)
                out[rows, j] = np.where(rank >= totals, high, np.where(rank == 1, low, value))
        return out


def _levels(buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct bucket values (ascending) and each bucket's index into them (int32).

    Buckets made by ``harness.results.bucket`` (exact below 1,000 µs, then 3 significant
    digits) are numbered arithmetically, chunk by chunk, in O(n) and little memory; any other
    value falls back to a sort.
    """
    if len(buckets) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    rank = np.empty(len(buckets), dtype=np.int64)
    for start in range(0, len(buckets), _CHUNK):
        part = buckets[start : start + _CHUNK]
        digits = np.searchsorted(_POWERS, part, side="right") + 1  # 1000 -> 4
        scale = _POWERS[np.maximum(digits - 4, 0)]  # 10**(digits-3); 1 below 1000 (set next)
        small = part < 1000
        scale[small] = 1
        mantissa = part // scale
        if (part < 0).any() or not np.array_equal(mantissa * scale, part):
            values, inverse = np.unique(buckets, return_inverse=True)
            return values, inverse.astype(np.int32)
        rank[start : start + _CHUNK] = np.where(small, part, 1000 + (digits - 4) * 900 + (mantissa - 100))
    present = np.bincount(rank) > 0
    ranks = np.flatnonzero(present)
    lookup = np.cumsum(present) - 1
    level = lookup[rank].astype(np.int32)
    del rank
    # back from ranks to values
    big = ranks >= 1000
    digits = (ranks[big] - 1000) // 900 + 4
    mantissa = (ranks[big] - 1000) % 900 + 100
    values = ranks.copy()
    values[big] = mantissa * 10 ** (digits - 3)
    return values, level
