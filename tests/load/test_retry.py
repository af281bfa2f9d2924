"""Client retries end to end on the real local stack: the emulator answers a share of requests
with 503, and what the client recorded (first attempts and retries apart) must add up to what
the emulator counted, route by route and status by status."""

from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path

import pytest

from harness.local.stack import LocalStack
from harness.results import RETRY_RESULTS

from .test_run_local import ROUTES, admin, run, scenario

pytestmark = pytest.mark.integration

ENDPOINTS = """
[[endpoints]]
name = "list items"
path = "/items"
weight = 3

[[endpoints]]
name = "my profile"
path = "/users/{user}/profile"
retry = false
"""


@pytest.fixture
def fresh(stack: LocalStack) -> LocalStack:
    admin(stack, "PUT", "throttle", {"throttle": {"rate": 10000, "burst": 5000}, "route_throttles": {}})
    admin(stack, "PUT", "backend", {"latency_ms": 1.0, "error_rate": 0.0})
    admin(stack, "POST", "counts/reset")
    yield stack
    admin(stack, "PUT", "backend", {"latency_ms": 2.0, "error_rate": 0.0, "error_status": 500})


def retry_scenario(tmp_path: Path, name: str, retry: str, load: str, *, top: str = "") -> Path:
    path = scenario(tmp_path, name, load, endpoints=ENDPOINTS)
    path.write_text(f"{top}retry = {retry}\n" + path.read_text(encoding="utf-8"), encoding="utf-8")  # top-level keys first
    return path


def by_route(*counters: Counter) -> dict[str, dict[str, int]]:
    """``(endpoint, status, second) -> n`` counters as the emulator counts: route -> status -> n."""
    counts: dict[str, dict[str, int]] = {}
    for counter in counters:
        for (endpoint, status, _), n in counter.items():
            route = counts.setdefault(ROUTES[endpoint], {})
            route[str(status)] = route.get(str(status), 0) + n
    return counts


def locust_counts(run_dir: Path) -> dict[str, tuple[int, int]]:
    """Locust's own stats CSV: name -> (requests, failures)."""
    with open(run_dir / "locust_stats.csv", newline="", encoding="utf-8") as fh:
        return {r["Name"]: (int(r["Request Count"]), int(r["Failure Count"])) for r in csv.DictReader(fh)}


def test_first_tries_and_retries_reconcile_with_the_emulator(fresh: LocalStack, tmp_path: Path) -> None:
    admin(fresh, "PUT", "backend", {"latency_ms": 1.0, "error_rate": 0.3, "error_status": 503, "seed": 11})
    path = retry_scenario(tmp_path, "retries", '{ on = [503], max_attempts = 3, base = "10ms", cap = "40ms" }',
                          'profile = "steady"\nrate = 40\nduration = "6s"\nvus = 12\n')  # fmt: skip
    results = run(fresh, path, tmp_path)
    server = admin(fresh, "GET", "counts")
    assert results.meta["status"] == "completed"

    # every attempt the server saw is counted, first tries and retries apart
    assert by_route(results.statuses, results.retry_statuses) == server["routes"]
    assert results.total + sum(results.retry_statuses.values()) == server["total"]
    assert results.total == results.pacer_totals().released == 240  # first attempts: one per planned request

    first = results.status_counts("list items")
    retry_statuses = Counter()
    for (endpoint, status, _), n in results.retry_statuses.items():
        assert endpoint == "list items"  # my profile has retry = false
        retry_statuses[status] += n
    assert set(retry_statuses) <= {200, 503}
    [row, total] = results.retry_summary()
    assert row["endpoint"] == "list items" and total["attempts"] == server["total"]
    # each first-try 503 was retried, and ended one way
    assert row["retried"] == first[503] == sum(row[r] for r in RETRY_RESULTS)
    assert row["ok_after_retry"] > 0 and row["stopped"] == 0 and row["failed_after_retry"] == 0
    # a retried success is never a first-try success: first-try ok are first-try 200s only
    outcomes = results.outcome_counts("list items")
    assert outcomes["ok"] == first[200] and outcomes["server"] == first[503]
    assert row["ok_after_retry"] == retry_statuses[200] == row["retry_outcomes"]["ok"]
    # gave_up: the 503s left after max_attempts; every other retried 503 was followed by one more attempt
    assert row["retry_attempts"] == retry_statuses[200] + retry_statuses[503]
    assert 0 <= retry_statuses[503] - 2 * row["gave_up"] <= row["ok_after_retry"]
    # end to end, a retry's latency includes its backoff: never less than the attempts themselves
    ok_after = [h for (ep, r, _), h in results.retried.items() if r == "ok_after_retry"]
    assert min(h.min for h in ok_after) >= min(h.min for h in results.retry_windows.values())
    assert row["ok_after_retry_max_ms"] <= 2 * 1000  # 2 attempts and backoffs of at most 40 ms (generous bound)

    # Locust's statistics saw every attempt, the retries under their own name
    stats = locust_counts(tmp_path / "run-retries")
    assert stats["list items (retry)"] == (row["retry_attempts"], retry_statuses[503])
    assert stats["list items"][0] == sum(first.values())
    assert stats["Aggregated"][0] == server["total"]


def test_retries_stop_when_the_run_ends(fresh: LocalStack, tmp_path: Path) -> None:
    """Every answer is a 503 and backoffs are long: the run still ends on time, and the
    requests still waiting to retry end as stopped, counted and reconciled."""
    admin(fresh, "PUT", "backend", {"latency_ms": 1.0, "error_rate": 1.0, "error_status": 503, "seed": 3})
    path = retry_scenario(tmp_path, "stopped", '{ on = [503], max_attempts = 4, base = "4s", cap = "4s" }',
                          'profile = "steady"\nrate = 10\nduration = "2s"\nvus = 30\n')  # fmt: skip
    path.write_text(path.read_text().replace('base_url = "local"\n', 'base_url = "local"\ntimeout = "1s"\n'))
    began = time.monotonic()
    results = run(fresh, path, tmp_path)
    took = time.monotonic() - began
    server = admin(fresh, "GET", "counts")
    assert by_route(results.statuses, results.retry_statuses) == server["routes"]
    [row, _] = results.retry_summary()
    assert row["retried"] == results.status_counts("list items")[503]
    assert row["stopped"] > 0 and row["ok_after_retry"] == 0
    assert row["stopped"] + row["gave_up"] == row["retried"]
    # 3 retries of up to 4 s each would be 12 s; the run ended after its plan and a 1 s drain
    assert results.meta["duration"] < 6
    assert took < 40


def test_no_answer_is_retried_when_transport_is_listed(stack: LocalStack, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once it is closed
    path = tmp_path / "refused.toml"
    path.write_text(
        'name = "refused"\nretry = { on = ["transport"], max_attempts = 3, base = "5ms", cap = "10ms" }\n'
        f'[target]\nbase_url = "http://127.0.0.1:{port}"\ntimeout = "2s"\n'
        '[[endpoints]]\nname = "list items"\npath = "/items"\n'
        '[load]\nprofile = "steady"\nrate = 20\nduration = "1s"\nvus = 4\n',
        encoding="utf-8",
    )
    results = run(stack, path, tmp_path)
    [row, _] = results.retry_summary()
    assert results.total == 20 and results.outcome_counts()["transport"] == 20
    assert (row["retried"], row["gave_up"], row["retry_attempts"]) == (20, 20, 40)
    assert row["retry_outcomes"]["transport"] == 40 and all(status == 0 for _, status, _ in results.retry_statuses)
    assert locust_counts(tmp_path / "run-refused")["list items (retry)"] == (40, 40)
