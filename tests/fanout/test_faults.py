"""A fan-out run's faults, scheduled by ``harness fanout`` against each segment's own start
instant as the state machine plans it (``segments/<seg>/plan.json``)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.errors import FaultError
from harness.fanout import faults as fanout_faults
from harness.fanout.faults import FanoutFaults
from harness.fanout.spec import StackDefaults, parse_input
from harness.faults.kinds import Action


class Recorder(Action):
    """A fault that notes when it was started and stopped."""

    def __init__(self, spec: Any, index: int, *, fail: bool = False) -> None:
        super().__init__(spec, index)
        self.fail = fail
        self.started: float | None = None
        self.stopped: float | None = None

    def describe(self) -> str:
        return f"recorder {self.index}"

    def start(self, until: float) -> dict[str, Any]:
        if self.fail:
            raise FaultError(f"{self.where}: cannot")
        self.started = time.time()
        return {"until": until}

    def stop(self) -> None:
        self.stopped = time.time()


class Store:
    """The run's S3 files, as far as the faults read them."""

    def __init__(self) -> None:
        self.plans: dict[int, dict[str, Any]] = {}

    def segment_key(self, segment: int) -> int:
        return segment

    def get_json_or_none(self, key: int) -> dict[str, Any] | None:
        return self.plans.get(key)


def setup(monkeypatch: pytest.MonkeyPatch, faults: list[dict[str, Any]], *, fail: set[int] = frozenset()) -> tuple[FanoutFaults, list[Recorder]]:
    scenario = {
        "name": "s",
        "target": {"base_url": "http://127.0.0.1:9000"},
        "endpoints": [{"name": "list", "path": "/items"}],
        "load": {"profile": "steady", "rate": 10, "duration": 40},
        "fanout": {"segment": 20},
        "faults": faults,
    }
    spec = parse_input({"scenario": scenario, "faults_by_caller": True}, defaults=StackDefaults())
    made: list[Recorder] = []

    def build(scenario: Any, **_: Any) -> list[Action]:
        made.extend(Recorder(f, i, fail=i in fail) for i, f in enumerate(scenario.faults))
        return list(made)

    monkeypatch.setattr(fanout_faults, "build_actions", build)
    return FanoutFaults(spec.scenario(), spec.windows, target=None, aws=None, run_id="r1"), made


def wait_for(check: Any, timeout: float = 5.0) -> None:
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def test_each_segments_faults_start_on_that_segments_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # given in the scenario's order, the later fault first: records keep the scenario's order
    faults, (late, early) = setup(monkeypatch, [{"kind": "fis", "template": "EXT1", "at": 22, "duration": 1},
                                               {"kind": "fis", "template": "EXT2", "at": 2, "duration": 1}])  # fmt: skip
    store = Store()
    faults.follow(store)  # nothing planned yet: nothing scheduled
    assert faults.records()[0]["planned_start"] is None
    start0 = time.time() - 1.7  # segment 0 (0-20 s) started 1.7 s ago: its fault at 2 s is 0.3 s away
    store.plans[0] = {"start_at": start0, "window": [0, 20]}
    faults.follow(store)
    wait_for(lambda: early.stopped is not None)
    assert early.started == pytest.approx(start0 + 2, abs=0.25) and early.stopped == pytest.approx(start0 + 3, abs=0.25)
    assert late.started is None  # its segment is not planned yet, whatever segment 0's clock says
    start1 = time.time() - 1.7  # segment 1 (20-40 s) began later than segment 0 + 20 s, as it does
    store.plans[1] = {"start_at": start1, "window": [20, 40]}
    faults.follow(store)
    wait_for(lambda: late.stopped is not None)
    assert late.started == pytest.approx(start1 + 2, abs=0.25)
    faults.end_all("completed")
    records = faults.records()
    assert [r["description"] for r in records] == ["recorder 0", "recorder 1"]
    assert records[0]["planned_start"] == pytest.approx(start1 + 2) and records[1]["planned_start"] == pytest.approx(start0 + 2)
    assert [r["ended_by"] for r in records] == ["schedule", "schedule"]


def test_end_all_ends_active_faults_and_cancels_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    faults, (now, later) = setup(monkeypatch, [{"kind": "fis", "template": "EXT1", "at": 1, "duration": 10},
                                               {"kind": "fis", "template": "EXT2", "at": 25, "duration": 5}])  # fmt: skip
    store = Store()
    store.plans[0] = {"start_at": time.time() - 1, "window": [0, 20]}
    faults.follow(store)
    wait_for(lambda: now.started is not None)
    faults.end_all("interrupted")
    store.plans[1] = {"start_at": time.time() - 5, "window": [20, 40]}
    faults.follow(store)  # planned after the end: never starts
    time.sleep(0.2)
    assert now.stopped is not None and later.started is None
    assert [r["ended_by"] for r in faults.records()] == ["interrupted", "interrupted"]


def test_a_fault_that_cannot_start_stops_the_follow(monkeypatch: pytest.MonkeyPatch) -> None:
    faults, _ = setup(monkeypatch, [{"kind": "fis", "template": "EXT1", "at": 1, "duration": 2}], fail={0})
    store = Store()
    store.plans[0] = {"start_at": time.time() - 0.7, "window": [0, 20]}  # it starts 0.3 s from now
    faults.follow(store)
    time.sleep(0.6)
    with pytest.raises(FaultError, match=r"fault 'fis at 1s' could not start: faults\[0\]: cannot"):
        faults.follow(store)
    faults.end_all("failed")
    assert faults.records()[0]["ended_by"] == "failed"
