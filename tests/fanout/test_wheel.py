"""An installed harness deploys its own stack: a wheel built from the checkout, installed into a
fresh venv outside the source tree, runs the reference input on the local stack from any folder.

The wheel is built by pip (setuptools from PyPI, as the build isolation wants); the venv (made
without pip of its own) gets the wheel from this interpreter's pip with ``--no-deps`` and, instead of a second download of every dependency, a ``.pth``
line to the dependencies of the interpreter running the tests (the same versions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from harness.results import ResultSet

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _run(command: list[str], *, cwd: Path, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    assert done.returncode == 0, f"{' '.join(command)} -> {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def test_a_wheel_installed_outside_the_checkout_runs_the_reference_input_on_the_local_stack(tmp_path: Path) -> None:
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "dist"), str(ROOT)], cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("harness-*.whl")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "AWS_", "HARNESS_", "PIP_"))}
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)  # ensurepip: 4 s of CPU
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index", str(wheel)], cwd=tmp_path, env=env)
    # then the dependencies (after the install: pip must not see another harness there)
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path, env=env).stdout.strip()
    (Path(site) / "zz-harness-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    found = _run([str(python), "-c", "import harness; print(harness.__file__)"], cwd=elsewhere, env=env).stdout.strip()
    assert found.startswith(str(venv)), found  # the wheel's harness, not the checkout's

    reference = json.dumps({"users": {"NumberOfUsers": "4", "NumberOfCallsPerUser": "5"}})
    _run([str(venv / "bin" / "harness"), "fanout", "--input", reference, "--local", "--yes", "--results-dir", "run"],
         cwd=elsewhere, env=env, timeout=300)  # fmt: skip
    results = ResultSet.load(elsewhere / "run" / "results.json")
    assert results.meta["status"] == "completed" and results.total == 20
