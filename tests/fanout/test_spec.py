"""The execution input: a harness scenario or the AWS reference design's, validated before any
worker starts, with one-line errors that name the field."""

from __future__ import annotations

import pytest

from harness.errors import LimitExceeded, ScenarioError
from harness.fanout.shards import plan_segment
from harness.fanout.spec import StackDefaults, cleanup_target, fault_segments, parse_input

DEFAULTS = StackDefaults(base_url="https://api.example.test", user_pool_id="us-east-1_Pool", client_id="client", path="/items", region="us-east-1")


def scenario(**load: object) -> dict:
    return {
        "name": "s",
        "target": {"base_url": "http://127.0.0.1:9000"},
        "auth": {"user_pool_id": "us-east-1_Pool", "client_id": "c", "users": 10},
        "endpoints": [{"name": "list", "path": "/items"}],
        "load": load or {"profile": "steady", "rate": 100, "duration": 30},
    }


def test_the_reference_input_is_n_users_times_m_calls() -> None:
    spec = parse_input({"users": {"NumberOfUsers": "100", "NumberOfCallsPerUser": "20"}}, defaults=DEFAULTS)
    sc = spec.scenario()
    assert sc.load_profile.profile == "calls"
    assert (sc.load_profile.users, sc.load_profile.calls_per_user) == (100, 20)
    assert sc.auth.users == 100 and sc.auth.user_pool_id == "us-east-1_Pool" and sc.auth.username(0) == "loadtestuser0"
    assert sc.target.base_url == "https://api.example.test" and sc.endpoints[0].path == "/items"
    assert spec.workers == 4 and spec.windows == [(0.0, 600.0)] and spec.reference_input


@pytest.mark.parametrize(
    "users, field, words",
    [
        ({"NumberOfUsers": "1001", "NumberOfCallsPerUser": "1"}, "load.users", "safety limit of 1000"),
        ({"NumberOfUsers": "1", "NumberOfCallsPerUser": "1001"}, "load.calls_per_user", "safety limit of 1000"),
        ({"NumberOfUsers": "ten", "NumberOfCallsPerUser": "1"}, "users.NumberOfUsers", "whole number"),
        ({"NumberOfUsers": "0", "NumberOfCallsPerUser": "1"}, "users.NumberOfUsers", "at least 1"),
        ({"NumberOfUsers": "-5", "NumberOfCallsPerUser": "1"}, "users.NumberOfUsers", "whole number"),
        ({"NumberOfUsers": "5"}, "users.NumberOfCallsPerUser", "is required"),
        ({"NumberOfUsers": "5", "NumberOfCallsPerUser": "5", "Extra": 1}, "users.Extra", "not a known field"),
    ],
)
def test_the_reference_input_is_checked_as_strings(users: dict, field: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_input({"users": users}, defaults=DEFAULTS)
    message = str(info.value)
    assert message.startswith(f"execution input: {field}: ") and words in message and "\n" not in message


def test_raised_limits_need_override() -> None:
    data = {"users": {"NumberOfUsers": "1500", "NumberOfCallsPerUser": "2"}, "limits": {"max_users": 2000}}
    with pytest.raises(LimitExceeded):
        parse_input(data, defaults=DEFAULTS)
    assert parse_input({**data, "override_limits": True}, defaults=DEFAULTS).scenario().load_profile.users == 1500


def test_a_stack_without_a_target_refuses_the_reference_input() -> None:
    with pytest.raises(ScenarioError, match="TargetUrl"):
        parse_input({"users": {"NumberOfUsers": "1", "NumberOfCallsPerUser": "1"}}, defaults=StackDefaults())


def test_a_scenario_with_workers_and_segments() -> None:
    spec = parse_input({"scenario": scenario(profile="steady", rate=100, duration=1500), "workers": 8, "run_id": "r-1"}, defaults=DEFAULTS)
    assert spec.run_id == "r-1" and spec.workers == 8
    assert spec.windows == [(0.0, 600.0), (600.0, 1200.0), (1200.0, 1500.0)]
    assert spec.scenario().fanout.workers == 8


@pytest.mark.parametrize(
    "data, field",
    [
        ({"scenario": {**scenario(), "target": {"base_url": "local"}}}, "scenario.target.base_url"),
        (
            {"scenario": {**scenario(profile="steady", rate=4000, duration=10), "limits": {"max_rate": 5000}}, "workers": 1, "override_limits": True},
            "fanout.workers",
        ),
        ({"scenario": scenario(), "users": {}}, None),
        ({"scenario": scenario(), "workers": "many"}, "workers"),
        ({"scenario": scenario(), "run_id": "a b"}, "run_id"),
        ({"scenario": scenario(), "bogus": 1}, "bogus"),
        ({"scenario": scenario(profile="calls", users=2, calls_per_user=3, max_duration="20m")}, "load.max_duration"),
    ],
)
def test_bad_inputs_are_refused_in_one_line(data: dict, field: str | None) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_input(data, defaults=DEFAULTS)
    assert info.value.field == field and "\n" not in str(info.value)


def test_a_calls_run_has_no_more_workers_than_users() -> None:
    spec = parse_input({"scenario": scenario(profile="calls", users=3, calls_per_user=2), "workers": 10}, defaults=DEFAULTS)
    assert spec.workers == 3


def test_shards_share_one_start_instant_and_cover_the_workers() -> None:
    spec = parse_input({"scenario": scenario(profile="steady", rate=100, duration=1500), "workers": 4}, defaults=DEFAULTS)
    shards = plan_segment(spec, bucket="b", segment=1, start_at=1000.0)
    assert [s.index for s in shards] == [0, 1, 2, 3]
    assert {(s.start_at, s.window, s.count, s.segments) for s in shards} == {(1000.0, (600.0, 1200.0), 4, 3)}
    assert shards[2].name == "shard 2 of segment 1"
    with pytest.raises(ValueError):
        plan_segment(spec, bucket="b", segment=3, start_at=0)


def test_cleanup_input() -> None:
    assert cleanup_target({"NumberOfUsers": "100"}, defaults=DEFAULTS) == ("us-east-1_Pool", "loadtestuser", 100)
    assert cleanup_target({"user_pool_id": "p", "prefix": "x", "count": 3}, defaults=DEFAULTS) == ("p", "x", 3)
    with pytest.raises(ScenarioError):
        cleanup_target({"NumberOfUsers": "lots"}, defaults=DEFAULTS)
    with pytest.raises(ScenarioError):
        cleanup_target({}, defaults=StackDefaults())


def with_faults(*faults: dict, segment: float = 600, duration: float = 30) -> dict:
    data = scenario(profile="steady", rate=10, duration=duration)
    return {**data, "faults": list(faults), "fanout": {"segment": segment}}


FIS = {"kind": "fis", "template": "EXT123", "at": 5, "duration": 10}


def test_faults_need_the_caller_that_applies_them() -> None:
    # started by hand (the console, another tool), the state machine would run the load without them
    with pytest.raises(ScenarioError, match=r"scenario\.faults.*harness fanout"):
        parse_input({"scenario": with_faults(FIS)}, defaults=DEFAULTS)
    spec = parse_input({"scenario": with_faults(FIS), "faults_by_caller": True}, defaults=DEFAULTS)
    assert spec.scenario().faults[0].kind == "fis"  # the workers get them, and leave them to the caller
    with pytest.raises(ScenarioError, match="faults_by_caller: must be true or false"):
        parse_input({"scenario": with_faults(FIS), "faults_by_caller": "yes"}, defaults=DEFAULTS)


def test_each_fault_lies_inside_one_segment() -> None:
    data = with_faults(FIS, {**FIS, "at": 25, "duration": 5}, segment=20, duration=40)
    spec = parse_input({"scenario": data, "faults_by_caller": True}, defaults=DEFAULTS)
    assert spec.windows == [(0.0, 20.0), (20.0, 40.0)] and fault_segments(spec.scenario(), spec.windows) == [0, 1]
    crossing = with_faults({**FIS, "at": 15, "duration": 10}, segment=20, duration=40)
    with pytest.raises(ScenarioError, match=r"scenario\.faults\[0\]\.at: runs 15-25 s, across the fan-out segment boundary at 20 s"):
        parse_input({"scenario": crossing, "faults_by_caller": True}, defaults=DEFAULTS)


def test_a_worker_whose_time_budget_exceeds_the_function_timeout_is_refused_naming_the_numbers() -> None:
    data = {"scenario": {**scenario(profile="steady", rate=10, duration=1500), "fanout": {"segment": "840s", "start_lead": "30s"}}}
    with pytest.raises(ScenarioError) as info:
        parse_input(data, defaults=DEFAULTS)  # 30 s lead + 840 s + 30 s drain + 10 s margin = 910 s > 900 s
    assert info.value.field == "fanout.segment"
    assert "start_lead 30 s + segment 840 s + drain 30 s (target.timeout) + upload margin 10 s = 910 s" in str(info.value)
    assert "timeout of 900 s" in str(info.value) and "at most 830 s" in str(info.value)
    short = DEFAULTS.model_copy(update={"worker_timeout": 300.0})
    with pytest.raises(ScenarioError, match="timeout of 300 s"):
        parse_input({"scenario": scenario(profile="steady", rate=10, duration=600)}, defaults=short)
    assert parse_input({"scenario": scenario(profile="steady", rate=10, duration=240)}, defaults=short).segments == 1


def test_the_stack_worker_timeout_reaches_the_check_from_the_controller_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_WORKER_TIMEOUT", "120")
    assert StackDefaults.from_env().worker_timeout == 120.0
    monkeypatch.delenv("HARNESS_WORKER_TIMEOUT")
    assert StackDefaults.from_env().worker_timeout == 900.0


def test_too_many_virtual_users_per_worker_for_lambdas_file_descriptors_are_refused_with_the_workers_needed() -> None:
    load = {"profile": "steady", "rate": 100, "duration": 30, "vus": 1900}
    data = {"scenario": {**scenario(**load), "auth": {"user_pool_id": "us-east-1_Pool", "client_id": "c", "users": 10}}, "workers": 2}
    with pytest.raises(ScenarioError) as info:
        parse_input(data, defaults=DEFAULTS)
    assert info.value.field == "fanout.workers" and "950 virtual users" in str(info.value)
    assert "1,024 file descriptors" in str(info.value) and "use at least 3 workers" in str(info.value)
    assert parse_input({**data, "workers": 3}, defaults=DEFAULTS).workers == 3


def test_sign_in_is_shared_across_workers_under_one_budget() -> None:
    data = {"scenario": {**scenario(), "fanout": {"sign_in_budget": 30, "start_lead": "20s"}}, "workers": 10}
    spec = parse_input(data, defaults=DEFAULTS)
    assert spec.scenario().auth.login_rate == 3.0  # 30/s for the whole run, 3/s for each of 10 workers
    one = parse_input({**data, "workers": 1}, defaults=DEFAULTS)
    assert one.scenario().auth.login_rate == 20.0  # never above the scenario's own login_rate


def test_a_start_lead_too_short_for_the_shared_sign_in_is_refused_with_the_minimum() -> None:
    load = {"profile": "steady", "rate": 100, "duration": 30, "vus": 600}
    auth = {"user_pool_id": "us-east-1_Pool", "client_id": "c", "users": 600}
    data = {"scenario": {**scenario(**load), "auth": auth, "fanout": {"start_lead": "10s", "sign_in_budget": 50}}, "workers": 4}
    with pytest.raises(ScenarioError) as info:
        parse_input(data, defaults=DEFAULTS)  # 150 users per worker at 12.5/s: 12 s, plus a 2 s cold start
    assert info.value.field == "fanout.start_lead" and "at least 14 s" in str(info.value)
    data["scenario"]["fanout"]["start_lead"] = "14s"
    assert parse_input(data, defaults=DEFAULTS).workers == 4


@pytest.mark.parametrize("run_id", ["r.1", "a b", "x" * 81, "-lead"])
def test_run_ids_that_cannot_name_an_execution_or_a_folder_are_refused(run_id: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_input({"scenario": scenario(), "run_id": run_id}, defaults=DEFAULTS)
    assert info.value.field == "run_id" and "'.'" in str(info.value)
