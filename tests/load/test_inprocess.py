"""``run_shard``: the engine of ``harness run`` in this process, one shard at a time, as a
fan-out worker runs it. Each shard runs in its own Python process (Locust monkey-patches the
process that imports it), all against the local stack at one shared start instant."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.local.stack import LocalStack
from harness.results import ResultSet

from .test_run_local import ROUTES, admin, client_counts

pytestmark = pytest.mark.integration

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from harness.load.inprocess import run_shard
    from harness.scenario import Scenario

    args = json.loads(sys.argv[1])
    scenario = Scenario.from_dict(args["scenario"])
    results = run_shard(scenario, index=args["index"], count=args["count"], start_at=args["start_at"], run_id="shards")
    results.save(args["out"])
    """
)


def scenario_data(load: dict) -> dict:
    return {
        "name": "shards",
        "target": {"base_url": "local"},
        "auth": {"users": 6},
        "endpoints": [
            {"name": "list items", "path": "/items", "weight": 3},
            {"name": "my profile", "path": "/users/{user}/profile", "weight": 1},
        ],
        "load": load,
    }


# Each shard process imports Locust and signs its users in before its start instant: about
# 1.5 s. The tests that judge the start run alone (marked timing); the lead leaves room for 4x.
LEAD = 6.0


def run_shards(stack: LocalStack, tmp_path: Path, load: dict, count: int, start_in: float | list[float]) -> list[ResultSet]:
    now = time.time()
    starts = start_in if isinstance(start_in, list) else [start_in] * count
    procs = []
    for index in range(count):
        args = {"scenario": scenario_data(load), "index": index, "count": count, "start_at": now + starts[index], "out": str(tmp_path / f"shard-{index}.json")}
        procs.append(subprocess.Popen([sys.executable, "-c", SCRIPT, json.dumps(args)], env=stack.run_env, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        _, stderr = proc.communicate(timeout=90)
        assert proc.returncode == 0, stderr[-2000:]
    return [ResultSet.load(tmp_path / f"shard-{i}.json") for i in range(count)]


@pytest.fixture
def fresh(stack: LocalStack) -> LocalStack:
    admin(stack, "PUT", "throttle", {"throttle": {"rate": 10000, "burst": 5000}, "route_throttles": {}})
    admin(stack, "PUT", "backend", {"latency_ms": 2.0, "error_rate": 0.0})
    admin(stack, "POST", "counts/reset")
    return stack


@pytest.mark.timing  # no release more than 100 ms late
def test_shards_together_are_the_whole_plan_and_reconcile(fresh: LocalStack, tmp_path: Path) -> None:
    shards = run_shards(fresh, tmp_path, {"profile": "steady", "rate": 60, "duration": 3, "vus": 8}, count=3, start_in=LEAD)
    merged = ResultSet(run_id="shards")
    for shard in shards:
        merged.merge(shard)
        assert shard.meta["status"] == "completed"
        assert shard.meta["shard"]["count"] == 3 and shard.meta["shard"]["vus"] == 3
        assert shard.meta["generator"]["late_start_ms"] == 0 and shard.meta["generator"]["skipped"] == 0
    server = admin(fresh, "GET", "counts")
    assert merged.total == server["total"] == 180
    assert client_counts(merged) == {route: n for route, n in server["routes"].items() if route in ROUTES.values()}
    totals = merged.pacer_totals()
    assert (round(totals.target), totals.released, totals.dropped) == (180, 180, 0)
    # one shared start instant, and every shard kept to it: no release more than 100 ms late
    assert len({s.meta["started_at"] for s in shards}) == 1
    assert all(s.meta["generator"]["max_lag_ms"] < 100 for s in shards)


@pytest.mark.timing  # the late start is measured to 100 ms
def test_a_shard_that_starts_late_skips_what_was_due_and_says_so(fresh: LocalStack, tmp_path: Path) -> None:
    # shard 1's start instant is already 1.5 s past when it is ready
    shards = run_shards(fresh, tmp_path, {"profile": "steady", "rate": 40, "duration": 5, "vus": 8}, count=2, start_in=[LEAD, -1.5])
    on_time, late = shards
    assert on_time.meta["generator"]["late_start_ms"] == 0
    late_ms = late.meta["generator"]["late_start_ms"]
    assert late_ms > 1500
    # each shard plans 20 rps for 5 s; the late one skips what fell due before it was ready
    planned = 20 * 5
    due = min(planned, 20 * late_ms / 1000)
    skipped = late.meta["generator"]["skipped"]
    assert due - 2 <= skipped <= due + 2
    assert late.pacer_totals().dropped == skipped
    assert on_time.total == planned and late.total == planned - skipped


def test_a_request_the_client_cannot_send_stops_the_run_and_is_never_counted_as_transport(fresh: LocalStack, tmp_path: Path) -> None:
    data = scenario_data({"profile": "steady", "rate": 10, "duration": 3, "vus": 2})
    data["endpoints"] = [{"name": "noted", "path": "/items", "headers": {"X-Note": "a\nb"}}]  # a header value HTTP cannot carry
    out = tmp_path / "bad.json"
    args = {"scenario": data, "index": 0, "count": 1, "start_at": None, "out": str(out)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(args)], env=fresh.run_env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = ResultSet.load(out)
    assert results.meta["status"] == "failed"
    assert "endpoint 'noted': GET /items: the HTTP client could not send it" in results.meta["error"]
    assert results.outcome_counts()["transport"] == 0 and results.total == 0
    assert admin(fresh, "GET", "counts")["routes"] == {}  # the API saw nothing
