"""Scenario files: the shipped ones load; every kind of bad file gets one line naming the file,
the field and the fix; the safety limits hold unless overridden."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import pytest

from harness.errors import LimitExceeded, ScenarioError
from harness.scenario import DEFAULT_LIMITS, Retry, Scenario, Steady, apply_overrides, parse_duration

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

TARGET = '[target]\nbase_url = "local"\n'
EP_LIST = '[[endpoints]]\nname = "list"\npath = "/items"\n'
EP_GET = '[[endpoints]]\nname = "get"\npath = "/items/{id}"\n'
STEADY = '[load]\nprofile = "steady"\nrate = 5\nduration = "10s"\n'
BURST = '[load]\nprofile = "burst"\nburst_rate = 50\nburst_length = "2s"\nidle_min = "1s"\nidle_max = "3s"\n'
RAMP = '[load]\nprofile = "ramp"\nfrom_rate = 10\nto_rate = 50\nstep = 10\nstep_duration = "5s"\n'
SPIKE = '[load]\nprofile = "spike"\nbase_rate = 5\nspike_rate = 50\nat = "20s"\nspike_duration = "10s"\nduration = "60s"\n'
AUTH = '[auth]\nusers = 5\nflow = "admin"\n'


def toml(*tables: str, top: str = "") -> str:
    """A scenario file: top-level keys first, then the tables."""
    return top + "\n".join(tables)


VALID = toml(TARGET, EP_LIST, EP_GET, STEADY)


def write(tmp_path: Path, text: str | bytes, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def assert_one_line(err: ScenarioError, path: Path | str, field: str | None) -> str:
    """The CLI prints str(err) as is: one line, file first, then the field, no traceback."""
    text = str(err)
    assert "\n" not in text and "\r" not in text
    assert "Traceback" not in text
    assert err.path == str(path)
    assert text.startswith(f"{path}: ")
    assert err.field == field
    if field is not None:
        assert text.startswith(f"{path}: {field}: ")
    return text


# ---- shipped scenarios -----------------------------------------------------------------------


def shipped() -> list[Path]:
    return sorted(SCENARIOS.glob("*.toml"))


def test_the_shipped_scenarios_are_there() -> None:
    names = {p.stem for p in shipped()}
    assert {"smoke", "steady", "ramp", "burst"} <= names


@pytest.mark.parametrize("path", shipped(), ids=lambda p: p.stem)
def test_shipped_scenario_loads(path: Path) -> None:
    scenario = Scenario.load(path)
    assert scenario.endpoints
    assert scenario.load_profile.profile in {"steady", "ramp", "burst", "spike"}
    scenario.check_limits()  # within the built-in limits without --override-limits
    assert scenario.vus <= scenario.limits.max_vus
    # a Lambda worker receives the scenario as data: echo() must validate back to the same thing
    assert Scenario.from_dict(scenario.echo()) == scenario


def test_a_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    scenario = Scenario.load(write(tmp_path, VALID, "my-run.toml"))
    assert scenario.name == "my-run"  # name defaults to the file's stem
    assert isinstance(scenario.load_profile, Steady)
    assert scenario.load_profile.duration == 10.0
    assert [e.expect for e in scenario.endpoints] == [[200], [200]]
    assert scenario.auth is None
    assert scenario.limits == DEFAULT_LIMITS
    assert scenario.vus == 10  # at least 10 by default


def test_test_user_names_follow_the_reference_design() -> None:
    from harness.auth.users import make_usernames
    from harness.scenario import Auth

    auth = Auth(users=3)
    assert auth.usernames == ["loadtestuser0", "loadtestuser1", "loadtestuser2"] == make_usernames(3)
    assert [auth.username(i) for i in range(3)] == auth.usernames
    assert Auth(users=2, username_prefix="lt-").username(1) == "lt-1"


# ---- bad files: one line, file, field, fix ----------------------------------------------------

BAD = {
    # id: (file text, field, words of the fix)
    "missing target": (toml(EP_LIST, STEADY), "target", "is required; add it"),
    "missing endpoints": (toml(TARGET, STEADY), "endpoints", "is required; add it"),
    "empty endpoints": (toml(TARGET, STEADY, top="endpoints = []\n"), "endpoints", "at least 1"),
    "missing load": (toml(TARGET, EP_LIST), "load", "is required; add it"),
    "steady without rate": (toml(TARGET, EP_LIST, STEADY.replace("rate = 5\n", "")), "load.rate", "is required; add it"),
    "burst without burst_rate": (
        toml(TARGET, EP_LIST, BURST.replace("burst_rate = 50\n", "")),
        "load.burst_rate",
        "is required; add it",
    ),
    "missing endpoint path": (toml(TARGET, '[[endpoints]]\nname = "x"\n', STEADY), "endpoints[0].path", "add it"),
    "unknown profile": (
        toml(TARGET, EP_LIST, STEADY.replace('"steady"', '"stedy"')),
        "load.profile",
        "must be one of steady, ramp, burst, spike",
    ),
    "no profile": (
        toml(TARGET, EP_LIST, STEADY.replace('profile = "steady"\n', "")),
        "load.profile",
        "must be one of steady, ramp, burst, spike",
    ),
    "wrong type for rate": (toml(TARGET, EP_LIST, STEADY.replace("rate = 5", 'rate = "fast"')), "load.rate", "number"),
    "bool for rate": (toml(TARGET, EP_LIST, STEADY.replace("rate = 5", "rate = true")), "load.rate", "not true/false"),
    "bool for users": (toml(TARGET, EP_LIST, STEADY, "[auth]\nusers = true\n"), "auth.users", "not true/false"),
    "wrong type for users": (toml(TARGET, EP_LIST, STEADY, '[auth]\nusers = "many"\n'), "auth.users", "integer"),
    "fractional users": (toml(TARGET, EP_LIST, STEADY, "[auth]\nusers = 2.5\n"), "auth.users", "integer"),
    "target not a table": (toml(EP_LIST, STEADY, top='target = "local"\n'), "target", "valid dictionary"),
    "gates not a list": (toml(TARGET, EP_LIST, STEADY, top='gates = "p95 < 300ms"\n'), "gates", "valid list"),
    "unknown auth flow": (toml(TARGET, EP_LIST, STEADY, '[auth]\nflow = "oauth"\n'), "auth.flow", "'srp' or 'admin'"),
    "unknown method": (toml(TARGET, EP_LIST.replace("name", 'method = "FETCH"\nname'), STEADY), "endpoints[0].method", "'GET'"),
    "bad base_url": (toml('[target]\nbase_url = "ftp://example.com"\n', EP_LIST, STEADY), "target.base_url", "http(s)://"),
    "negative rate": (toml(TARGET, EP_LIST, STEADY.replace("rate = 5", "rate = -5")), "load.rate", "greater than"),
    "zero rate": (toml(TARGET, EP_LIST, STEADY.replace("rate = 5", "rate = 0")), "load.rate", "greater than 0"),
    "negative base_rate": (toml(TARGET, EP_LIST, SPIKE.replace("base_rate = 5", "base_rate = -1")), "load.base_rate", "greater than"),
    "NaN rate": (toml(TARGET, EP_LIST, STEADY.replace("rate = 5", "rate = nan")), "load.rate", "greater than"),
    "zero weight": (toml(TARGET, EP_LIST.replace("name", "weight = 0\nname"), STEADY), "endpoints[0].weight", "greater than"),
    "bad duration": (
        toml(TARGET, EP_LIST, STEADY.replace('"10s"', '"5 parsecs"')),
        "load.duration",
        "like '30s', '5m', '250ms'",
    ),
    "empty duration": (toml(TARGET, EP_LIST, STEADY.replace('"10s"', '""')), "load.duration", "like '30s'"),
    "negative duration": (toml(TARGET, EP_LIST, STEADY.replace('"10s"', "-10")), "load.duration", "greater than 0"),
    "infinite duration": (toml(TARGET, EP_LIST, STEADY.replace('"10s"', "inf")), "load.duration", "finite"),
    "bad refresh_margin": (
        toml(TARGET, EP_LIST, STEADY, '[auth]\nrefresh_margin = "soon"\n'),
        "auth.refresh_margin",
        "like '30s'",
    ),
    "idle_max below idle_min": (
        toml(TARGET, EP_LIST, BURST.replace('idle_max = "3s"', 'idle_max = "500ms"')),
        "load.idle_max",
        "set idle_max >= idle_min",
    ),
    "burst below base": (
        toml(TARGET, EP_LIST, BURST.replace("burst_rate = 50", "burst_rate = 50\nbase_rate = 80")),
        "load.burst_rate",
        "raise burst_rate or lower base_rate",
    ),
    "ramp from equals to": (
        toml(TARGET, EP_LIST, RAMP.replace("to_rate = 50", "to_rate = 10")),
        "load.to_rate",
        'use profile = "steady"',
    ),
    "ramp step zero": (toml(TARGET, EP_LIST, RAMP.replace("step = 10", "step = 0")), "load.step", "greater than 0"),
    "spike after duration": (
        toml(TARGET, EP_LIST, SPIKE.replace('at = "20s"', 'at = "55s"')),
        "load.duration",
        "lengthen duration or move the spike earlier",
    ),
    "path without slash": (
        toml(TARGET, EP_LIST, EP_GET.replace('"/items/{id}"', '"items/{id}"'), STEADY),
        "endpoints[1].path",
        "must start with '/'",
    ),
    "path that is not a valid URI": (
        toml(TARGET, EP_LIST, EP_GET.replace('"/items/{id}"', '"/items/{id}?q=a b"'), STEADY),
        "endpoints[1].path",
        "is not a valid URI path: ' ' must be percent-encoded; write '/items/{id}?q=a%20b'",
    ),
    "unknown placeholder": (
        toml(TARGET, EP_LIST, EP_GET.replace("{id}", "{item}"), STEADY),
        "endpoints[1].path",
        "unknown placeholder {item}; use one of {id}, {seq}, {user}, {uuid}, {vu}",
    ),
    "duplicate endpoint names": (
        toml(TARGET, EP_LIST, EP_GET.replace('"get"', '"list"'), STEADY),
        "endpoints",
        "two endpoints are named 'list'; give each a unique name",
    ),
    "status code too low": (
        toml(TARGET, EP_LIST.replace("name", "expect = [99]\nname"), STEADY),
        "endpoints[0].expect",
        "between 100 and 599",
    ),
    "status code too high": (
        toml(TARGET, EP_LIST, EP_GET.replace("name", "expect = [200, 2000]\nname"), STEADY),
        "endpoints[1].expect",
        "between 100 and 599",
    ),
    "no status codes": (
        toml(TARGET, EP_LIST.replace("name", "expect = []\nname"), STEADY),
        "endpoints[0].expect",
        "between 100 and 599",
    ),
    "status code not a number": (
        toml(TARGET, EP_LIST.replace("name", 'expect = ["OK"]\nname'), STEADY),
        "endpoints[0].expect[0]",
        "valid integer",
    ),
    "bad username_prefix": (
        toml(TARGET, EP_LIST, STEADY, '[auth]\nusername_prefix = "9 lives"\n'),
        "auth.username_prefix",
        "should match pattern",
    ),
    "zero users": (toml(TARGET, EP_LIST, STEADY, "[auth]\nusers = 0\n"), "auth.users", "greater than or equal to 1"),
}


@pytest.mark.parametrize("text, field, fix", BAD.values(), ids=BAD.keys())
def test_bad_file_names_file_field_and_fix(tmp_path: Path, text: str, field: str, fix: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    assert type(info.value) is ScenarioError  # not a limit: the file itself is wrong
    message = assert_one_line(info.value, path, field)
    assert fix in message
    assert ";" in message  # "what is wrong; what to do"


UNKNOWN_FIELDS = {
    # id: (file text, field, some of the fields it must list)
    "load": (toml(TARGET, EP_LIST, STEADY.replace("rate = 5\n", "rate = 5\nrat = 5\n")), "load.rat", ["rate", "duration", "vus"]),
    "burst": (toml(TARGET, EP_LIST, BURST + "idle_mx = 3\n"), "load.idle_mx", ["idle_min", "idle_max", "cycles", "seed"]),
    "top level": (toml(TARGET, EP_LIST, STEADY, top='nmae = "x"\n'), "nmae", ["name", "target", "endpoints", "load", "limits"]),
    "target": (toml(TARGET + "base_ur = 1\n", EP_LIST, STEADY), "target.base_ur", ["base_url", "api_kind", "timeout"]),
    "second endpoint": (
        toml(TARGET, EP_LIST, EP_GET + "pth = 1\n", STEADY),
        "endpoints[1].pth",
        ["name", "method", "path", "weight", "expect"],
    ),
    "auth": (toml(TARGET, EP_LIST, STEADY, AUTH + "usr = 3\n"), "auth.usr", ["users", "flow", "username_prefix"]),
    "limits": (toml(TARGET, EP_LIST, STEADY, "[limits]\nmax_rat = 5\n"), "limits.max_rat", ["max_rate", "max_duration"]),
}


@pytest.mark.parametrize("text, field, allowed", UNKNOWN_FIELDS.values(), ids=UNKNOWN_FIELDS.keys())
def test_unknown_field_lists_the_allowed_ones(tmp_path: Path, text: str, field: str, allowed: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    message = assert_one_line(info.value, path, field)
    assert re.search(r"is not a known field; did you mean \w+\? remove it or use one of: ", message)
    listed = message.split("use one of: ", 1)[1].split(" (+")[0].split(", ")
    assert set(allowed) <= set(listed)
    assert field.rsplit(".", 1)[-1] not in listed


def test_toml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("[load]", "[load"))
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    message = assert_one_line(info.value, path, None)
    assert "not valid TOML" in message and "line " in message and "fix the syntax" in message


def test_toml_syntax_error_in_a_multiline_value_stays_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + 'description = """two\nlines\n')
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    assert_one_line(info.value, path, None)


def test_a_bad_value_with_a_newline_stays_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, toml(TARGET, EP_LIST, STEADY.replace('"10s"', '"""10\nparsecs"""')))
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    assert_one_line(info.value, path, "load.duration")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    assert "no such file; check the path" in assert_one_line(info.value, path, None)


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('"list"', '"caf\u00e9"').encode("latin-1"))
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    assert "not UTF-8 text; save it as UTF-8" in assert_one_line(info.value, path, None)


def test_a_directory_is_not_a_scenario(tmp_path: Path) -> None:
    path = tmp_path / "dir.toml"
    path.mkdir()
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    assert "cannot read it" in assert_one_line(info.value, path, None)


def test_from_dict_names_its_source() -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict({"name": "x", "target": {"base_url": "local"}, "endpoints": []}, source="s3://bucket/run.json")
    assert_one_line(info.value, "s3://bucket/run.json", "endpoints")


def test_several_errors_report_the_first_and_count_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path, toml(EP_LIST.replace('"/items"', '"items"'), STEADY.replace("rate = 5", "rate = -1")))
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    message = assert_one_line(info.value, path, "target")
    assert message.endswith("(+2 more; -v lists them)")
    details = info.value.details
    assert len(details) == 3 and details[0] == message.removesuffix(" (+2 more; -v lists them)")
    assert any("endpoints[0].path" in d for d in details) and any("load.rate" in d for d in details)


def test_a_typo_is_named_first_with_the_field_it_misspells(tmp_path: Path) -> None:
    """``rat = 5`` also makes ``rate`` missing; the typo is what to fix, so it comes first."""
    path = write(tmp_path, toml(TARGET, EP_LIST, STEADY.replace("rate = 5", "rat = 5")))
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    message = assert_one_line(info.value, path, "load.rat")
    assert "is not a known field; did you mean rate?" in message and message.endswith("(+1 more; -v lists them)")
    assert info.value.details[1] == f"{path}: load.rate: is required; add it"


@pytest.mark.parametrize(
    "tables, field, table",
    [
        ((TARGET, EP_LIST, STEADY, '[local]\nlatency_ms = 5\ngates = ["p95 < 1s"]\n'), "local.gates", "[local]"),
        ((TARGET, EP_LIST, STEADY + 'gates = ["p95 < 1s"]\n'), "load.gates", "[load]"),
        ((TARGET + 'description = "x"\n', EP_LIST, STEADY), "target.description", "[target]"),
    ],
)
def test_a_top_level_key_after_a_table_header_says_so(tmp_path: Path, tables: tuple[str, ...], field: str, table: str) -> None:
    path = write(tmp_path, toml(*tables))
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    message = assert_one_line(info.value, path, field)
    assert f"is not a field of {table}: TOML reads every key after a [table] header as part of that table" in message
    assert "must come before the first [table] header; move it up" in message


# ---- --set overrides -------------------------------------------------------------------------


def test_overrides_set_fields_validated_like_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, toml(TARGET, EP_LIST, EP_GET, STEADY, AUTH))
    scenario = Scenario.load(path, overrides=["load.rate=200", "load.duration=30s", "auth.users=7", "endpoints.1.weight=4", 'gates=["p95 < 1s"]'])
    assert (scenario.load_profile.rate, scenario.load_profile.duration) == (200.0, 30.0)
    assert scenario.auth is not None and scenario.auth.users == 7
    assert scenario.endpoints[1].weight == 4 and scenario.gates == ["p95 < 1s"]
    assert Scenario.load(path).load_profile.rate == 5.0  # the file is untouched
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path, overrides=["load.rate=fast"])
    message = str(info.value)
    assert message.startswith(f"{path} with --set load.rate=fast: load.rate: ") and "\n" not in message
    with pytest.raises(ScenarioError, match="did you mean rate"):
        Scenario.load(path, overrides=["load.rat=5"])
    with pytest.raises(LimitExceeded):
        Scenario.load(path, overrides=["load.rate=5000"])


@pytest.mark.parametrize(
    "item, fragment",
    [
        ("load.rate", "write FIELD=VALUE"),
        ("=5", "write FIELD=VALUE"),
        ("load..rate=5", "write FIELD=VALUE"),
        ("endpoints.9.weight=1", "not an item of the list"),
        ("name.x=1", "is a value, not a table"),
    ],
)
def test_bad_overrides_say_how_to_write_them(tmp_path: Path, item: str, fragment: str) -> None:
    path = write(tmp_path, VALID)
    with pytest.raises(ScenarioError, match=re.escape(fragment)):
        Scenario.load(path, overrides=[item])


def test_apply_overrides_reads_toml_values_and_plain_text() -> None:
    raw = {"load": {"rate": 1}, "target": {"base_url": "local"}}
    out = apply_overrides(raw, ["load.rate=2.5", "target.base_url=https://x.execute-api.eu-west-1.amazonaws.com", "load.on=true", 'load.s="q"'])
    assert out == {"load": {"rate": 2.5, "on": True, "s": "q"}, "target": {"base_url": "https://x.execute-api.eu-west-1.amazonaws.com"}}
    assert raw == {"load": {"rate": 1}, "target": {"base_url": "local"}}


# ---- safety limits ---------------------------------------------------------------------------


def load_error(tmp_path: Path, text: str, **kwargs: bool) -> tuple[LimitExceeded, Path]:
    path = write(tmp_path, text)
    with pytest.raises(LimitExceeded) as info:
        Scenario.load(path, **kwargs)
    return info.value, path


def test_rate_above_the_limit(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, toml(TARGET, EP_LIST, STEADY.replace("rate = 5", "rate = 2500")))
    message = assert_one_line(err, path, "load.rate")
    assert "2500 rps is over the safety limit of 2000 rps" in message
    assert "--override-limits" in message
    assert err.exit_code == 2


@pytest.mark.parametrize(
    "load, field",
    [
        (RAMP.replace("to_rate = 50", "to_rate = 2001"), "load.to_rate"),
        (RAMP.replace("from_rate = 10", "from_rate = 3000"), "load.from_rate"),
        (BURST.replace("burst_rate = 50", "burst_rate = 5000"), "load.burst_rate"),
        (SPIKE.replace("spike_rate = 50", "spike_rate = 2000.5"), "load.spike_rate"),
    ],
    ids=["ramp-to", "ramp-from", "burst", "spike"],
)
def test_every_rate_field_is_limited(tmp_path: Path, load: str, field: str) -> None:
    err, path = load_error(tmp_path, toml(TARGET, EP_LIST, load))
    assert_one_line(err, path, field)


def test_exactly_at_the_limit_is_allowed(tmp_path: Path) -> None:
    Scenario.load(write(tmp_path, toml(TARGET, EP_LIST, STEADY.replace("rate = 5", "rate = 2000"))))


def test_raising_a_limit_needs_override(tmp_path: Path) -> None:
    text = toml(TARGET, EP_LIST, STEADY.replace("rate = 5", "rate = 3000"), "[limits]\nmax_rate = 5000\n")
    err, path = load_error(tmp_path, text)
    message = assert_one_line(err, path, "limits.max_rate")
    assert "5000 raises the built-in safety limit of 2000" in message
    assert "--override-limits" in message
    scenario = Scenario.load(path, override_limits=True)
    assert scenario.limits.max_rate == 5000
    assert scenario.load_profile.rate == 3000


def test_override_does_not_lift_the_raised_limit_itself(tmp_path: Path) -> None:
    text = toml(TARGET, EP_LIST, STEADY.replace("rate = 5", "rate = 6000"), "[limits]\nmax_rate = 5000\n")
    err, path = load_error(tmp_path, text, override_limits=True)
    assert_one_line(err, path, "load.rate")


@pytest.mark.parametrize("name", ["max_duration", "max_users", "max_vus"])
def test_raising_any_limit_needs_override(tmp_path: Path, name: str) -> None:
    value = 2 * getattr(DEFAULT_LIMITS, name)
    err, path = load_error(tmp_path, toml(TARGET, EP_LIST, STEADY, f"[limits]\n{name} = {value}\n"))
    assert "--override-limits" in assert_one_line(err, path, f"limits.{name}")
    Scenario.load(path, override_limits=True)


def test_lowering_a_limit_needs_no_override(tmp_path: Path) -> None:
    path = write(tmp_path, toml(TARGET, EP_LIST, STEADY, "[limits]\nmax_rate = 10\nmax_vus = 5\n"))
    scenario = Scenario.load(path)
    # the default pool (at least 10) is capped by a lowered max_vus instead of failing
    assert scenario.vus == 5
    err, path = load_error(tmp_path, toml(TARGET, EP_LIST, STEADY.replace("rate = 5", "rate = 20"), "[limits]\nmax_rate = 10\n"))
    assert "limit of 10 rps" in assert_one_line(err, path, "load.rate")


def test_users_above_the_limit(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, toml(TARGET, EP_LIST, STEADY, "[auth]\nusers = 1001\n"))
    assert "1001 users is over the safety limit of 1000" in assert_one_line(err, path, "auth.users")
    err, path = load_error(tmp_path, toml(TARGET, EP_LIST, STEADY, "[auth]\nusers = 20\n", "[limits]\nmax_users = 10\n"))
    assert_one_line(err, path, "auth.users")


def test_vus_above_the_limit(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, toml(TARGET, EP_LIST, STEADY + "vus = 2001\n"))
    assert "2001 virtual users" in assert_one_line(err, path, "load.vus")


@pytest.mark.parametrize(
    "load, field",
    [
        (STEADY.replace('"10s"', '"2h"'), "load.duration"),
        (SPIKE.replace('duration = "60s"', 'duration = "61m"'), "load.duration"),
        (RAMP.replace('"5s"', '"15m"'), "load.step_duration"),  # 5 steps of 15 minutes
        (BURST.replace('idle_max = "3s"', 'idle_max = "20m"'), "load"),  # up to 4 idle intervals
    ],
    ids=["steady", "spike", "ramp", "burst"],
)
def test_too_long(tmp_path: Path, load: str, field: str) -> None:
    err, path = load_error(tmp_path, toml(TARGET, EP_LIST, load))
    message = assert_one_line(err, path, field)
    assert "over the safety limit of 3600 s" in message and "--override-limits" in message


def test_limit_errors_are_scenario_errors() -> None:
    assert issubclass(LimitExceeded, ScenarioError)


# ---- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("1m30s", 90.0),
        ("250ms", 0.25),
        (5, 5.0),
        (2.5, 2.5),
        ("2h", 7200.0),
        ("90", 90.0),
        ("90s", 90.0),
        ("1.5m", 90.0),
        ("1h30m", 5400.0),
        ("1m 30s", 90.0),
        (" 45s ", 45.0),
        ("0.5", 0.5),
        (0, 0.0),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    result = parse_duration(value)
    assert isinstance(result, float)
    assert result == seconds


@pytest.mark.parametrize(
    "value",
    ["5 parsecs", "", "  ", "abc", "1m30", "s", "10sx", "-5s", "5d", True, False, None, [], {}, "nan", "inf", math.inf, math.nan],
)
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


# ---- the calls profile and fan-out settings ----------------------------------------------------

CALLS = '[load]\nprofile = "calls"\nusers = 5\ncalls_per_user = 20\n'


def test_the_calls_profile_runs_one_virtual_user_per_user(tmp_path: Path) -> None:
    scenario = Scenario.load(write(tmp_path, toml(TARGET, AUTH, EP_LIST, CALLS)))
    assert scenario.load_profile.profile == "calls"
    assert scenario.vus == 5
    assert scenario.load_profile.total_calls == 100
    assert scenario.load_profile.max_duration == 600


def test_the_calls_profile_needs_a_test_user_per_virtual_user(tmp_path: Path) -> None:
    path = write(tmp_path, toml(TARGET, AUTH.replace("users = 5", "users = 3"), EP_LIST, CALLS))
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    message = assert_one_line(info.value, path, "auth.users")
    assert "set auth.users >= load.users" in message


def test_the_calls_profile_refuses_another_vus(tmp_path: Path) -> None:
    path = write(tmp_path, toml(TARGET, EP_LIST, CALLS + "vus = 9\n"))
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    assert_one_line(info.value, path, "load.vus")


@pytest.mark.parametrize(
    "load, field",
    [
        ('[load]\nprofile = "calls"\nusers = 1001\ncalls_per_user = 1\n', "load.users"),
        ('[load]\nprofile = "calls"\nusers = 1\ncalls_per_user = 1001\n', "load.calls_per_user"),
        ('[load]\nprofile = "calls"\nusers = 1\ncalls_per_user = 1\nmax_duration = "2h"\n', "load.max_duration"),
    ],
)
def test_the_calls_profile_is_bounded_by_the_limits(tmp_path: Path, load: str, field: str) -> None:
    err, path = load_error(tmp_path, toml(TARGET, EP_LIST, load))
    message = assert_one_line(err, path, field)
    assert "--override-limits" in message


def test_raised_calls_limits_with_override(tmp_path: Path) -> None:
    limits = "[limits]\nmax_calls_per_user = 5000\n"
    text = toml(TARGET, EP_LIST, CALLS.replace("calls_per_user = 20", "calls_per_user = 4000"), limits)
    assert Scenario.load(write(tmp_path, text), override_limits=True).load_profile.calls_per_user == 4000
    err, path = load_error(tmp_path, text)
    assert_one_line(err, path, "limits.max_calls_per_user")


def test_fanout_settings(tmp_path: Path) -> None:
    text = toml(TARGET, EP_LIST, STEADY, '[fanout]\nworkers = 8\nstart_lead = "30s"\ntolerated_failure_percentage = 10\n')
    fanout = Scenario.load(write(tmp_path, text)).fanout
    assert (fanout.workers, fanout.start_lead, fanout.tolerated_failure_percentage, fanout.segment) == (8, 30.0, 10.0, 600.0)
    err, path = load_error(tmp_path, text.replace("workers = 8", "workers = 1001"))
    assert_one_line(err, path, "fanout.workers")
    path = write(tmp_path, text.replace('start_lead = "30s"', 'segment = "20m"'))
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    assert_one_line(info.value, path, "fanout.segment")


# ---- retries ---------------------------------------------------------------------------------

RETRY = 'retry = { on = [429, 503], max_attempts = 3, base = "100ms", cap = "2s" }\n'


def test_retry_per_scenario_and_per_endpoint(tmp_path: Path) -> None:
    own = EP_GET + 'retry = { on = ["transport", 502], max_attempts = 5 }\n'
    off = '[[endpoints]]\nname = "post"\nmethod = "POST"\npath = "/orders"\nretry = false\n'
    scenario = Scenario.load(write(tmp_path, toml(TARGET, EP_LIST, own, off, STEADY, top=RETRY)))
    listed, got, posted = (scenario.retry_for(e) for e in scenario.endpoints)
    assert listed is not None and (listed.on, listed.max_attempts, listed.base, listed.cap) == ([429, 503], 3, 0.1, 2.0)
    assert got is not None and (got.on, got.max_attempts, got.base, got.cap) == ([0, 502], 5, 0.1, 2.0)  # replaces, no blending
    assert posted is None  # retry = false turns the scenario's off for this endpoint
    assert Scenario.load(write(tmp_path, VALID)).retry_for(scenario.endpoints[0]) is None  # no retry unless asked
    # the echo (results files, fan-out workers) reads back the same
    again = Scenario.from_dict(scenario.echo())
    assert [again.retry_for(e) for e in again.endpoints] == [listed, got, None]


def test_backoff_is_full_jitter_doubling_up_to_the_cap() -> None:
    retry = Retry(on=[503], max_attempts=6, base=0.1, cap=0.5)
    assert [retry.ceiling(n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    rng = random.Random(3)
    for n in range(1, 6):
        draws = [retry.backoff(n, rng) for _ in range(2000)]
        assert 0 <= min(draws) and max(draws) <= retry.ceiling(n)
        # full jitter: spread over the whole [0, ceiling], not bunched near it (mean ~ ceiling / 2)
        assert min(draws) < 0.05 * retry.ceiling(n) and max(draws) > 0.95 * retry.ceiling(n)
        assert abs(sum(draws) / len(draws) - retry.ceiling(n) / 2) < 0.05 * retry.ceiling(n)
    assert Retry(on=[503], base=1, cap=60, max_attempts=10).ceiling(10_000) == 60  # no overflow for a huge retry count


BAD_RETRY = {
    # id: (file text, field, fix)
    "one attempt": (toml(TARGET, EP_LIST, STEADY, top="retry = { on = [503], max_attempts = 1 }\n"), "retry.max_attempts", "use no retry"),
    "too many attempts": (toml(TARGET, EP_LIST, STEADY, top="retry = { on = [503], max_attempts = 50 }\n"), "retry.max_attempts", "max_attempts <= 10"),
    "zero base": (toml(TARGET, EP_LIST, STEADY, top="retry = { on = [503], base = 0 }\n"), "retry.base", "greater than 0"),
    "cap below base": (toml(TARGET, EP_LIST, STEADY, top='retry = { on = [503], base = "1s", cap = "500ms" }\n'), "retry.cap", "set cap >= base"),
    "401": (toml(TARGET, EP_LIST, STEADY, top="retry = { on = [401, 503] }\n"), "retry.on", "refreshes the user's token"),
    "a success": (toml(TARGET, EP_LIST, STEADY, top="retry = { on = [200] }\n"), "retry.on", "not a 4xx or 5xx status"),
    "no statuses": (toml(TARGET, EP_LIST, STEADY, top="retry = { on = [] }\n"), "retry.on", "list the statuses to retry"),
    "true": (toml(TARGET, EP_LIST, STEADY, top="retry = true\n"), "retry", "write a table like"),
    "misspelt": (toml(TARGET, EP_LIST, STEADY, top="retry = { on = [503], max_attempt = 3 }\n"), "retry.max_attempt", "did you mean max_attempts?"),
    "an expected status": (
        toml(TARGET, EP_LIST, EP_GET.replace("name", "expect = [200, 404]\nname"), STEADY, top="retry = { on = [404, 503] }\n"),
        "retry.on",
        "404 is an expected status of endpoint 'get' (endpoints[1].expect)",
    ),
    "an endpoint's own": (
        toml(TARGET, EP_LIST, EP_GET + "expect = [503]\nretry = { on = [503] }\n", STEADY),
        "endpoints[1].retry.on",
        "remove 503 from endpoints[1].retry.on",
    ),
    "an endpoint's own attempts": (
        toml(TARGET, EP_LIST + "retry = { on = [503], max_attempts = 0 }\n", STEADY),
        "endpoints[0].retry.max_attempts",
        "use no retry",
    ),
}


@pytest.mark.parametrize("text, field, fix", BAD_RETRY.values(), ids=BAD_RETRY.keys())
def test_bad_retry_names_file_field_and_fix(tmp_path: Path, text: str, field: str, fix: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    message = assert_one_line(info.value, path, field)
    assert fix in message and ";" in message


# ---- a plan that sends nothing -------------------------------------------------------------------


@pytest.mark.parametrize(
    "load, field, fields",
    [
        (STEADY.replace("rate = 5", "rate = 0.1").replace('"10s"', '"5s"'), "load.rate", "load.rate or load.duration"),
        (
            RAMP.replace("from_rate = 10", "from_rate = 0.01").replace("to_rate = 50", "to_rate = 0.02").replace("step = 10", "step = 0.01"),
            "load.from_rate",
            "load.from_rate, load.to_rate or load.step_duration",
        ),
    ],
    ids=["steady", "ramp"],
)
def test_a_plan_of_zero_requests_is_refused_naming_the_fields_to_raise(tmp_path: Path, load: str, field: str, fields: str) -> None:
    path = write(tmp_path, toml(TARGET, EP_LIST, load))
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    message = assert_one_line(info.value, path, field)
    assert "not one whole request, so the run would send nothing" in message and f"raise {fields}" in message
    assert info.value.exit_code == 2


def test_a_plan_of_one_request_is_allowed(tmp_path: Path) -> None:
    Scenario.load(write(tmp_path, toml(TARGET, EP_LIST, STEADY.replace("rate = 5", "rate = 0.2").replace('"10s"', '"5s"'))))


def test_a_client_retry_draws_its_backoff_from_the_same_formula_as_harness_own_aws_calls() -> None:
    from harness.auth.backoff import Backoff
    from harness.jitter import FullJitter

    retry = Retry(on=[429], max_attempts=5, base=0.2, cap=1.0)
    assert retry.policy == FullJitter(base=0.2, cap=1.0) and issubclass(Backoff, FullJitter)
    assert Backoff.bound is FullJitter.bound and Backoff.delay is FullJitter.delay  # one implementation
    aws = Backoff(base=0.2, cap=1.0, attempts=5)
    for n in range(1, 5):  # client retry n is the AWS backoff's attempt n - 1
        assert retry.ceiling(n) == aws.bound(n - 1)
        assert retry.backoff(n, random.Random(n)) == aws.delay(n - 1, rng=random.Random(n))


def test_recovery_is_judged_by_the_scenarios_own_recovery_settings_not_a_copy() -> None:
    from harness.faults import recovery
    from harness.scenario import RecoverySettings

    assert recovery.Settings is RecoverySettings
    scenario = Scenario.from_dict({"name": "x", "target": {"base_url": "local"}, "endpoints": [{"name": "a", "path": "/a"}],
                                   "load": {"profile": "steady", "rate": 5, "duration": 10},
                                   "recovery": {"tolerance": "20%", "hold": "5s"}})  # fmt: skip
    settings = recovery.Settings.from_dict(scenario.echo()["recovery"])
    assert settings == scenario.recovery
    assert settings.as_numbers() == {"tolerance": 20.0, "error_tolerance": 1.0, "hold": 5.0, "baseline": 10.0, "min_requests": 5}


def test_each_feature_keeps_its_settings_in_its_own_folder_and_the_scenario_composes_them() -> None:
    from harness.fanout.config import FanoutSettings
    from harness.faults.config import FaultSpec, RecoverySettings
    from harness.load.retry import Retry as LoadRetry
    from harness.local_settings import LocalSettings
    from harness.profiles import Calls, Steady

    fields = Scenario.model_fields
    assert fields["fanout"].annotation is FanoutSettings and fields["local"].annotation is LocalSettings
    assert fields["recovery"].annotation is RecoverySettings and Retry is LoadRetry
    assert fields["faults"].annotation == list[FaultSpec]
    assert {Steady, Calls} <= set(fields["load_profile"].annotation.__args__)
