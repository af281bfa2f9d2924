"""The baseline for requests per CPU-second: a bare FastHttpUser, no wait, one fixed header.

BENCH_TOKEN=<access token> locust -f bench/locustfiles/bare.py --host http://127.0.0.1:PORT
"""

import os

from locust import FastHttpUser, constant, task

_HEADERS = {"Authorization": "Bearer " + os.environ["BENCH_TOKEN"]}


class BareUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def items(self) -> None:
        self.client.get("/items", headers=_HEADERS)
