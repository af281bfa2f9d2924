"""The sustainable-rate probe (``harness probe``): judging steps on synthetic results, the
checks before any load, the report's Probe section, and a local probe that finds the
emulator's throttle limit within one step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.gates import parse_gates
from harness.plan import build_plan
from harness.probe import GRACE, Probe, ProbeStep, check_probe, judged_part
from harness.results import ResultSet
from harness.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_800_000_000  # the pacer's t0: a whole second, so step N's judged seconds are easy to name


def scenario(**load: object) -> Scenario:
    data = {
        "name": "p", "target": {"base_url": "local"}, "endpoints": [{"name": "a", "path": "/a"}],
        "load": {"profile": "ramp", "from_rate": 10, "to_rate": 30, "step": 10, "step_duration": 5, **load},
        "gates": ["throttle_rate < 5%", "p95 < 100ms"],
    }  # fmt: skip
    return Scenario.from_dict(data, source="p.toml")


def results_with(seconds: dict[int, tuple[int, int]], *, ms: float = 10.0) -> ResultSet:
    """``{second offset from T0: (ok, throttled)}``, every request ``ms`` long."""
    results = ResultSet(run_id="r", endpoints={"a": {}})
    for offset, (ok, throttled) in seconds.items():
        for _ in range(ok):
            results.record("a", "ok", 200, start_time=T0 + offset + 0.5, response_time_ms=ms)
        for _ in range(throttled):
            results.record("a", "throttled", 429, start_time=T0 + offset + 0.5, response_time_ms=1.0)
    return results


def probe_of(s: Scenario) -> Probe:
    return Probe(build_plan(s.load_profile), check_probe(s, path="p.toml"))


def steady(first: int, last: int, ok: int, throttled: int = 0) -> dict[int, tuple[int, int]]:
    return {sec: (ok, throttled) for sec in range(first, last)}


# ---- which seconds a step is judged on ---------------------------------------------------------


def test_a_step_is_judged_on_its_whole_seconds_but_the_first() -> None:
    step = ProbeStep(number=2, rate=20, start=5.0, end=10.0)
    assert list(step.seconds(T0)) == [T0 + 6, T0 + 7, T0 + 8, T0 + 9]
    # a pacer that starts mid-second: the partial seconds at both ends are left out too
    assert list(step.seconds(T0 + 0.3)) == [T0 + 7, T0 + 8, T0 + 9]


# ---- judging -----------------------------------------------------------------------------------


def test_the_first_breached_step_is_the_knee_and_the_one_before_is_sustainable() -> None:
    probe = probe_of(scenario())
    # 10 rps clean, 20 rps clean, 30 rps throttled at 20 %
    results = results_with({**steady(0, 5, 10), **steady(5, 10, 20), **steady(10, 15, 24, 6)})
    assert probe.judge_due(results, now=T0 + 5 + GRACE - 0.01, started_at=T0) is None and probe.judged == []  # not yet: its requests may still be answered
    assert probe.judge_due(results, now=T0 + 10 + GRACE, started_at=T0) is None and [s["held"] for s in probe.judged] == [True, True]
    knee = probe.judge_due(results, now=T0 + 15 + GRACE, started_at=T0)
    assert knee is not None and knee["step"] == 3 and knee["rate"] == 30
    assert knee["breached"] == ["throttle_rate < 5%: 20%"] and knee["throttled_rate"] == pytest.approx(20.0)
    assert knee["achieved_rate"] == 30 and knee["requests"] == 120 and knee["seconds"] == [T0 + 11, T0 + 15]
    summary = probe.summary(stopped_at_knee=True)
    assert (summary["knee_rate"], summary["sustainable_rate"], summary["top_held"], summary["stopped_at_knee"]) == (30, 20, False, True)
    assert summary["planned_steps"] == [10, 20, 30] and summary["gates"] == ["throttle_rate < 5%", "p95 < 100ms"]


def test_one_noisy_second_does_not_breach_a_step_that_holds_overall() -> None:
    probe = probe_of(scenario())
    seconds = steady(0, 5, 10)
    seconds[0] = (0, 10)  # the step's first second (the transient) is all throttled: not judged
    seconds[3] = (9, 1)  # one noisy second: 10 % throttled, but 1 of 40 over the step (2.5 %)
    results = results_with(seconds)
    assert probe.judge_due(results, now=T0 + 5 + GRACE, started_at=T0) is None
    (step,) = probe.judged
    assert step["held"] and step["throttled_rate"] == pytest.approx(2.5) and step["breached"] == []


def test_a_slow_step_breaches_by_its_p95() -> None:
    probe = probe_of(scenario())
    results = results_with(steady(0, 5, 10, 0))
    results.merge(results_with(steady(5, 10, 20), ms=250.0))
    probe.judge_due(results, now=T0 + 10 + GRACE, started_at=T0)
    assert [s["held"] for s in probe.judged] == [True, False]
    assert probe.judged[1]["breached"] == ["p95 < 100ms: 250 ms"] and probe.judged[1]["p95_ms"] == pytest.approx(250, rel=0.01)


def test_a_step_without_data_breaches_it() -> None:
    probe = probe_of(scenario())
    probe.judge_due(results_with(steady(0, 5, 0, 10)), now=T0 + 5 + GRACE, started_at=T0)  # every request throttled: no ok p95
    assert probe.judged[0]["breached"] == ["throttle_rate < 5%: 100%", "p95 < 100ms: no data"]


def test_when_the_first_step_breaches_there_is_no_sustainable_rate() -> None:
    probe = probe_of(scenario())
    results = results_with(steady(0, 5, 5, 5))
    assert probe.judge_due(results, now=T0 + 20, started_at=T0) is not None
    summary = probe.summary(stopped_at_knee=True)
    assert (summary["knee_rate"], summary["sustainable_rate"], summary["top_held"]) == (10, None, False)
    assert len(summary["steps"]) == 1  # judging stops at the knee


def test_when_every_step_holds_the_top_held() -> None:
    probe = probe_of(scenario())
    results = results_with({**steady(0, 5, 10), **steady(5, 10, 20), **steady(10, 15, 30)})
    assert probe.judge_due(results, now=T0 + 15 + GRACE, started_at=T0) is None
    summary = probe.summary(stopped_at_knee=False)
    assert (summary["knee_rate"], summary["sustainable_rate"], summary["top_held"]) == (None, 30, True)


def test_the_verdict_is_judged_on_the_steps_that_held_else_on_the_first() -> None:
    from harness.gates import evaluate

    probe = probe_of(scenario())
    results = results_with({**steady(0, 5, 10), **steady(5, 10, 20), **steady(10, 15, 24, 6)})
    probe.judge_due(results, now=T0 + 20, started_at=T0)
    results.meta = {"probe": probe.summary(stopped_at_knee=True)}
    part = judged_part(results)
    assert part is not None and part.total == 4 * 10 + 4 * 20  # the judged seconds of steps 1 and 2
    assert evaluate(parse_gates(["throttle_rate < 5%"]), results=part).passed
    assert judged_part(results_with({})) is None  # not a probe

    first = probe_of(scenario())
    broken = results_with(steady(0, 5, 5, 5))
    first.judge_due(broken, now=T0 + 20, started_at=T0)
    broken.meta = {"probe": first.summary(stopped_at_knee=True)}
    verdict = evaluate(parse_gates(["throttle_rate < 5%"]), results=judged_part(broken))
    assert not verdict.passed and verdict.results[0].actual == pytest.approx(50.0)


# ---- checked before any load -------------------------------------------------------------------


@pytest.mark.parametrize(
    "load, gates, extra, says",
    [
        ({"profile": "steady", "rate": 10, "duration": 10}, None, [], 'load.profile: is "steady"; harness probe needs profile = "ramp"'),
        ({"from_rate": 30, "to_rate": 10}, None, [], "load.to_rate: 10 is below from_rate (30)"),
        ({"from_rate": 0}, None, [], "load.from_rate: is 0"),
        ({"step_duration": 2}, None, [], "load.step_duration: is 2 s"),
        ({}, [], [], "gates: the probe finds the knee by the scenario's gates and it has none"),
        ({}, ["p95 < 1s", "server.p95 < 250ms"], [], "gates.1: 'server.p95 < 250ms': server.p95 comes from CloudWatch"),
        ({}, ["p95 regression <= 10%"], [], "gates.0: 'p95 regression <= 10%': a regression needs the whole run"),
        ({}, None, ["rps >= 100"], "--gate: 'rps >= 100': rps is a whole-run total"),
        ({}, None, ["recovery_time < 5s"], "--gate: 'recovery_time < 5s': recovery is measured after bursts and faults"),
        ({"faults": True}, None, [], "faults: a fault during a probe would move the knee"),
    ],
)
def test_what_the_probe_cannot_judge_is_refused_in_one_line(load: dict, gates: list | None, extra: list, says: str) -> None:
    data = {
        "name": "p", "target": {"base_url": "local"}, "endpoints": [{"name": "a", "path": "/a"}],
        "load": {"profile": "ramp", "from_rate": 10, "to_rate": 30, "step": 10, "step_duration": 5},
    }  # fmt: skip
    if load.pop("faults", False):
        data["faults"] = [{"kind": "outage", "at": 1, "duration": 1}]
    if load.get("profile") == "steady":
        data["load"] = load
    else:
        data["load"].update(load)
    data["gates"] = ["p95 < 1s"] if gates is None else gates
    with pytest.raises(ScenarioError) as exc:
        check_probe(Scenario.from_dict(data, source="p.toml"), gates=extra, path="p.toml")
    assert says in str(exc.value) and "\n" not in str(exc.value)


def harness(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ, "COLUMNS": "200", **(env or {})},
    )  # fmt: skip


@pytest.mark.parametrize(
    "args, says",
    [
        (["scenarios/steady.toml"], 'scenarios/steady.toml: load.profile: is "steady"'),
        (["scenarios/probe.toml", "--set", "load.from_rate=150", "--set", "load.to_rate=100"], "load.to_rate: 100 is below from_rate (150)"),
        (["scenarios/probe.toml", "--set", "gates=[]"], "scenarios/probe.toml: gates: the probe finds the knee by the scenario's gates and it has none"),
        (["scenarios/probe.toml", "--gate", "server.5xx_rate < 1%"], "--gate: 'server.5xx_rate < 1%': server.5xx_rate comes from CloudWatch"),
    ],
)
def test_the_cli_refuses_before_any_load_with_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    proc = harness("probe", *args, "--results-dir", str(tmp_path / "run"))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()


# ---- the report --------------------------------------------------------------------------------


def test_the_report_shows_the_probe_and_the_sustainable_rate(tmp_path: Path) -> None:
    from harness.report import write_report

    probe = probe_of(scenario())
    results = results_with({**steady(0, 5, 10), **steady(5, 10, 20), **steady(10, 15, 24, 6)})
    probe.judge_due(results, now=T0 + 20, started_at=T0)
    results.meta = {
        "status": "completed",
        "scenario": "p",
        "profile": "ramp",
        "started_at": T0,
        "ended_at": T0 + 15,
        "probe": probe.summary(stopped_at_knee=True),
    }
    files = write_report(tmp_path, results=results)
    page = files.html.read_text()
    assert 'id="probe-table"' in page and 'id="chart-probe"' in page and 'id="probe-knee"' in page
    assert "Sustainable rate: 20 rps; knee at 30 rps (throttle_rate &lt; 5%: 20%)" in page
    summary = files.summary.read_text()
    assert "**Sustainable rate: 20 rps; knee at 30 rps (throttle_rate < 5%: 20%)**" in summary and "❌ knee: throttle_rate < 5%: 20%" in summary


# ---- on the local stack ------------------------------------------------------------------------


@pytest.mark.integration
def test_a_local_probe_finds_the_emulators_throttle_limit_within_one_step(tmp_path: Path) -> None:
    # scenarios/probe.toml: the emulator throttles at 110 rps (burst 20), steps of 20 rps for 5 s;
    # starting at 80 rps keeps the test short: 80 and 100 hold, 120 is the knee
    run_dir = tmp_path / "run"
    began = time.time()
    proc = harness(
        "probe", "scenarios/probe.toml", "--local", "--no-metrics", "--results-dir", str(run_dir), "--set", "load.from_rate=80",
        env={"HARNESS_STATE_DIR": str(tmp_path / "state")}, timeout=120,
    )  # fmt: skip
    took = time.time() - began
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((run_dir / "results.json").read_text())["meta"]
    probe, limit, step = meta["probe"], 110, 20
    assert limit - step <= probe["sustainable_rate"] <= limit, probe["steps"]
    assert probe["knee_rate"] == probe["sustainable_rate"] + step and probe["stopped_at_knee"] and not probe["top_held"]
    assert meta["status"] == "completed" and meta["duration"] < meta["planned_duration"] - 2 * 5  # stopped well before the ramp's end
    assert f"sustainable rate: {probe['sustainable_rate']:g} rps" in proc.stdout
    assert f"knee: {probe['knee_rate']:g} rps (throttle_rate < 1% breached: " in proc.stdout
    assert (run_dir / "report.html").exists() and 'id="probe-table"' in (run_dir / "report.html").read_text()
    assert took < 90
