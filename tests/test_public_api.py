"""The public API is small, listed in ``harness.__all__``, and every name resolves."""

import subprocess
import sys

import harness


def test_every_public_name_resolves() -> None:
    # in a fresh interpreter: run_shard imports Locust, which patches the process with gevent
    code = "import harness; print([n for n in harness.__all__ if getattr(harness, n) is None])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_unknown_names_raise_attribute_error() -> None:
    try:
        harness.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_importing_harness_loads_neither_locust_nor_matplotlib() -> None:
    code = "import sys, harness; harness.Scenario; harness.ResultSet; print(sorted(m for m in ('locust', 'gevent.monkey', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_the_version_is_the_package_version() -> None:
    from importlib.metadata import version

    assert harness.__version__ == version("harness")


def test_a_fanout_run_with_faults_is_one_public_function_returning_the_run_outcome() -> None:
    import inspect

    from harness.load.runner import RunOutcome

    assert {"run_fanout", "FanoutStack", "stack_outputs", "ensure_test_users"} <= set(harness.__all__)
    assert inspect.signature(harness.run_fanout).return_annotation in ("RunOutcome", RunOutcome)
    assert inspect.signature(harness.run_headless).return_annotation in ("RunOutcome", RunOutcome)
    assert "faults" in inspect.signature(harness.run_fanout).parameters
