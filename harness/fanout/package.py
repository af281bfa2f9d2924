"""The code zip of the fan-out functions, for the Lambda Python runtime.

One zip serves the controller, the worker and the aggregator: the ``harness`` package's source
without what no function needs (``harness/report``: charts and HTML; ``harness/local``: the local
stack; ``harness/infra``: the template) and, with ``deps=True``, Linux wheels of the project's
runtime dependencies for the runtime's Python, installed by pip for that platform (not this
machine's)::

    info = build_package(out=Path("build/fanout.zip"))
    info.size_unzipped            # bytes; Lambda takes at most 250 MB unzipped
    build_package(out=Path("build/src.zip"), deps=False)   # source only: what local deploys use

The runtime and architecture are the template's (``Runtime: python3.12``, ``Architectures:
[x86_64]``): python3.12 and later run on Amazon Linux 2023 (glibc 2.34), which loads
``manylinux_2_34``, ``manylinux_2_28`` and ``manylinux2014`` wheels, so pip is given all three
``--platform`` tags (python3.11 and older run on Amazon Linux 2, glibc 2.26: ``manylinux2014``
only); ``arm64`` functions get the ``aarch64`` wheels. ``harness/infra/lambda-constraints.txt``
pins every package the zip holds, so the same checkout gives the same zip.

The zip holds bytecode compiled by the runtime's own Python (``python3.12``, or
``HARNESS_LAMBDA_PYTHON``) as unchecked-hash ``.pyc`` files: Lambda's ``/var/task`` is read-only,
so without them every cold start compiles every module again, and timestamp-based ones would
not match the zip's fixed dates. When no such interpreter is found here the zip holds source
only and ``PackageInfo.bytecode`` is None (cold starts then compile; the CLI says so).

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

__all__ = [
    "LAMBDA_UNZIPPED_LIMIT", "CONSTRAINTS", "INFRA", "PackageInfo", "build_package", "lambda_runtime", "platform_tags",
    "runtime_requirements", "write_constraints",
]  # fmt: skip

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes: Lambda's 250 MB for a function's code, unzipped
EXCLUDED_PACKAGES = ("report", "local", "infra")  # harness subpackages (and data) no function imports
INFRA = Path(__file__).resolve().parents[1] / "infra"
"""The fan-out stack's template and state machines, shipped inside the package (``infra/`` in the
checkout points here)."""
TEMPLATE = INFRA / "fanout.yaml"
CONSTRAINTS = INFRA / "lambda-constraints.txt"
EXCLUDED_REQUIREMENTS = ("pandas", "matplotlib", "jinja2", "rich")  # the report's and the terminal's
_SKIPPED_DIRS = {"__pycache__"}  # in the sources: this machine's bytecode, not the runtime's
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class PackageInfo:
    """A built code zip: where it is, its sizes in bytes, how many files it holds, its sha256,
    and the Python version its bytecode is for (None: source only)."""

    path: Path
    size_zipped: int
    size_unzipped: int
    files: int
    sha256: str
    bytecode: str | None = None


def lambda_runtime(template: Path = TEMPLATE) -> tuple[str, str]:
    """(Python version, architecture) of the template's functions: ``("3.12", "x86_64")``.
    UsageError if the functions disagree or are not a Python runtime."""
    text = template.read_text(encoding="utf-8")
    runtimes = set(re.findall(r"^\s*Runtime:\s*python(3\.\d+)\s*$", text, re.M))
    architectures = set(re.findall(r"^\s*Architectures:\s*\[\s*(x86_64|arm64)\s*\]\s*$", text, re.M)) or {"x86_64"}
    if len(runtimes) != 1 or len(architectures) != 1:
        raise UsageError(
            f"{template}: the functions must share one Python runtime and one architecture (found runtimes "
            f"{sorted(runtimes) or 'none'}, architectures {sorted(architectures)}); give them the same Runtime and Architectures"
        )
    return runtimes.pop(), architectures.pop()


def platform_tags(python_version: str, architecture: str) -> list[str]:
    """pip ``--platform`` tags for a Lambda Python runtime: python3.12 and later run on Amazon
    Linux 2023 (glibc 2.34: manylinux_2_34, 2_28 and 2014 wheels), older ones on Amazon Linux 2
    (glibc 2.26: manylinux2014). Lambda's ``arm64`` is ``aarch64`` in wheel tags."""
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}.get(architecture)
    if machine is None:
        raise UsageError(f"architecture {architecture!r}: Lambda has x86_64 and arm64")
    major, minor = (int(part) for part in python_version.split(".")[:2])
    if (major, minor) >= (3, 12):
        return [f"manylinux_2_34_{machine}", f"manylinux_2_28_{machine}", f"manylinux2014_{machine}"]
    return [f"manylinux2014_{machine}"]


def build_package(
    *,
    out: Path,
    python_version: str | None = None,
    architecture: str | None = None,
    deps: bool = True,
    constraints: Path | None = CONSTRAINTS,
    interpreter: str | None = None,
) -> PackageInfo:
    """Write the code zip to ``out`` (replacing it) and describe it.

    ``python_version`` and ``architecture`` default to the template's functions'. ``deps``
    installs the runtime requirements with ``pip install --target`` for that platform, wheels
    only, pinned by ``constraints`` (if the file exists). ``interpreter`` compiles the bytecode
    (argument > ``HARNESS_LAMBDA_PYTHON`` > ``python<version>`` on the PATH > this one, if its
    version matches). HarnessError if pip fails or the result is over Lambda's 250 MB unzipped.
    """
    template_python, template_arch = lambda_runtime()
    python_version = python_version or template_python
    architecture = architecture or template_arch
    source = Path(harness.__file__).resolve().parent
    with tempfile.TemporaryDirectory(prefix="harness-package-") as tmp:
        stage = Path(tmp) / "stage"
        for name, path in _source_files(source):
            _copy(path, stage / name)
        if deps:
            target = Path(tmp) / "deps"
            _pip_install(runtime_requirements(), target=target, python_version=python_version,
                         platforms=platform_tags(python_version, architecture), constraints=constraints)  # fmt: skip
            for path in sorted(target.rglob("*")):
                relative = path.relative_to(target)
                if path.is_file() and _wanted(relative) and relative.parts[0] != "bin" and not (stage / relative).exists():
                    _copy(path, stage / relative)  # our own source wins over a wheel's
        bytecode = _compile(stage, python_version, interpreter)
        files = {path.relative_to(stage).as_posix(): path for path in sorted(stage.rglob("*")) if path.is_file()}
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
        bytecode=bytecode,
    )


def write_constraints(out: Path = CONSTRAINTS, *, python_version: str | None = None, architecture: str | None = None) -> list[str]:
    """Resolve the runtime requirements for the Lambda platform (no constraints) and write
    ``name==version`` for every package pip installed to ``out``; the lines written."""
    template_python, template_arch = lambda_runtime()
    python_version = python_version or template_python
    with tempfile.TemporaryDirectory(prefix="harness-constraints-") as tmp:
        target = Path(tmp) / "deps"
        _pip_install(runtime_requirements(), target=target, python_version=python_version,
                     platforms=platform_tags(python_version, architecture or template_arch), constraints=None)  # fmt: skip
        pins = sorted({f"{_canonical(d.metadata['Name'])}=={d.version}" for d in importlib.metadata.distributions(path=[str(target)])})
    out.write_text(
        f"# pins for the Lambda code zip (python{python_version}); regenerate with `harness package --write-constraints`\n" + "\n".join(pins) + "\n",
        encoding="utf-8",
    )
    return pins


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


def _copy(path: Path, to: Path) -> None:
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, to)


def _compile(stage: Path, python_version: str, interpreter: str | None) -> str | None:
    """Compile every ``.py`` under ``stage`` with the runtime's Python, as unchecked-hash
    ``.pyc`` files (used as they are: the zip's dates are fixed); the version, or None when
    no interpreter of that version is found here."""
    python = _interpreter(python_version, interpreter)
    if python is None:
        return None
    command = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", "-s", str(stage), "-p", "/var/task", str(stage)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, env={**os.environ, "PYTHONHASHSEED": "0"})
    if done.returncode != 0:  # a module that does not compile for the runtime's Python fails there too
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        raise HarnessError(f"Python {python_version} cannot compile the code zip ({python}): {' '.join(lines[-3:])[:400]}")
    return python_version


def _interpreter(python_version: str, explicit: str | None) -> str | None:
    """A Python of ``python_version`` here (see ``build_package``), or None."""
    candidates = [explicit or os.environ.get("HARNESS_LAMBDA_PYTHON") or ""]
    if not candidates[0]:
        candidates = [shutil.which(f"python{python_version}") or "", sys.executable]
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == python_version:
            return candidate
    return None


def _pip_install(requirements: list[str], *, target: Path, python_version: str, platforms: list[str], constraints: Path | None) -> None:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
        "--target", str(target), *(f"--platform={tag}" for tag in platforms), "--python-version", python_version,
        "--implementation", "cp", "--only-binary=:all:", "--no-compile", *requirements,
    ]  # fmt: skip
    if constraints is not None and constraints.is_file():
        command += ["--constraint", str(constraints)]
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
            f"pip could not install the Lambda dependencies for {', '.join(platforms)}, CPython {python_version} "
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
