"""build_package: the code zip for the Lambda Python runtime.

The source-only zip is checked entry by entry and imported in a fresh interpreter with the
report's packages unavailable; one test installs the real dependencies from PyPI for
python3.12 on x86_64 Linux (pip, wheels only) and checks the wheels it got.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.fanout import package
from harness.fanout.package import CONSTRAINTS, LAMBDA_UNZIPPED_LIMIT, TEMPLATE, build_package, lambda_runtime, platform_tags, runtime_requirements

ROOT = Path(__file__).resolve().parents[2]


def test_the_source_zip_holds_harness_without_the_report_and_the_local_stack(tmp_path: Path) -> None:
    info = build_package(out=tmp_path / "src.zip", deps=False)

    with zipfile.ZipFile(info.path) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
        sizes = sum(item.file_size for item in zf.infolist())
        assert {item.date_time for item in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert {"harness/__init__.py", "harness/results.py", "harness/errors.py", "harness/fanout/handlers.py"} <= set(names)
    assert not [n for n in names if n.startswith(("harness/report/", "harness/local/", "harness/infra/"))]
    assert all(n.startswith("harness/") for n in names)
    assert names == sorted(names)
    assert (info.files, info.size_unzipped, info.size_zipped) == (len(names), sizes, info.path.stat().st_size)
    assert info.size_unzipped < 10_000_000


def test_the_same_sources_give_the_same_bytes(tmp_path: Path) -> None:
    first = build_package(out=tmp_path / "a.zip", deps=False)
    second = build_package(out=tmp_path / "b.zip", deps=False)
    assert first.sha256 == second.sha256
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_the_handlers_import_from_the_zip_without_the_report_packages(tmp_path: Path) -> None:
    info = build_package(out=tmp_path / "src.zip", deps=False)
    task = tmp_path / "task"
    with zipfile.ZipFile(info.path) as zf:
        zf.extractall(task)
    # What the handlers import lazily, in an interpreter where the zip comes first (as /var/task
    # does on Lambda) and the packages missing from the zip's dependencies cannot be imported
    # (jinja2 is left out of the list, but Flask, under Locust, brings it in anyway), nor the
    # subpackages of harness the zip leaves out (the checkout's editable install would find them).
    missing = sorted(set(package.EXCLUDED_REQUIREMENTS) - {"jinja2"})
    left_out = sorted(f"harness.{name}" for name in package.EXCLUDED_PACKAGES)
    code = f"""
import importlib.abc, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {missing!r} or ".".join(name.split(".")[:2]) in {left_out!r}:
            raise ImportError(f"{{name}} is not in the Lambda zip")
sys.meta_path.insert(0, Blocked())
import harness
assert harness.__file__.startswith({str(task)!r}), harness.__file__
import harness.fanout.handlers, harness.fanout.spec, harness.fanout.shards, harness.fanout.store
import harness.fanout.aggregate, harness.fanout.worker, harness.auth.users
import harness.load.inprocess  # what a worker runs: the engine of harness run, Locust in-process
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=task, env={"PYTHONPATH": str(task), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_requirements_are_the_projects_minus_the_reports() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    kept = runtime_requirements()
    assert kept == [d for d in declared if not d.startswith(("pandas", "matplotlib", "jinja2", "rich"))]
    assert any(r.startswith("locust") for r in kept) and any(r.startswith("boto3") for r in kept)


def test_a_zip_over_lambdas_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(package, "LAMBDA_UNZIPPED_LIMIT", 1_000)
    with pytest.raises(HarnessError, match="over Lambda's 250 MB"):
        build_package(out=tmp_path / "big.zip", deps=False)
    assert not (tmp_path / "big.zip").exists()


def _wheel_tags(zf: zipfile.ZipFile, project: str) -> list[str]:
    (wheel,) = [n for n in zf.namelist() if n.lower().startswith(f"{project}-") and n.endswith(".dist-info/WHEEL")]
    return [line.split(":", 1)[1].strip() for line in zf.read(wheel).decode().splitlines() if line.startswith("Tag:")]


@pytest.mark.integration  # installs the dependencies from PyPI
def test_with_dependencies_the_zip_has_linux_wheels_for_python_312(tmp_path: Path) -> None:
    info = build_package(out=tmp_path / "fanout.zip")  # pip, from PyPI

    print(f"\nfanout.zip: {info.files} files, {info.size_zipped / 1e6:.1f} MB zipped, {info.size_unzipped / 1e6:.1f} MB unzipped")
    assert info.size_unzipped < LAMBDA_UNZIPPED_LIMIT
    with zipfile.ZipFile(info.path) as zf:
        names = set(zf.namelist())
        for project in ("gevent", "greenlet", "pydantic_core"):
            tags = _wheel_tags(zf, project)
            assert any(t.startswith("cp312-cp312-manylinux") and t.endswith("_x86_64") for t in tags), (project, tags)
        assert _wheel_tags(zf, "locust") == ["py3-none-any"]
    assert {"locust/__init__.py", "boto3/__init__.py", "pycognito/__init__.py", "jwt/__init__.py", "pydantic/__init__.py"} <= names
    assert {"harness/__init__.py", "harness/fanout/handlers.py"} <= names
    extensions = [n for n in names if n.endswith(".so")]  # Python extension modules
    assert extensions and all(n.endswith((".cpython-312-x86_64-linux-gnu.so", ".abi3.so")) for n in extensions), extensions
    assert not [n for n in names if n.endswith((".pyd", ".dylib"))]
    assert not [n for n in names if n.split("/")[0] in ("pandas", "matplotlib", "rich", "bin")]
    if info.bytecode is not None:  # a python3.12 here (or HARNESS_LAMBDA_PYTHON) compiled it: every module has its .pyc
        assert info.bytecode == "3.12"
        assert "gevent/monkey/__pycache__/__init__.cpython-312.pyc" in names and "harness/__pycache__/results.cpython-312.pyc" in names
    # the releases the constraints pin (those the tests run), for Amazon Linux 2023's glibc
    pins = dict(line.split("==") for line in CONSTRAINTS.read_text().splitlines() if line and not line.startswith("#"))
    with zipfile.ZipFile(info.path) as zf:
        for project in ("gevent", "greenlet", "pyzmq"):
            (meta,) = [n for n in zf.namelist() if n.lower().startswith(f"{project}-") and n.endswith(".dist-info/METADATA")]
            assert meta.split("/")[0].removesuffix(".dist-info").split("-")[1] == pins[project], (meta, pins[project])


HERE = f"{sys.version_info.major}.{sys.version_info.minor}"


def test_the_pip_platforms_come_from_the_templates_runtime_and_architecture() -> None:
    assert lambda_runtime(TEMPLATE) == ("3.12", "x86_64")
    # python3.12+ runs on Amazon Linux 2023 (glibc 2.34); python3.11 on Amazon Linux 2 (glibc 2.26)
    assert platform_tags("3.12", "x86_64") == ["manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64"]
    assert platform_tags("3.13", "arm64") == ["manylinux_2_34_aarch64", "manylinux_2_28_aarch64", "manylinux2014_aarch64"]
    assert platform_tags("3.11", "x86_64") == ["manylinux2014_x86_64"]


def test_the_zip_holds_bytecode_compiled_by_the_runtimes_python_that_imports_without_compiling(tmp_path: Path) -> None:
    info = build_package(out=tmp_path / "src.zip", deps=False, python_version=HERE)
    assert info.bytecode == HERE
    tag = sys.implementation.cache_tag
    with zipfile.ZipFile(info.path) as zf:
        names = set(zf.namelist())
        sources = [n for n in names if n.endswith(".py")]
        for source in sources:  # every module, next to it in __pycache__, for this Python
            folder, _, file = source.rpartition("/")
            compiled = f"{folder}/__pycache__/{file[:-3]}.{tag}.pyc"
            assert compiled in names, compiled
        header = zf.read(f"harness/__pycache__/results.{tag}.pyc")[:8]
        zf.extractall(tmp_path / "task")
    assert header[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, unchecked: valid whatever the zip's dates
    task = tmp_path / "task"
    for path in task.rglob("*"):  # /var/task is read-only: Python cannot write a cache there
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    done = subprocess.run([sys.executable, "-v", "-c", "import harness.results"], cwd=task,
                          env={"PYTHONPATH": str(task), "PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"code object from '/var/task/harness/__pycache__/results.{tag}.pyc'" in done.stderr or \
        f"matches {task}/harness/results.py" in done.stderr, done.stderr[-3000:]  # fmt: skip
    assert "code object from" in done.stderr and f"harness/__pycache__/results.{tag}.pyc" in done.stderr


def test_without_an_interpreter_of_the_runtimes_version_the_zip_says_it_holds_source_only(tmp_path: Path) -> None:
    info = build_package(out=tmp_path / "src.zip", deps=False, python_version="3.99")
    assert info.bytecode is None
    with zipfile.ZipFile(info.path) as zf:
        assert not [n for n in zf.namelist() if "__pycache__" in n or n.endswith(".pyc")]


def test_the_constraints_pin_every_runtime_requirement() -> None:
    pins = dict(line.split("==") for line in CONSTRAINTS.read_text().splitlines() if line and not line.startswith("#"))
    for requirement in runtime_requirements():
        name = requirement.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
        assert name in pins, name
    assert {"gevent", "greenlet", "pyzmq"} <= set(pins)
