"""Locust's own way to burst, for comparison: a ``LoadTestShape`` stepping the number of
``constant_throughput`` users at the plan's segment boundaries. Locust asks the shape once a
second, so a step lands on the next whole second of run time after the planned instant.

    BENCH_SEGMENTS='[[0, 2.4, 50], [2.4, 4.4, 1000], ...]' (start s, end s, rate rps)
    BENCH_RATE_PER_USER=10 BENCH_TOKEN=... BENCH_TIMES_FILE=times.json \
        locust -f bench/locustfiles/locust_burst.py --host ...
"""

import json
import math
import os
import time

import _timestamps
from locust import FastHttpUser, LoadTestShape, constant_throughput, task

_HEADERS = {"Authorization": "Bearer " + os.environ["BENCH_TOKEN"]}
_PER_USER = float(os.environ.get("BENCH_RATE_PER_USER", "10"))
_SEGMENTS = [tuple(s) for s in json.loads(os.environ.get("BENCH_SEGMENTS", "[]"))]


class ThroughputUser(FastHttpUser):
    wait_time = constant_throughput(_PER_USER)

    @task
    def items(self) -> None:
        self.client.get("/items", headers=_HEADERS)


class StepShape(LoadTestShape):
    use_common_options = False

    def tick(self):
        t = self.get_run_time()
        _timestamps.marks.setdefault("t0", time.time() - t)  # run time 0 as an epoch instant
        for start, end, rate in _SEGMENTS:
            if start <= t < end:
                users = max(1, math.ceil(rate / _PER_USER))
                return users, 10_000.0  # spawn the step at once
        return None


_timestamps.install()
