"""The code zip of the fan-out functions, for the Lambda Python runtime.

One zip serves the controller, the worker and the aggregator: the ``harness`` package's source
without what no function needs (``harness/report``: charts and HTML; ``harness/local``: the local
stack) and, with ``deps=True``, Linux wheels of the project's runtime dependencies for the
runtime's Python, installed by pip for that platform (not this machine's)::

    info = build_package(out=Path("build/fanout.zip"))
    info.size_unzipped            # bytes; Lambda takes at most 250 MB unzipped
    build_package(out=Path("build/src.zip"), deps=False)   # source only: what local deploys use

The dependencies are the project's own (``pyproject.toml``, else the installed metadata) minus
those only the report and the terminal need (pandas, matplotlib, jinja2, rich). Entries are
sorted and dated 1980-01-01, so the same sources give the same bytes and the same sha256: the
deploy's code key does not change, and the functions are not updated, unless the code did.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import harness
from harness.errors import HarnessError, UsageError

__all__ = ["LAMBDA_UNZIPPED_LIMIT", "PackageInfo", "build_package", "runtime_requirements"]

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes: Lambda's 250 MB for a function's code, unzipped
EXCLUDED_PACKAGES = ("report", "local")  # harness subpackages no function imports
EXCLUDED_REQUIREMENTS = ("pandas", "matplotlib", "jinja2", "rich")  # the report's and the terminal's
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class PackageInfo:
    """A built code zip: where it is, its sizes in bytes, how many files it holds, its sha256."""

    path: Path
    size_zipped: int
    size_unzipped: int
    files: int
    sha256: str


def build_package(
    *,
    out: Path,
    python_version: str = "3.12",
    platform: str = "manylinux2014_x86_64",
    deps: bool = True,
) -> PackageInfo:
    """Write the code zip to ``out`` (replacing it) and describe it.

    ``deps`` installs the runtime requirements with ``pip install --target`` for
    ``platform`` and CPython ``python_version``, wheels only. HarnessError if pip fails or the
    result is over Lambda's 250 MB unzipped.
    """
    source = Path(harness.__file__).resolve().parent
    with tempfile.TemporaryDirectory(prefix="harness-package-") as tmp:
        files = dict(_source_files(source))
        if deps:
            target = Path(tmp) / "deps"
            _pip_install(runtime_requirements(), target=target, python_version=python_version, platform=platform)
            for path in sorted(target.rglob("*")):
                relative = path.relative_to(target)
                if path.is_file() and _wanted(relative) and relative.parts[0] != "bin":
                    files.setdefault(relative.as_posix(), path)  # our own source wins over a wheel's
        size_unzipped = sum(path.stat().st_size for path in files.values())
        if size_unzipped > LAMBDA_UNZIPPED_LIMIT:
            raise HarnessError(
                f"the code zip would be {size_unzipped / 1e6:.0f} MB unzipped, over Lambda's 250 MB; "
                f"leave heavy packages out of the runtime dependencies ({', '.join(_largest(files))} are the largest)"
            )
        _write_zip(out, files)
    data = out.read_bytes()
    return PackageInfo(
        path=out,
        size_zipped=len(data),
        size_unzipped=size_unzipped,
        files=len(files),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def runtime_requirements() -> list[str]:
    """The project's runtime requirements (``name[extras]<specifiers>``) minus the excluded ones."""
    requirements = _pyproject_requirements() or _metadata_requirements()
    if not requirements:
        raise HarnessError("cannot find harness's dependencies: neither pyproject.toml nor installed metadata lists them")
    kept = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue  # an optional extra (local, test): not a runtime dependency
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if name and _canonical(name.group(1)) not in EXCLUDED_REQUIREMENTS:
            kept.append(requirement.strip())
    return kept


# --------------------------------------------------------------------------- internals


def _pyproject_requirements() -> list[str] | None:
    """``[project] dependencies`` of the checkout ``harness`` is imported from, if it is one."""
    pyproject = Path(harness.__file__).resolve().parent.parent / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, ValueError):
        return None
    if project.get("name") != "harness":
        return None
    return list(project.get("dependencies", []))


def _metadata_requirements() -> list[str] | None:
    try:
        return list(importlib.metadata.requires("harness") or [])
    except importlib.metadata.PackageNotFoundError:
        return None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _wanted(relative: Path) -> bool:
    return not (_SKIPPED_DIRS & set(relative.parts)) and not relative.name.endswith(_SKIPPED_SUFFIXES)


def _source_files(source: Path) -> list[tuple[str, Path]]:
    """(name in the zip, path) of the ``harness`` package, without the excluded subpackages."""
    out = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if not path.is_file() or not _wanted(relative):
            continue
        if relative.parts[0] in EXCLUDED_PACKAGES and len(relative.parts) > 1:
            continue
        out.append((f"harness/{relative.as_posix()}", path))
    return out


def _pip_install(requirements: list[str], *, target: Path, python_version: str, platform: str) -> None:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
        "--target", str(target), "--platform", platform, "--python-version", python_version,
        "--implementation", "cp", "--only-binary=:all:", "--no-compile", *requirements,
    ]  # fmt: skip
    env = {**os.environ, "PIP_NO_INPUT": "1"}
    env.pop("PIP_TARGET", None)
    env.pop("PIP_PREFIX", None)
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessError(f"pip could not install the Lambda dependencies: {exc}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-3:]
        raise HarnessError(
            f"pip could not install the Lambda dependencies for {platform}, CPython {python_version} "
            f"(wheels only): {' '.join(errors)[:400]}; check PyPI access and that every dependency has such a wheel"
        )


def _write_zip(out: Path, files: dict[str, Path]) -> None:
    """A reproducible zip: sorted names, fixed dates, permissions 644 (755 if executable)."""
    if out.exists() and out.is_dir():
        raise UsageError(f"{out} is a directory; give the zip's file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name in sorted(files):
            path = files[name]
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            mode = 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    partial.replace(out)


def _largest(files: dict[str, Path], count: int = 3) -> list[str]:
    """The top-level entries (packages) with the most bytes."""
    sizes: dict[str, int] = {}
    for name, path in files.items():
        top = name.split("/", 1)[0]
        sizes[top] = sizes.get(top, 0) + path.stat().st_size
    return [f"{top} ({size / 1e6:.0f} MB)" for top, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:count]]
