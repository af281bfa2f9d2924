"""Locust's own closed-model pacing for comparison: FastHttpUsers with ``constant_throughput``.

    BENCH_TOKEN=... BENCH_RATE_PER_USER=10 BENCH_TIMES_FILE=times.json \
        locust -f bench/locustfiles/locust_steady.py --host ... -u 200 -r 200 -t 12s
"""

import os

import _timestamps
from locust import FastHttpUser, constant_throughput, task

_HEADERS = {"Authorization": "Bearer " + os.environ["BENCH_TOKEN"]}


class ThroughputUser(FastHttpUser):
    wait_time = constant_throughput(float(os.environ.get("BENCH_RATE_PER_USER", "10")))

    @task
    def items(self) -> None:
        self.client.get("/items", headers=_HEADERS)


_timestamps.install()
