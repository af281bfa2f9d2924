"""How fast, and in how much memory, the aggregator merges 1,000 workers' results.

Writes ``--workers`` synthetic worker results (default 1,000): ``--seconds`` of 1-second windows
(default 600) over five endpoints, at ``--rps`` requests per second per worker (default 20),
with lognormal latencies and a few errors, so each window holds a realistic histogram. Then
runs the aggregator's own code (``plan_merge``, ``merge_group`` for every group of 25 workers,
``merge_slice`` for every time slice, ``merge_final``), each step in a fresh subprocess so that its peak memory (max RSS) is that of
one aggregating Lambda. S3 is a folder here (the same keys, read through the same RunStore):
the figures are the merge's own cost, without S3's network time.

Prints figures; asserts nothing. Targets: each aggregating Lambda under 2 s and 500 MB.

    .venv/bin/python bench/bench_fanout_merge.py
    .venv/bin/python bench/bench_fanout_merge.py --workers 100 --seconds 60
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ENDPOINTS = ["list items", "get item", "search", "my profile", "create order"]
T0 = 1_764_000_000
VARIANTS = 20  # distinct synthetic workers, written under 1,000 names (parsing and merging cost the same)


class FolderS3:
    """The few S3 calls RunStore makes, on a local folder."""

    class exceptions:  # noqa: N801 - mirrors boto3's client.exceptions
        class NoSuchKey(Exception):
            pass

    def __init__(self, root: Path) -> None:
        self.root = root

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:  # noqa: N803
        path = self.root / Key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Body)

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        path = self.root / Key
        if not path.exists():
            raise self.exceptions.NoSuchKey(Key)
        return {"Body": io.BytesIO(path.read_bytes())}

    def get_paginator(self, _: str) -> FolderS3:
        return self

    def paginate(self, *, Bucket: str, Prefix: str) -> list[dict[str, Any]]:  # noqa: N803
        folder = self.root / Prefix
        files = [p for p in sorted(folder.glob("*")) if p.is_file()]
        return [{"Contents": [{"Key": str(p.relative_to(self.root)), "Size": p.stat().st_size} for p in files]}]


def store_for(root: Path) -> Any:
    from harness.fanout.store import RunStore

    return RunStore(FolderS3(root), bucket="bench", run_id="bench")


def build(root: Path, workers: int, seconds: int, rps: int) -> tuple[int, int]:
    from harness.fanout.spec import StackDefaults, parse_input
    from harness.results import ResultSet

    store = store_for(root)
    spec = parse_input(
        {
            "scenario": {
                "name": "merge-bench",
                "target": {"base_url": "http://127.0.0.1:9"},
                "endpoints": [{"name": n, "path": "/" + n.replace(" ", "-")} for n in ENDPOINTS],
                "load": {"profile": "steady", "rate": rps * workers, "duration": seconds},
                "limits": {"max_rate": rps * workers, "max_workers": workers},
            },
            "workers": workers,
            "run_id": "bench",
            "override_limits": True,
        },
        defaults=StackDefaults(),
    )
    store.put_json(store.spec_key, spec.model_dump(mode="json"))
    store.put_json(store.segment_key(0), {"segment": 0, "start_at": T0, "window": [0, seconds]})
    texts = []
    for variant in range(VARIANTS):
        rng = random.Random(variant)
        results = ResultSet(run_id="bench")
        for second in range(T0, T0 + seconds):
            results.record_pacer(second, target=rps, released=rps)
            for _ in range(rps):
                endpoint = rng.choice(ENDPOINTS)
                bad = rng.random() < 0.01
                results.record(endpoint, "server" if bad else "ok", 503 if bad else 200,
                               start_time=second + rng.random(), response_time_ms=rng.lognormvariate(3.2, 0.5))  # fmt: skip
        results.meta = {"status": "completed", "started_at": T0, "ended_at": T0 + seconds, "shard": {"segment": 0, "count": workers},
                        "generator": {"stalls": 0, "longest_stall_ms": 0.0, "max_lag_ms": 1.0, "late_start_ms": 0.0, "skipped": 0}}  # fmt: skip
        texts.append(results.to_dict(summary=False))
    size = 0
    for index in range(workers):
        data = scaled(texts[index % VARIANTS], 1.0 + 0.004 * (index // VARIANTS))
        data["meta"]["shard"]["index"] = index
        body = json.dumps(data, separators=(",", ":"))
        size += len(body)
        store.put_text(store.shard_key(0, index), body)
    return size, len(texts[0]["windows"])


def scaled(data: dict[str, Any], factor: float) -> dict[str, Any]:
    """A worker result whose latencies are ``factor`` times another's: as many distinct
    histogram buckets as real distinct workers would have, at a fraction of the cost."""
    from harness.results import bucket

    if factor == 1.0:
        return data
    windows = []
    for row in data["windows"]:
        counts: dict[int, int] = {}
        for key, n in row["h"]:
            new = bucket(int(key * factor))
            counts[new] = counts.get(new, 0) + n
        windows.append(
            {**row, "h": sorted(counts.items()), "sum": int(row["sum"] * factor), "min": bucket(int(row["min"] * factor)), "max": int(row["max"] * factor)}
        )
    return {**data, "windows": windows, "meta": json.loads(json.dumps(data["meta"]))}


def step(root: Path, action: str, group: int) -> None:
    """One aggregating Lambda's work; prints its seconds and peak MB as JSON."""
    from harness.fanout.aggregate import merge_final, merge_group, merge_slice, plan_merge

    store = store_for(root)
    began = time.perf_counter()
    steps = {
        "plan": lambda: plan_merge(store),
        "group": lambda: merge_group(store, group),
        "slice": lambda: merge_slice(store, group),
        "final": lambda: merge_final(store),
    }
    out: Any = steps[action]()
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "out": out}))


def run_step(root: Path, action: str, group: int = 0) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--step", action, "--root", str(root), "--group", str(group)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--rps", type=int, default=20, help="requests per second per worker")
    parser.add_argument("--step", choices=["plan", "group", "slice", "final"], help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--group", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step(args.root, args.step, args.group)
        return
    with tempfile.TemporaryDirectory(prefix="harness-merge-bench-") as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        size, windows = build(root, args.workers, args.seconds, args.rps)
        print(f"{args.workers} worker results, {args.seconds} s x {len(ENDPOINTS)} endpoints at {args.rps} rps each: "
              f"{windows:,} windows per worker, {size / 1e6:,.0f} MB of JSON (built in {time.perf_counter() - began:.0f} s)")  # fmt: skip
        plan = run_step(root, "plan")["out"]
        for level, action in (("groups", "group"), ("slices", "slice")):
            steps = [run_step(root, action, n) for n in plan[level]]
            slowest = max(steps, key=lambda p: p["seconds"])
            print(f"{action} merges: {len(steps)} Lambdas; slowest {slowest['seconds']:.2f} s, largest peak "
                  f"{max(p['peak_mb'] for p in steps):.0f} MB; one after another {sum(p['seconds'] for p in steps):.1f} s "
                  f"(target: each under 2 s and 500 MB)")  # fmt: skip
        final = run_step(root, "final")
        print(f"final merge: {final['seconds']:.2f} s, peak {final['peak_mb']:.0f} MB, {final['out']['requests']:,} requests "
              f"(target: under 2 s and 500 MB)")  # fmt: skip
        results = root / "runs" / "bench" / "results.json"
        print(f"results.json: {results.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
