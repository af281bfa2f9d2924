"""Auto-stop (``abort_on``): parsing, the windowed check, and a local run that a broken target
stops by itself within seconds, with its results written and exit code 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.abort import DEFAULT_WINDOW, AbortRule, breached, parse_abort_rules
from harness.errors import ScenarioError
from harness.results import ResultSet

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_800_000_000


def test_rules_parse_with_and_without_a_window() -> None:
    rule, plain = parse_abort_rules(["error_rate > 20% over 5s", "p95 > 2s"])
    assert (rule.gate.metric, rule.gate.threshold, rule.window) == ("error_rate", 20.0, 5.0)
    assert (plain.gate.name, plain.gate.threshold, plain.window) == ("p95", 2000.0, DEFAULT_WINDOW)


@pytest.mark.parametrize(
    "text, says",
    [
        ("error_rate > 20 over 5s", "ambiguous"),
        ("error_rate > 20% over soon", "is not a duration"),
        ("error_rate > 20% over 0.5s", "at least 1 s"),
        ("server.p95 > 1s", "comes from CloudWatch"),
        ("p95 regression > 10%", "regression"),
        ("", "an abort condition is a string"),
    ],
)
def test_bad_rules_say_why(text: str, says: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_abort_rules([text])
    assert says in str(exc.value) and "abort_on.0" in str(exc.value)


def results_with(seconds: dict[int, tuple[int, int]]) -> ResultSet:
    """``{second offset: (ok, server errors)}``, every request 10 ms."""
    results = ResultSet(run_id="r", endpoints={"a": {}})
    for offset, (ok, bad) in seconds.items():
        for _ in range(ok):
            results.record("a", "ok", 200, start_time=T0 + offset + 0.5, response_time_ms=10.0)
        for _ in range(bad):
            results.record("a", "server", 503, start_time=T0 + offset + 0.5, response_time_ms=10.0)
    return results


def test_a_rule_holds_only_over_a_whole_window_of_whole_seconds() -> None:
    rule = AbortRule.parse("error_rate > 20% over 3s")
    # one bad second among good ones: 10 of 30 is 33 %, but only once the window is whole
    results = results_with({0: (10, 0), 1: (10, 0), 2: (0, 10), 3: (10, 0)})
    assert breached([rule], results, now=T0 + 2.9, started_at=T0) is None  # 0..1 only: not a whole window yet
    hit = breached([rule], results, now=T0 + 3.2, started_at=T0)  # seconds 0, 1, 2: 10 of 30
    assert hit is not None and hit[0] is rule and hit[1] == pytest.approx(100 / 3)
    assert breached([rule], results, now=T0 + 6.0, started_at=T0) is None  # seconds 3..5: 0 of 10
    # a second still running is never judged
    assert breached([rule], results_with({0: (10, 0), 1: (10, 0), 2: (10, 0), 3: (0, 50)}), now=T0 + 3.9, started_at=T0) is None


def test_a_window_without_requests_does_not_abort() -> None:
    assert breached(parse_abort_rules(["p95 > 1ms over 2s"]), results_with({}), now=T0 + 10, started_at=T0) is None


@pytest.mark.integration
def test_a_run_against_a_broken_target_stops_itself_and_exits_1(tmp_path: Path) -> None:
    scenario = tmp_path / "broken.toml"
    scenario.write_text(
        'name = "broken"\ngates = ["p95 < 5s"]\nabort_on = ["server_error_rate > 20% over 3s"]\n'
        '[target]\nbase_url = "local"\n[auth]\nusers = 3\n[[endpoints]]\nname = "list items"\npath = "/items"\n'
        '[load]\nprofile = "steady"\nrate = 20\nduration = "60s"\nvus = 10\n[local]\nerror_rate = 0.5\n'
    )
    run_dir = tmp_path / "run"
    began = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--local", "--results-dir", str(run_dir), "--no-metrics"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200", "HARNESS_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert time.time() - began < 45  # a minute was planned
    results = json.loads((run_dir / "results.json").read_text())
    meta = results["meta"]
    assert meta["status"] == "aborted"
    assert meta["abort"]["rule"] == "server_error_rate > 20% over 3s" and meta["abort"]["value"] > 20
    assert 3 <= meta["abort"]["elapsed"] < 15 and meta["duration"] < 20
    assert "run aborted: abort_on 'server_error_rate > 20% over 3s' held" in proc.stderr
    assert "verdict" not in proc.stdout and "(not judged) PASS p95 < 5s" in proc.stdout
    assert (run_dir / "report.html").exists()


@pytest.mark.parametrize("text", ["max_recovery_time > 1m", "recovery_time > 30s over 10s"])
def test_recovery_gates_cannot_stop_a_run(text: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_abort_rules([text])
    assert "known only after its event has ended" in str(exc.value) and "\n" not in str(exc.value)
