"""How fast our patched moto CloudWatch stores and answers a long, busy run.

Publishes a run of ``--seconds`` seconds at ``--rps`` requests per second the way the API
Gateway emulator does (one PutMetricData call per second: Count plus a Latency datum of at most
150 distinct values with counts), then times GetMetricData p95 and Sum over the window with
periods of 1 s, 60 s and the whole window, and GetMetricStatistics p99 per minute. Prints
figures; asserts nothing.

    .venv/bin/python bench/bench_cloudwatch.py              # 600 s at 1,000 rps
    .venv/bin/python bench/bench_cloudwatch.py --seconds 60 --rps 100
"""

from __future__ import annotations

import argparse
import functools
import json
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np

from harness.local.moto import MotoServer

NAMESPACE = "Bench/ApiGateway"
DIMS = [{"Name": "ApiId", "Value": "bench"}, {"Name": "Stage", "Value": "$default"}]


def one_second(rng: np.random.Generator, rps: int) -> tuple[list[float], list[float]]:
    """``rps`` lognormal latencies (median 20 ms) rounded to 150 distinct values at most."""
    samples = rng.lognormal(np.log(20.0), 0.5, rps)
    edges = np.quantile(samples, np.linspace(0, 1, 151))
    bins = np.clip(np.searchsorted(edges, samples, side="right") - 1, 0, 149)
    counts = Counter(round(float(edges[b]), 2) for b in bins)
    values = sorted(counts)
    return values, [float(counts[v]) for v in values]


def timed(label: str, fn: Any) -> Any:
    t = time.perf_counter()
    out = fn()
    print(f"  {label:<44} {(time.perf_counter() - t) * 1000:9.1f} ms")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--rps", type=int, default=1000)
    args = parser.parse_args()
    if args.seconds % 60:
        parser.error("--seconds must be a multiple of 60 (it is also the whole-window period)")

    rng = np.random.default_rng(7)
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(seconds=args.seconds + 60)
    batches = []
    for s in range(args.seconds):
        values, counts = one_second(rng, args.rps)
        ts = t0 + timedelta(seconds=s)
        batches.append(
            [
                {"MetricName": "Count", "Dimensions": DIMS, "Timestamp": ts, "Unit": "Count", "Values": [1.0], "Counts": [float(args.rps)]},
                {"MetricName": "Latency", "Dimensions": DIMS, "Timestamp": ts, "Unit": "Milliseconds", "Values": values, "Counts": counts},
            ]
        )

    with MotoServer() as moto:
        cw = boto3.client("cloudwatch", endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        print(f"moto {moto.url}: {args.seconds} s at {args.rps:,} rps ({args.seconds * args.rps:,} latency values), one PutMetricData per second")

        t = time.perf_counter()
        for batch in batches:
            cw.put_metric_data(Namespace=NAMESPACE, MetricData=batch)
        elapsed = time.perf_counter() - t
        print(f"  {'PutMetricData x ' + str(len(batches)):<44} {elapsed * 1000:9.1f} ms ({elapsed / len(batches) * 1000:.2f} ms per call)")
        with urllib.request.urlopen(f"{moto.url}/_harness/cloudwatch/storage", timeout=5) as resp:
            print(f"  stored: {json.loads(resp.read())}")

        start, end = t0, t0 + timedelta(seconds=args.seconds)

        def query(stat: str, period: int) -> Any:
            return cw.get_metric_data(
                MetricDataQueries=[
                    {"Id": "q", "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": "Latency", "Dimensions": DIMS}, "Period": period, "Stat": stat}}
                ],
                StartTime=start,
                EndTime=end,
            )["MetricDataResults"][0]

        for period in (1, 60, args.seconds):
            for stat in ("p95", "Sum", "SampleCount"):
                r = timed(f"GetMetricData {stat} period {period} s", functools.partial(query, stat, period))
                if period == args.seconds:
                    print(f"  {'':<44} -> {r['Values']}")
        timed(
            "GetMetricStatistics p50/p95/p99 period 60 s",
            lambda: cw.get_metric_statistics(
                Namespace=NAMESPACE, MetricName="Latency", Dimensions=DIMS, StartTime=start, EndTime=end, Period=60, ExtendedStatistics=["p50", "p95", "p99"]
            ),
        )


if __name__ == "__main__":
    main()
